import { tenantOfData } from '@ceres/queues';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { TOP_LEVEL_REDACT_PATHS } from '../deps/logger';
import type { AttemptContext } from '../processors';
import type { LeftJob } from '../stop';

/** The context of one attempt, with what the runner needs to end it. */
export interface Attempt extends AttemptContext {
  readonly job: Job;
  /** Settles (rejects) only when the attempt is aborted. */
  readonly aborted: Promise<never>;
  abort(reason: Error): void;
  /** The job's queue and id, for the line of a stop that leaves it to the stalled-job check. */
  readonly left: LeftJob;
  /** Logs one line with the job's fields (queue, job, jobId, attempt) without making a child logger. */
  log(level: 'debug' | 'info' | 'warn', fields: Record<string, unknown>, message: string): void;
}

/**
 * The class of a runner's attempt contexts. Most processors read neither `logger` nor `signal`,
 * and a child logger or an AbortController costs about as much as a no-op job (bench pair 3), so
 * each is made when first read; a timeout or a forced stop rejects `aborted` either way.
 */
export function attemptClass(logger: Logger): new (job: Job) => Attempt {
  // The lines logged here have a fixed shape (the job's fields, a duration, an error summary), so
  // the deep redaction the process logger applies to anything else is not needed on them.
  const lineLogger = logger.child({}, { redact: { paths: TOP_LEVEL_REDACT_PATHS, censor: '[redacted]' } });
  return class AttemptContextOfJob implements Attempt {
    readonly aborted: Promise<never>;
    private controller: AbortController | undefined;
    private reason: Error | undefined;
    private childLogger: Logger | undefined;
    private rejectAborted!: (error: Error) => void;

    constructor(readonly job: Job) {
      this.aborted = new Promise<never>((_, reject) => (this.rejectAborted = reject));
      this.aborted.catch(() => {});
    }

    private get fields() {
      const job = this.job;
      return { queue: job.queueName, job: job.name, jobId: job.id, attempt: job.attemptsMade + 1 };
    }

    get left(): LeftJob {
      return { queue: this.job.queueName, jobId: String(this.job.id) };
    }

    get tenant(): string {
      return tenantOfData(this.job.data);
    }

    get logger(): Logger {
      return (this.childLogger ??= logger.child(this.fields));
    }

    get signal(): AbortSignal {
      if (!this.controller) {
        this.controller = new AbortController();
        if (this.reason) this.controller.abort(this.reason);
      }
      return this.controller.signal;
    }

    abort(error: Error): void {
      if (this.reason) return;
      this.reason = error;
      this.controller?.abort(error);
      this.rejectAborted(error);
    }

    log(level: 'debug' | 'info' | 'warn', fields: Record<string, unknown>, message: string): void {
      if (this.childLogger) this.childLogger[level](fields, message);
      else if (lineLogger.isLevelEnabled(level)) lineLogger[level]({ ...this.fields, ...fields }, message);
    }
  };
}
