import { AUTH_FAILURE_DEFAULTS, withTimeout } from '@ceres/app-kit';
import type { AccountStore, AuditLog } from '@ceres/db';
import { basicAuthPlugin, basicPrincipals, errorHandlerPlugin, healthPlugin, openApiPlugin, typeboxValidatorCompiler } from '@ceres/http';
import { LONG_WAITS, logSentinelWatch, sentinelWatching, type QueueClient, type QueueName } from '@ceres/queues';
import Fastify, { type FastifyInstance, type FastifyServerOptions, type RouteOptions } from 'fastify';
import { OperatorAccounts } from './access/accounts';
import { LongWaitDetector, slackPoster } from './alerts/long-wait-detector';
import { BoardAccess } from './access/board-access';
import { ActionAudit, routeAccessPlugin } from './access/route-access';
import { QueueAdmin } from './admin/queue-admin';
import { BOARD_PREFIX, createBoard } from './board';
import { ACCOUNTS_REFRESH_DEFAULT_MS } from './config';
import { QueueMetrics } from './metrics/queue-metrics';
import { boardGuardsPlugin } from './plugins/board-guards';
import { boardPagingGuardPlugin } from './plugins/board-paging';
import { completedRetryGuardPlugin } from './plugins/completed-retries';
import { redisGatePlugin } from './plugins/error-handler';
import { crossSiteGuardPlugin, localOnlyPagePlugin, securityHeadersPlugin } from './plugins/security';
import { auditRoutes } from './routes/audit';
import { erasureRoutes, type ErasureDb } from './routes/erasure';
import { jobSearchRoutes, type JobSearchDb } from './routes/job-search';
import { metricsRoutes } from './routes/metrics';
import { queueRoutes } from './routes/queues';
import { schedulerRoutes } from './routes/schedulers';

declare module 'fastify' {
  interface FastifyInstance {
    /** The long-wait detector, when the app runs one ({@link AppDeps.longWait}). */
    longWaitDetector?: LongWaitDetector;
  }
}

export interface AppDeps {
  /** The producer-side client whose queues the app shows; the app never processes jobs. */
  client: QueueClient;
  /** The bootstrap admin (`QUEUES_UI_USER`/`QUEUES_UI_PASS`): role admin, every tenant. */
  auth: { user: string; pass: string };
  /**
   * The operator accounts and the audit trail (PostgreSQL, `DATABASE_URL`). Without it only the
   * bootstrap admin logs in and actions are not recorded (there is nowhere to record them).
   */
  access?: {
    accounts: Pick<AccountStore, 'list'>;
    audit: AuditLog;
    /** `QUEUES_UI_ACCOUNTS_REFRESH_MS`. @defaultValue {@link ACCOUNTS_REFRESH_DEFAULT_MS} */
    refreshMs?: number;
  };
  /** Wrong credentials per address and window before 429. @defaultValue `{ max: 20, windowMs: 900000 }` */
  authFailures?: { max: number; windowMs: number };
  /** See `QUEUES_UI_BASE_PATH`. @defaultValue `''` */
  publicBasePath?: string;
  /** Fastify's pino logger options, or `false`. @defaultValue `false` */
  logger?: FastifyServerOptions['logger'];
  /** How long `/health` and `/metrics` wait for Redis. @defaultValue `1000` ms */
  redisTimeoutMs?: number;
  /** For `POST /api/erasure` (`DATABASE_URL`); without it that route answers 503 and erases nothing. */
  erasureDb?: ErasureDb;
  /** For `GET /api/jobs/search` (`DATABASE_URL`): the job ledger; without it that route answers 503. */
  jobSearchDb?: JobSearchDb;
  /** The per-tenant series of `/metrics` (`METRICS_MAX_TENANTS`, `METRICS_TENANT_SCAN_MS`). @defaultValue `{ maxTenants: 200, scanMs: 30000 }` */
  tenantMetrics?: { maxTenants: number; scanMs: number };
  /**
   * The long-wait detector (`<QUEUE>_LONG_WAIT_SECONDS`, `LONG_WAIT_CHECK_MS`): runs from `onReady`
   * to `onClose`; its alerts' ids are reserved, so `client` needs `allowReservedKeys`. Without it no
   * detector runs, and `/metrics` shows the queue.ts thresholds and the episodes other instances keep.
   * `slackWebhookUrl`: where it posts itself while no worker consumes the slack queue.
   */
  longWait?: { thresholds: Record<QueueName, number>; checkMs: number; slackWebhookUrl?: string };
  /** Sees every route as it is registered (the auth test uses it so no route escapes it). */
  onRoute?: (route: RouteOptions) => void;
}

