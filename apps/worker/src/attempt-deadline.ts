/** How long a processor may take to settle after its attempt's signal aborted, at most (the runner: at most the timeout itself). */
export const ABORT_GRACE_MS = 2_000;

/**
 * The processor's result, or the rejection of `aborted` (the attempt's deadline or a forced stop)
 * when that comes first, even if the processor ignores its signal. After an abort it first gives
 * the processor up to `graceMs` to settle: one that stops at the signal records what it did (a mail
 * of unknown outcome marked sent) before the attempt fails and BullMQ can schedule the retry.
 */
export async function untilDeadline<T>(work: Promise<T>, aborted: Promise<never>, graceMs = ABORT_GRACE_MS): Promise<T> {
  let abortedFirst = false;
  const abort = aborted.catch((reason: unknown) => {
    abortedFirst = true;
    throw reason;
  });
  try {
    return await Promise.race([work, abort]);
  } catch (error) {
    if (abortedFirst) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([work.then(noop, noop), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    throw error;
  }
}

const noop = () => {};
