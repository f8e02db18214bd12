/** A wait this long or longer must be a wait on a condition, not a sleep. */
export const MAX_FIXED_WAIT_MS = 500;

/** A number literal as written in TypeScript (`2_000`, `1500`, `3e3`), or NaN. */
const valueOf = (literal: string) => Number(literal.replace(/_/g, ''));

/**
 * The fixed waits of `source`: `setTimeout(resolve, N)` (a callback that only resolves a promise),
 * `setTimeout(N)` (timers/promises), `sleep(N)`, `delay(N)` and `page.waitForTimeout(N)` with a literal of at least
 * {@link MAX_FIXED_WAIT_MS}, or a computed duration that starts from one (`Math.max(0, 20_000 - …)`).
 * A `setTimeout` whose callback does something else (a deadline that rejects, a kill) is no wait.
 */
export function findFixedWaits(source: string): Array<{ line: number; text: string }> {
  const number = String.raw`\d[\d_]*(?:\.\d+)?(?:e\d+)?`;
  const patterns = [
    // setTimeout(resolve, N) / setTimeout(r, …N…) inside a Promise
    new RegExp(String.raw`setTimeout\(\s*(?:resolve|res|r|done|next)\s*,\s*([^;\n]*)`, 'g'),
    // setTimeout(N) from node:timers/promises, sleep(N), delay(N), wait(N), page.waitForTimeout(N)
    new RegExp(String.raw`\b(?:setTimeout|sleep|delay|wait|setTimeoutPromise|waitForTimeout)\(\s*(${number}[^;\n]*)`, 'g'),
  ];
  const found: Array<{ line: number; text: string }> = [];
  source.split('\n').forEach((text, index) => {
    for (const pattern of patterns) {
      for (const match of text.matchAll(pattern)) {
        const literals = [...(match[1] ?? '').matchAll(new RegExp(number, 'g'))].map(([literal]) => valueOf(literal));
        if (literals.some((value) => value >= MAX_FIXED_WAIT_MS)) {
          found.push({ line: index + 1, text: text.trim() });
          return;
        }
      }
    }
  });
  return found;
}
