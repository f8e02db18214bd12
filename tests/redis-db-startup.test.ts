import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startRedisServer, TEST_ENCRYPTION_KEYS, type RedisServer } from '@ceres/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.close();
});

/** Runs an app's src/main.ts until it exits (at most 20 s); returns its exit code and output. */
function run(main: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', main], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

// The api and the worker need a keyring before they look at Redis; queues-ui needs none.
const APPS: Array<[string, string, Record<string, string>]> = [
  [
    'api',
    'apps/api/src/main.ts',
    {
      API_TOKENS: 'test-token-0123456789abcdef',
      API_PORT: '0',
      DATABASE_URL: 'postgres://ceres@127.0.0.1:1/ceres',
      UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret-0123',
      JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    },
  ],
  ['queues-ui', 'apps/queues-ui/src/main.ts', { QUEUES_UI_PASS: 'ui-pass-0123456789abcdef', QUEUES_UI_PORT: '1' }],
  [
    'worker',
    'apps/worker/src/main.ts',
    {
      DATABASE_URL: 'postgres://ceres@127.0.0.1:1/ceres',
      UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret-0123',
      JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    },
  ],
];

describe('REDIS_URL with a database the server does not have', () => {
  for (const [name, main, env] of APPS) {
    it(`stops ${name} at startup with a message naming REDIS_URL, before anything is written`, async () => {
      const { code, output } = await run(main, { ...env, REDIS_URL: `${redis.url}/16`, LOG_LEVEL: 'warn' });
      expect(code, output).toBe(1);
      expect(output).toMatch(/REDIS_URL: selects database 16, which this Redis server does not have/);
      const inspect = new Redis(redis.url);
      try {
        expect(await inspect.info('keyspace')).not.toMatch(/^db\d+:/m);
      } finally {
        inspect.disconnect();
      }
    }, 30_000);
  }
});