/** Builds the app from its dependencies without listening; `main.ts` listens. */
export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({ logger: deps.logger ?? false, trustProxy: false });
  if (deps.onRoute) app.addHook('onRoute', deps.onRoute);

  const isRedisReady = () => deps.client.isReady();
  const admin = new QueueAdmin(deps.client);
  const queues = admin.names.map((name) => ({ name, queue: admin.queue(name) }));
  const timeoutMs = deps.redisTimeoutMs ?? 1000;

  const accounts = deps.access
    ? new OperatorAccounts({ store: deps.access.accounts, refreshMs: deps.access.refreshMs ?? ACCOUNTS_REFRESH_DEFAULT_MS, log: app.log })
    : undefined;
  if (accounts) {
    app.addHook('onReady', async () => {
      await accounts.start();
    });
    app.addHook('onClose', async () => accounts.stop());
  } else {
    app.addHook('onReady', async () => {
      app.log.warn('no DATABASE_URL: only the bootstrap admin can log in, and operator actions are not recorded in an audit trail');
    });
  }
  const auth = { ...deps.auth, resolve: accounts?.resolve };
  const audit = new ActionAudit(deps.access?.audit);
  const boardAccess = new BoardAccess({ principalOf: basicPrincipals(auth), audit: deps.access?.audit, log: app.log });

  app.setValidatorCompiler(typeboxValidatorCompiler);
  // Hooks run in the order they are added: security headers go on every answer; credentials are
  // checked before anything else is revealed, Redis state included; then where a state change
  // comes from. Each plugin declares what must come before it, and Fastify checks it.
  app.register(securityHeadersPlugin);
  app.register(basicAuthPlugin, { ...auth, realm: 'ceres-queues', failures: deps.authFailures ?? AUTH_FAILURE_DEFAULTS });
  app.register(routeAccessPlugin);
  app.register(crossSiteGuardPlugin);
  app.register(redisGatePlugin, { isRedisReady, prefixes: ['/api/', `${BOARD_PREFIX}/api/`] });
  app.register(completedRetryGuardPlugin, { admin, boardPrefix: BOARD_PREFIX });
  app.register(boardPagingGuardPlugin, { boardPrefix: BOARD_PREFIX });
  app.register(boardGuardsPlugin, { boardPrefix: BOARD_PREFIX });
  app.register(localOnlyPagePlugin);
  app.register(errorHandlerPlugin, { isOutage: (error) => deps.client.isOutage(error) });
  app.register(openApiPlugin, {
    title: 'Ceres queues admin API',
    description: 'Counts, job listings and operator actions on the queues. Every route except /health needs basic auth.',
    securitySchemes: { basic: { type: 'http', scheme: 'basic' } },
    hidePrefixes: [BOARD_PREFIX],
  });
  // The document of the admin API, behind basic auth like the API it describes.
  app.get('/api/openapi.json', { config: { access: 'read', tenants: 'own' }, schema: { hide: true } }, async () => app.swagger());

  app.register(healthPlugin, {
    // The queues are readable: the connection is up and every count answers in time.
    redisUp: async () => isRedisReady() && (await withTimeout(admin.allStats(), timeoutMs, 'reading the queue counts').then(() => true)),
    sentinelWatching: () => (deps.client.config.sentinel ? (sentinelWatching(deps.client.config.sentinel) ?? false) : undefined),
  });
  const stopSentinelLog = logSentinelWatch(app.log);
  app.addHook('onClose', async () => stopSentinelLog());
  app.register(queueRoutes, { admin, audit });
  app.register(schedulerRoutes, { admin, audit });
  app.register(erasureRoutes, { client: deps.client, db: deps.erasureDb, audit });
  app.register(auditRoutes, { audit });
  const thresholds =
    deps.longWait?.thresholds ??
    (Object.fromEntries(LONG_WAITS.map(({ queue, seconds }) => [queue, seconds])) as Record<QueueName, number>);
  if (deps.longWait) {
    const detector = new LongWaitDetector({
      client: deps.client,
      admin,
      thresholds,
      intervalMs: deps.longWait.checkMs,
      log: app.log,
      postToSlack: deps.longWait.slackWebhookUrl === undefined ? undefined : slackPoster(deps.longWait.slackWebhookUrl),
    });
    app.decorate('longWaitDetector', detector);
    app.addHook('onReady', async () => detector.start());
    app.addHook('onClose', async () => detector.stop());
  }
  app.register(jobSearchRoutes, { client: deps.client, db: deps.jobSearchDb });
  app.register(metricsRoutes, {
    metrics: new QueueMetrics({
      queues,
      isRedisReady,
      timeoutMs,
      longWait: {
        source: { wait: (name) => admin.wait(name), episode: (name) => deps.client.store.waitEpisode(admin.queue(name)) },
        thresholds,
      },
      tenants: { source: admin, ...(deps.tenantMetrics ?? { maxTenants: 200, scanMs: 30_000 }) },
      timings: admin,
      breakers: { source: admin },
      ledger: { backlog: () => deps.client.store.ledgerBacklog() },
    }),
  });
  app.register(
    createBoard({
      queues,
      publicBasePath: deps.publicBasePath,
      isOutage: (error) => deps.client.isOutage(error),
      log: app.log,
      access: boardAccess,
    }),
    { prefix: BOARD_PREFIX },
  );
  return app;
}
