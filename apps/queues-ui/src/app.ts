import { AUTH_FAILURE_DEFAULTS } from '@ceres/app-kit';
import type { QueueClient } from '@ceres/queues';
import Fastify, { type FastifyInstance, type FastifyServerOptions, type RouteOptions } from 'fastify';
import { QueueAdmin } from './admin/queue-admin';
import { BOARD_PREFIX, createBoard } from './board';
import { QueueMetrics } from './metrics/queue-metrics';
import { installBasicAuth } from './plugins/basic-auth';
import { installBoardPagingGuard } from './plugins/board-paging';
import { installCompletedRetryGuard } from './plugins/completed-retries';
import { installErrorHandler, installRedisGate } from './plugins/error-handler';
import { installCrossSiteGuard, installLocalOnlyPage, installSecurityHeaders } from './plugins/security';
import { erasureRoutes, type ErasureDb } from './routes/erasure';
import { healthRoutes } from './routes/health';
import { metricsRoutes } from './routes/metrics';
import { queueRoutes } from './routes/queues';
import { schedulerRoutes } from './routes/schedulers';

export interface AppDeps {
  /** The producer-side client whose queues the app shows; the app never processes jobs. */
  client: QueueClient;
  auth: { user: string; pass: string };
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

  // Order matters: security headers go on every answer; credentials are checked before anything
  // else is revealed, Redis state included; then where a state change comes from.
  installSecurityHeaders(app);
  installBasicAuth(app, { ...deps.auth, failures: deps.authFailures ?? AUTH_FAILURE_DEFAULTS });
  installCrossSiteGuard(app);
  installRedisGate(app, isRedisReady, ['/api/', `${BOARD_PREFIX}/api/`]);
  installCompletedRetryGuard(app, admin, BOARD_PREFIX);
  installBoardPagingGuard(app, BOARD_PREFIX);
  installLocalOnlyPage(app);
  installErrorHandler(app, (error) => deps.client.isOutage(error));

  app.register(healthRoutes, { admin, isRedisReady, timeoutMs });
  app.register(queueRoutes, { admin });
  app.register(schedulerRoutes, { admin });
  app.register(erasureRoutes, { client: deps.client, db: deps.erasureDb });
  app.register(metricsRoutes, {
    metrics: new QueueMetrics({ queues, isRedisReady, timeoutMs }),
  });
  app.register(createBoard({ queues, publicBasePath: deps.publicBasePath }), { prefix: BOARD_PREFIX });
  return app;
}
