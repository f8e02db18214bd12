import {
  bearerAuthPlugin,
  createErrorHandler,
  errorHandlerPlugin,
  healthPlugin,
  jsonBodyPlugin,
  typeboxValidatorCompiler,
  type ErrorHandlerOptions,
} from '@ceres/http';
import { activeTracing, TOKEN_SCOPES } from '@ceres/app-kit';
import type { Db } from '@ceres/db';
import { logReplicaTargets, logSentinelWatch, sentinelWatching, type QueueClient } from '@ceres/queues';
import Fastify, { LogController, type FastifyInstance, type RouteOptions } from 'fastify';
import { TenantTokens } from './auth/tenant-tokens';
import type { ApiConfig } from './config';
import { queuesErrorToHttp } from './enqueue/errors';
import { drainPlugin } from './plugins/drain';
import { rateLimitPlugin } from './plugins/rate-limit';
import { securityHeadersPlugin } from './plugins/security-headers';
import { tenantTokensPlugin } from './plugins/tenant-tokens';
import { tracingPlugin } from './plugins/tracing';
import { docsPlugin } from './plugins/swagger';
import { pingRedis } from './redis-health';
import { batchRoutes } from './routes/batch';
import { campaignRoutes } from './routes/campaigns';
import { jobStatusRoutes } from './routes/job-status';
import { jobRoutes } from './routes/jobs';
import { unsubscribeRoutes } from './routes/unsubscribe';

export interface AppDeps {
  config: ApiConfig;
  /** The producer side of the queues; the caller owns it and closes it after the app. */
  queues: QueueClient;
  /** PostgreSQL: the newsletter campaigns and the tenants' API tokens. The caller owns it and closes it after the app. */
  db: Pick<Db, 'newsletter' | 'apiTokens' | 'jobLedger'>;
  /** Where the JSON log lines go. @defaultValue stdout */
  logStream?: { write(line: string): void };
  /** Called for every route as it is registered (tests list the routes with it). */
  onRoute?: (route: RouteOptions) => void;
}

/** Job ids are `<queue>:<job>:<key>` with keys up to 512 characters, and arrive URL-encoded. */
const MAX_PARAM_LENGTH = 2048;

/** Builds the API from its dependencies; does not listen. */
const ERRORS: ErrorHandlerOptions = {
  map: queuesErrorToHttp,
  bodyLimitVariable: 'API_BODY_LIMIT_BYTES',
  notFoundHint: 'the routes are listed at GET /docs',
};

export function buildApp({ config, queues, db, logStream, onRoute }: AppDeps): FastifyInstance {
  const app = Fastify({
    logger: { level: config.logLevel, ...(logStream ? { stream: logStream } : {}) },
    // Per-request log lines would cost more than the enqueue itself; errors are logged by the handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // While closing, a request on a kept-alive connection is served (with Connection: close)
    // rather than refused with a 503 in Fastify's own shape; PM2 sends new ones elsewhere.
    return503OnClosing: false,
    // Malformed URLs are refused before routing; answer them in the same shape as everything else.
    frameworkErrors: createErrorHandler(ERRORS),
  }) as unknown as FastifyInstance;
  if (onRoute) app.addHook('onRoute', onRoute);
  // First, so that its onRequest hook runs before every other and the request's span covers them.
  const tracing = activeTracing();
  if (tracing) app.register(tracingPlugin, { tracing });

  // JSON only: any other content type is a 415, rather than a string body that fails as a payload.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(typeboxValidatorCompiler);
  app.register(errorHandlerPlugin, ERRORS);
  app.register(jsonBodyPlugin);

  if (!config.auth.enabled) {
    app.log.warn('API_AUTH=off: the API accepts requests without a token; never run it like this where others can reach it');
  }
  watchRedis(app, queues);
  const stopSentinelLog = logSentinelWatch(app.log);
  const stopReplicaLog = logReplicaTargets(app.log);
  app.addHook('onClose', async () => {
    stopSentinelLog();
    stopReplicaLog();
  });
  app.register(drainPlugin);

  app.register(securityHeadersPlugin);
  app.register(docsPlugin);
  app.register(healthPlugin, {
    redisUp: () => pingRedis(queues),
    sentinelWatching: () => (queues.config.sentinel ? (sentinelWatching(queues.config.sentinel) ?? false) : undefined),
    summary: 'Is the API able to enqueue? (no auth)',
  });
  // The one-click unsubscribe of the newsletters: its signed token is the credential.
  app.register(unsubscribeRoutes, { db, secrets: config.unsubscribeSecrets, rateLimitMax: config.unsubscribeRateLimitMax });
  // The tenants' tokens (api_tokens), besides API_TOKENS (the default tenant's): held in memory, read
  // every 2 s. They are hashed with the keyring's keys, which the API always has (see config.ts).
  const keyring = config.queues.keyring;
  const tenantTokens = config.auth.enabled && keyring ? new TenantTokens({ store: db.apiTokens, keyring, log: app.log }) : undefined;
  if (tenantTokens) app.register(tenantTokensPlugin, { tokens: tenantTokens });
  // Everything registered in here needs a token and counts against the caller's rate limit.
  app.register(async (scope) => {
    scope.addHook('onRoute', requireTokenScope);
    scope.register(bearerAuthPlugin, { ...config.auth, failures: config.authFailures, resolve: tenantTokens?.resolve });
    scope.register(rateLimitPlugin, { max: config.rateLimitMax });
    scope.register(jobRoutes, { queues });
    scope.register(batchRoutes, { queues });
    scope.register(jobStatusRoutes, { queues, ledger: db.jobLedger });
    scope.register(campaignRoutes, { db, queues });
  });
  return app;
}

/**
 * Every route behind the token declares the scope it needs (`config.tokenScope`): one that does not
 * is a startup error, rather than a route any token may call.
 */
export function requireTokenScope(route: RouteOptions): void {
  if (route.config?.tokenScope === undefined) {
    throw new Error(
      `${String(route.method)} ${route.url}: a route behind the bearer token must declare config.tokenScope (${TOKEN_SCOPES.join(' or ')})`,
    );
  }
}

/**
 * Logs an outage once when it starts and once when it ends, instead of on every refused request.
 * Subscribed when the app is built rather than in a plugin: main.ts connects before the plugins
 * load (at listen), and an outage that starts then is logged too.
 */
function watchRedis(app: FastifyInstance, queues: QueueClient): void {
  let up = true;
  const onReady = () => {
    if (!up) app.log.info('redis is reachable again; enqueueing resumes');
    up = true;
  };
  const onClose = () => {
    if (up) app.log.warn('redis connection lost; enqueue and status requests answer 503 until it is back');
    up = false;
  };
  const unsubscribe = queues.onConnectionChange((state) => (state === 'up' ? onReady() : onClose()));
  app.addHook('onClose', async () => unsubscribe());
}
