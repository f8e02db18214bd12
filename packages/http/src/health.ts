import { Type, type Static } from '@sinclair/typebox';
import fp from 'fastify-plugin';

/** The one health body: both apps depend on Redis and nothing else at request time. */
export const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  redis: Type.Union([Type.Literal('up'), Type.Literal('down')]),
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
  /** @defaultValue `Is the app able to reach Redis? (no auth)` */
  summary?: string;
}

/** `GET /health` (no auth): `200 { status: 'ok', redis: 'up' }`, else `503 { status: 'unavailable', redis: 'down' }`. */
export const healthPlugin = fp<HealthOptions>(
  async (app, { redisUp, summary }) => {
    app.get(
      '/health',
      {
        config: { public: true },
        schema: { summary: summary ?? 'Is the app able to reach Redis? (no auth)', tags: ['health'], response: { 200: Health, 503: Health } },
      },
      async (_request, reply): Promise<Health> => {
        if (await redisUp().catch(() => false)) return { status: 'ok', redis: 'up' };
        reply.code(503);
        return { status: 'unavailable', redis: 'down' };
      },
    );
  },
  { name: '@ceres/http/health', fastify: '5.x' },
);
