import { Type, type Static } from '@sinclair/typebox';
import { definePlugin } from './plugin';

/** The one health body: both apps depend on Redis and nothing else at request time. */
export const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  redis: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  sentinel: Type.Optional(
    Type.Union([Type.Literal('watching'), Type.Literal('not-watching')], {
      description: 'With REDIS_SENTINELS only: whether failover announcements (+switch-master) reach this process',
    }),
  ),
});
export type Health = Static<typeof Health>;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without credentials by the auth plugins. Only `GET /health` sets it. @defaultValue `false` */
    public?: boolean;
  }
}

export interface HealthOptions {
  /** True when Redis answered in time; must not hang (bound it with `withTimeout`). */
  redisUp: () => Promise<boolean>;
  /**
   * With Sentinel: whether this process hears failovers (`sentinelWatching` of `@ceres/queues`);
   * `undefined` leaves the field out. Not hearing them does not make the app unavailable.
   */
  sentinelWatching?: () => boolean | undefined;
  /** @defaultValue `Is the app able to reach Redis? (no auth)` */
  summary?: string;
}

/** `GET /health` (no auth): `200 { status: 'ok', redis: 'up' }`, else `503 { status: 'unavailable', redis: 'down' }`. */
export const healthPlugin = definePlugin<HealthOptions>(
  { name: '@ceres/http/health', dependencies: [] },
  async (app, { redisUp, sentinelWatching, summary }) => {
    app.get(
      '/health',
      {
        config: { public: true },
        schema: {
          summary: summary ?? 'Is the app able to reach Redis? (no auth)',
          tags: ['health'],
          response: { 200: Health, 503: Health },
        },
      },
      async (_request, reply): Promise<Health> => {
        const watching = sentinelWatching?.();
        const sentinel = watching === undefined ? {} : { sentinel: watching ? ('watching' as const) : ('not-watching' as const) };
        if (await redisUp().catch(() => false)) return { status: 'ok', redis: 'up', ...sentinel };
        reply.code(503);
        return { status: 'unavailable', redis: 'down', ...sentinel };
      },
    );
  },
);
