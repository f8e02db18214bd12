import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';

/**
 * The process logger: pino JSON on stdout (PM2 writes it to var/log/). Payload fields that are
 * personal data are redacted should they ever reach a log call.
 */
export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'ceres-worker', pid: process.pid },
      redact: { paths: ['email', 'token', '*.email', '*.token', 'payload', '*.payload'], censor: '[redacted]' },
    },
    destination,
  );
}
