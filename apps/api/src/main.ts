import { createDb } from '@ceres/db';
import { ConfigError, QueueClient } from '@ceres/queues';
import { buildApp } from './app';
import { loadApiConfig } from './config';

async function main(): Promise<void> {
  const config = loadApiConfig();
  const queues = new QueueClient({
    config: config.queues,
    connectionName: 'ceres-api',
    onWarning: (message) => app.log.warn(message),
  });
  // Connects lazily: an unreachable PostgreSQL makes the campaign routes answer 503, nothing else.
  const db = createDb(config.databaseUrl, { applicationName: 'ceres-api' });
  const app = buildApp({ config, queues, db });

  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    // Drain first (see plugins/drain.ts); app.close() then stops accepting connections and
    // resolves once in-flight requests are answered.
    app
      .drain(config.shutdownDrainMs)
      .then(() => app.close())
      .then(() => Promise.allSettled([queues.close(), db.close()]))
      .then(
        () => {
          app.log.info('shut down cleanly');
          process.exit(0);
        },
        (error: unknown) => {
          app.log.error({ err: error }, 'error during shutdown');
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);

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
}

main().catch((error: unknown) => {
  // A ConfigError's message starts with the variable's name.
  console.error(`ceres-api failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
