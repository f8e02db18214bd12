import { runService, startTracing, stopTracing } from '@ceres/app-kit';
import { assertRedisDatabase, logReplicaTargets, logSentinelWatch } from '@ceres/queues';
import { createWorkerApp } from './app';
import { loadWorkerConfig } from './config';
import { createLogger } from './deps/logger';
import { errorSummary } from './redact';

await runService({
  name: 'ceres-worker',
  configErrorLine: (message) => `ceres-worker: invalid configuration: ${message}`,
  async start() {
    const config = loadWorkerConfig();
    // A REDIS_URL database the server lacks would have the Workers run database 0's jobs: stop first.
    await assertRedisDatabase(config.queues);
    const logger = createLogger(config.logLevel);
    // Before the app: its runner wraps jobs in spans only when tracing is on when it is built.
    const tracing = await startTracing('ceres-worker');
    if (tracing) logger.info({ service: tracing.serviceName, url: tracing.url }, 'tracing on: spans exported over OTLP/HTTP');
    // A sentinel whose failover announcements do not reach the worker is logged (once per outage).
    logSentinelWatch(logger);
    // REDIS_WAIT_REPLICAS=all: how many replicas the worker's own enqueues (alerts, crons) wait for.
    logReplicaTargets(logger);
    // A worker that stays stalled after a rebuild exits non-zero: PM2 restarts it (and counts it).
    const app = createWorkerApp({ config, logger, onStall: () => process.exit(1) });
    process.on('unhandledRejection', (reason) => {
      logger.error({ err: errorSummary(reason) }, 'unhandled rejection');
    });
    return {
      log: logger,
      errorFields: errorSummary,
      // First signal: stop taking jobs and let the active ones finish (PM2's kill_timeout must be
      // longer than the longest job timeout, see docs/worker.md). A second signal aborts them.
      stopping: 'stopping: waiting for active jobs to finish',
      async stop() {
        const { left } = await app.stop();
        await stopTracing().catch((error: unknown) => logger.warn({ err: errorSummary(error) }, 'could not export the last spans'));
        // Jobs given up during a Redis outage (logged by stop): non-zero, so it shows in PM2.
        return left.length > 0 ? 1 : 0;
      },
      stopped: 'stopped',
      stopFailed: 'error while stopping',
      abort: { message: 'second signal: aborting active jobs', run: () => app.stop(true) },
    };
  },
});
