import { runService, startTracing, stopTracing } from '@ceres/app-kit';
import { createDb } from '@ceres/db';
import { ConfigError, QueueClient } from '@ceres/queues';
import { buildApp } from './app';
import { loadApiConfig } from './config';

await runService({
  name: 'ceres-api',
  async start() {
    const config = loadApiConfig();
    // Before the app: it traces requests only when tracing is on when it is built.
    const tracing = await startTracing('ceres-api');
    const queues = new QueueClient({
      config: config.queues,
      connectionName: 'ceres-api',
      onWarning: (message) => app.log.warn(message),
    });
    // Connects lazily: an unreachable PostgreSQL makes the campaign routes answer 503, nothing else.
    const db = createDb(config.databaseUrl, { applicationName: 'ceres-api' });
    const app = buildApp({ config, queues, db });
    if (tracing) app.log.info({ service: tracing.serviceName, url: tracing.url }, 'tracing on: spans exported over OTLP/HTTP');
    return {
      log: app.log,
      stopping: 'shutting down: finishing in-flight requests',
      // Drain first (see plugins/drain.ts); app.close() then stops accepting connections and
      // resolves once in-flight requests are answered. No grace of its own: PM2's kill_timeout.
      async stop() {
        // A signal during startup: the plugins (drain's among them) load first.
        await app.ready();
        await app.drain(config.shutdownDrainMs);
        await app.close();
        await Promise.allSettled([queues.close(), db.close(), stopTracing()]);
        return 0;
      },
      stopped: 'shut down cleanly',
      stopFailed: 'error during shutdown',
      async serve() {
        // Connect before declaring readiness, so a fresh instance does not answer its first requests
        // with 503; an unreachable Redis does not stop startup (those requests answer 503 until it is back),
        // a REDIS_URL database the server lacks does.
        await queues.ready().catch((error: unknown) => {
          if (error instanceof ConfigError) throw error;
          app.log.warn('redis is not reachable at startup; enqueue requests answer 503 until it is');
        });
        await app.listen({ host: config.host, port: config.port });
        // PM2 `wait_ready`: a reload replaces this instance only once the new one listens.
        process.send?.('ready');
      },
    };
  },
});
