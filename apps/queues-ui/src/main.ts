import { createDb } from '@ceres/db';
import { ConfigError, QueueClient } from '@ceres/queues';
import { buildApp } from './app';
import { BOARD_PREFIX } from './board';
import { loadConfig } from './config';

/** How long shutdown may take before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`queues-ui cannot start: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }

  const client = new QueueClient({ config: config.queues, connectionName: 'ceres-queues-ui' });
  const db = config.databaseUrl ? createDb(config.databaseUrl, { maxConnections: 2, applicationName: 'ceres-queues-ui' }) : undefined;
  const app = buildApp({
    client,
    auth: { user: config.user, pass: config.pass },
    authFailures: config.authFailures,
    publicBasePath: config.publicBasePath,
    logger: { level: config.logLevel, name: 'ceres-queues-ui' },
    erasureDb: db,
  });
  client.onConnectionChange((state) => (state === 'up' ? app.log.info('Redis connected') : app.log.warn('Redis connection closed; reconnecting')));

  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    setTimeout(() => {
      app.log.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    app
      .close()
      .then(() => Promise.allSettled([client.close(), db?.close()]))
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);

  // An unreachable Redis does not stop startup (the admin API answers 503 until it is back); a
  // REDIS_URL database the server lacks does.
  await client.ready().catch((error: unknown) => {
    if (error instanceof ConfigError) throw error;
  });
  await app.listen({ host: config.host, port: config.port });
  app.log.info(`Bull Board at http://${config.host}:${config.port}${BOARD_PREFIX} (public path ${config.publicBasePath}${BOARD_PREFIX})`);
  // PM2 (wait_ready) starts counting the app as online from here.
  process.send?.('ready');
}

main().catch((error: unknown) => {
  // A ConfigError's message starts with the variable's name; no stack trace for a settings mistake.
  console.error(`ceres-queues-ui failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
