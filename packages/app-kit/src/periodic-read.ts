/** A read that takes longer counts as failed (the last value stays), so a hung query does not stop the refreshes. */
const READ_TIMEOUT_MS = 4_000;

export interface PeriodicReadOptions<T> {
  /** Reads the current value (a PostgreSQL query, typically). */
  read: () => Promise<T>;
  /** Takes a value just read; it replaces the last one. */
  apply: (value: T) => void;
  refreshMs: number;
  /** What is read, for the log lines, e.g. `the API tokens`. */
  what: string;
  /** What holds while reads fail: before any read succeeded, and after one did. */
  whileFailing: { beforeFirst: string; afterFirst: string };
  log: { warn(message: string): void; info(message: string): void };
}

/**
 * A value held in memory and read again every `refreshMs`, so no request waits on its source: one
 * read at a time, each bounded (4 s); a failed read keeps the last value and warns once per outage
 * (naming the error's code, nothing it read), and says when reads work again.
 */
export class PeriodicRead<T> {
  /** Whether a read has succeeded yet. */
  loaded = false;
  private failing = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private inFlight: Promise<boolean> | undefined;

  constructor(private readonly options: PeriodicReadOptions<T>) {}

  /** Reads once (true: read), then again every `refreshMs` until {@link stop}. */
  async start(): Promise<boolean> {
    const ok = await this.refresh();
    this.schedule();
    return ok;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Reads now; false (the last value kept) when the source did not answer. */
  refresh(): Promise<boolean> {
    // One read at a time: a slow source does not pile reads up.
    this.inFlight ??= this.read().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.refresh().then(() => this.schedule());
    }, this.options.refreshMs);
    this.timer.unref();
  }

  private async read(): Promise<boolean> {
    const { what, log, whileFailing } = this.options;
    let value: T;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'timeout' })), READ_TIMEOUT_MS);
      });
      value = await Promise.race([this.options.read(), timeout]);
    } catch (error) {
      if (!this.failing) {
        const code = (error as { code?: unknown }).code;
        log.warn(
          `cannot read ${what} from PostgreSQL${typeof code === 'string' ? ` (${code})` : ''}; ` +
            (this.loaded ? whileFailing.afterFirst : whileFailing.beforeFirst),
        );
      }
      this.failing = true;
      return false;
    } finally {
      clearTimeout(timer);
    }
    this.options.apply(value);
    if (this.failing && this.loaded) log.info(`${what} are read from PostgreSQL again`);
    this.failing = false;
    this.loaded = true;
    return true;
  }
}
