import { runService } from '@ceres/app-kit';
import { createDb } from '@ceres/db';
import { ConfigError, QueueClient } from '@ceres/queues';
import { buildApp } from './app';
import { BOARD_PREFIX } from './board';
import { loadConfig } from './config';

/** How long shutdown may take before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

await runService({
  name: 'ceres-queues-ui',
  configErrorLine: (message) => `queues-ui cannot start: ${message}`,
  start() {
    const config = loadConfig();
    // The long-wait alerts' ids (`queue-wait-…`) are reserved for this app.
    const client = new QueueClient({ config: config.queues, connectionName: 'ceres-queues-ui', allowReservedKeys: true });
    const db = config.databaseUrl ? createDb(config.databaseUrl, { maxConnections: 4, applicationName: 'ceres-queues-ui' }) : undefined;
    const app = buildApp({
      client,
      auth: { user: config.user, pass: config.pass },
      authFailures: config.authFailures,
      publicBasePath: config.publicBasePath,
      logger: { level: config.logLevel, name: 'ceres-queues-ui' },
      erasureDb: db,
      jobSearchDb: db,
      access: db ? { accounts: db.accounts, audit: db.audit, refreshMs: config.accountsRefreshMs } : undefined,
      tenantMetrics: config.tenantMetrics,
      longWait: config.longWait,
    });
    client.onConnectionChange((state) =>
      state === 'up' ? app.log.info('Redis connected') : app.log.warn('Redis connection closed; reconnecting'),
    );
    return {
      log: app.log,
      stopping: 'shutting down',
      async stop() {
        await app.close();
        await Promise.allSettled([client.close(), db?.close()]);
        return 0;
      },
      stopFailed: 'shutdown failed',
      graceMs: SHUTDOWN_GRACE_MS,
      // A second signal ends it at once.
      abort: { message: 'second signal: exiting', run: async () => {} },
      async serve() {
        // An unreachable Redis does not stop startup (the admin API answers 503 until it is back); a
        // REDIS_URL database the server lacks does.
        await client.ready().catch((error: unknown) => {
          if (error instanceof ConfigError) throw error;
        });
        await app.listen({ host: config.host, port: config.port });
        app.log.info(
          `Bull Board at http://${config.host}:${config.port}${BOARD_PREFIX} (public path ${config.publicBasePath}${BOARD_PREFIX})`,
        );
        // PM2 (wait_ready) starts counting the app as online from here.
        process.send?.('ready');
      },
    };
  },
});
