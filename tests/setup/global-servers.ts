import type { TestProject } from 'vitest/node';
import { migrate } from '../../packages/db/src/migrate';
import { startPostgresServer } from '../../packages/testing/src/postgres-server';
import { startRedisServer } from '../../packages/testing/src/redis-server';
import type { SharedServers } from '../../packages/testing/src/shared-servers';

/**
 * The integration project's global set-up: one Redis and one PostgreSQL for the whole run, the
 * database `ceres_template` migrated once (each file's `sharedPostgres()` copies it). Files that
 * stop, kill or reconfigure their server start their own instead.
 */
export default async function setup(project: TestProject) {
  const [redis, postgres] = await Promise.all([startRedisServer(), startPostgresServer({ database: 'ceres_template' })]);
  try {
    await migrate(postgres.url);
  } catch (error) {
    await Promise.allSettled([redis.close(), postgres.close()]);
    throw error;
  }
  const shared: SharedServers = { redis: { port: redis.port }, postgres: { port: postgres.port, template: 'ceres_template' } };
  project.provide('ceresServers', shared);
  return async () => {
    await Promise.allSettled([redis.close(), postgres.close()]);
  };
}
