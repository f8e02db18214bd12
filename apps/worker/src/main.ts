import { assertRedisDatabase, ConfigError, logSentinelWatch } from '@ceres/queues';
import { createWorkerApp } from './app';
import { loadWorkerConfig, type WorkerConfig } from './config';
import { createLogger } from './deps/logger';
import { errorSummary } from './redact';

let config: WorkerConfig;
try {
  config = loadWorkerConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`ceres-worker: invalid configuration: ${error.message}`);
  process.exit(1);
}

// A REDIS_URL database the server lacks would have the Workers run database 0's jobs: stop first.
await assertRedisDatabase(config.queues).catch((error: unknown) => {
  console.error(`ceres-worker: invalid configuration: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

const logger = createLogger(config.logLevel);
// A sentinel whose failover announcements do not reach the worker is logged (once per outage).
logSentinelWatch(logger);
// A worker that stays stalled after a rebuild exits non-zero: PM2 restarts it (and counts it).
const app = createWorkerApp({ config, logger, onStall: () => process.exit(1) });

// First signal: stop taking jobs and let the active ones finish (PM2's kill_timeout must be longer
// than the longest job timeout, see docs/worker.md). A second signal aborts them and exits.
let stopping = false;
const onSignal = (signal: NodeJS.Signals) => {
  if (stopping) {
    logger.warn({ signal }, 'second signal: aborting active jobs');
    // The process exits whatever the abort gives.
    void app.stop(true).finally(() => process.exit(1));
    return;
  }
  stopping = true;
  logger.info({ signal }, 'stopping: waiting for active jobs to finish');
  app
    .stop()
    .then(({ left }) => {
      // Jobs given up during a Redis outage (logged by stop): non-zero, so it shows in PM2.
      if (left.length > 0) process.exit(1);
      logger.info('stopped');
      process.exit(0);
    })
    .catch((error: unknown) => {
      logger.error({ err: errorSummary(error) }, 'error while stopping');
      process.exit(1);
    });
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('unhandledRejection', (reason) => {
  logger.error({ err: errorSummary(reason) }, 'unhandled rejection');
});
