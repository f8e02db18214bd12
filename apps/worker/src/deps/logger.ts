import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';

/** Personal-data fields, at the top level of a log call. */
export const TOP_LEVEL_REDACT_PATHS = ['email', 'token', 'payload'];
/** The same fields one level down too: the process logger's net for objects logged whole. */
const REDACT_PATHS = [...TOP_LEVEL_REDACT_PATHS, ...TOP_LEVEL_REDACT_PATHS.map((path) => `*.${path}`)];

/**
 * The process logger: pino JSON on stdout (PM2 writes it to var/log/). Payload fields that are
 * personal data are redacted should they ever reach a log call.
 */
export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'ceres-worker', pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}
