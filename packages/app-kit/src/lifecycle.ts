import { ConfigError } from './config-error';

/** What the lifecycle logs through: pino's and Fastify's loggers fit. */
export interface LifecycleLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** A started process, as its `main.ts` describes it: how it stops, and what it logs meanwhile. */
export interface Service {
  log: LifecycleLogger;
  /** Logged at info, with the signal, when the stop begins. */
  stopping: string;
  /**
   * The graceful stop (drain, close, release). Resolves with the exit code: 0, or 1 when something
   * was left undone; a rejection is logged with {@link Service.stopFailed} and exits 1.
   */
  stop(): Promise<0 | 1>;
  /** Logged at info when the stop ended with 0. */
  stopped?: string;
  /** Logged at error, with the error, when the stop failed. */
  stopFailed: string;
  /** How an error is logged (its `err` field). @defaultValue the error itself */
  errorFields?: (error: unknown) => unknown;
  /** Exit 1 when the stop still runs this long after the first signal. @defaultValue none: PM2's kill_timeout ends it */
  graceMs?: number;
  /** A signal while stopping: logged at warn, `run`, then exit 1. @defaultValue none: further signals are ignored */
  abort?: { message: string; run(): Promise<unknown> };
  /** Once the signals are handled: start taking work (listen, connect, tell PM2). Throwing fails the start. */
  serve?(): Promise<void>;
}

export interface Lifecycle {
  /** The process's name in the line a failed start prints: `<name> failed to start: <message>`. */
  name: string;
  /** The line of a `ConfigError` thrown by {@link Lifecycle.start} instead (a settings mistake). */
  configErrorLine?: (message: string) => string;
  /** Reads the settings and builds the process, not yet taking work. Throwing fails the start (exit 1). */
  start(): Promise<Service> | Service;
}

/** The part of `process` the lifecycle uses; tests pass their own. */
export interface LifecycleProcess {
  on(event: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
  exit(code: number): void;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * The one lifecycle of the apps' `main.ts`: start (a failure prints one line and exits 1), handle
 * SIGINT and SIGTERM, then serve. The first signal runs the graceful stop and exits with its code
 * (1 when it fails or outlasts `graceMs`); a later one aborts (exit 1) or is ignored. Each app
 * says only what differs: its messages, its grace, whether a second signal aborts.
 */
export async function runService(lifecycle: Lifecycle, proc: LifecycleProcess = process): Promise<void> {
  let service: Service;
  try {
    service = await lifecycle.start();
  } catch (error) {
    const line =
      error instanceof ConfigError && lifecycle.configErrorLine
        ? lifecycle.configErrorLine(error.message)
        : `${lifecycle.name} failed to start: ${message(error)}`;
    console.error(line);
    proc.exit(1);
    return;
  }
  const { log } = service;
  const err = (error: unknown) => ({ err: service.errorFields ? service.errorFields(error) : error });
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      if (!service.abort) return;
      log.warn({ signal }, service.abort.message);
      void service.abort.run().finally(() => proc.exit(1));
      return;
    }
    stopping = true;
    log.info({ signal }, service.stopping);
    if (service.graceMs !== undefined) {
      setTimeout(() => {
        log.error({}, 'shutdown took too long; exiting');
        proc.exit(1);
      }, service.graceMs).unref();
    }
    service.stop().then(
      (code) => {
        if (code === 0 && service.stopped) log.info({}, service.stopped);
        proc.exit(code);
      },
      (error: unknown) => {
        log.error(err(error), service.stopFailed);
        proc.exit(1);
      },
    );
  };
  proc.on('SIGINT', onSignal);
  proc.on('SIGTERM', onSignal);
  try {
    await service.serve?.();
  } catch (error) {
    // A ConfigError's message starts with the variable's name; no stack trace for a settings mistake.
    console.error(`${lifecycle.name} failed to start: ${message(error)}`);
    proc.exit(1);
  }
}
