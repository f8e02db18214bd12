import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { loadQueuesConfig, QueueClient } from '@ceres/queues';
import { freePort, sharedRedis, TEST_ENCRYPTION_KEYS, waitFor, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUIRED_ENV, TOKEN } from './helpers';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

let redis: RedisPeer;
const children: ChildProcess[] = [];

beforeAll(async () => {
  redis = sharedRedis();
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Runs src/main.ts as PM2 would: its own process with an IPC channel. */
function startMain(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/api/src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...REQUIRED_ENV, JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.push(child);
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output, exited };
}

describe('main', () => {
  it('sends "ready" once listening, and on SIGTERM finishes the in-flight request, then exits 0', async () => {
    const port = await freePort();
    const prefix = `t${randomUUID().slice(0, 8)}:`;
    const { child, output, exited } = startMain({ API_TOKENS: TOKEN, API_PORT: String(port), REDIS_URL: redis.url, REDIS_PREFIX: prefix });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "ready" message:\n${output.join('')}`)), 20_000);
      child.once('message', (message) => {
        clearTimeout(timer);
        if (message === 'ready') resolve();
        else reject(new Error(`unexpected message ${String(message)}`));
      });
    });
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);

    // Half a request is on the wire when the signal arrives; the rest follows after it.
    const body = JSON.stringify({ text: 'sent across the shutdown', dedupeKey: 'in-flight' });
    const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/jobs/slack/alert',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        child.kill('SIGTERM');
        waitFor(() => output.join('').includes('shutting down'), { what: 'the shutdown log line' }).then(
          () => req.end(body.slice(10)),
          reject,
        );
      }, 200);
    });
    const response = await answered;
    expect(response.status, response.body).toBe(202);
    expect(JSON.parse(response.body)).toMatchObject({ jobId: 'slack:alert:in-flight', duplicate: false });
    expect(await exited).toBe(0);
    expect(output.join('')).toContain('shut down cleanly');

    const queues = new QueueClient({ config: loadQueuesConfig({ REDIS_URL: redis.url, REDIS_PREFIX: prefix }), onWarning: () => {} });
    try {
      await queues.ready();
      expect(await queues.getQueue('slack').getJob('slack:alert:in-flight')).toBeDefined();
    } finally {
      await queues.close();
    }
  });

  it('refuses to start without API_TOKENS, naming the variable', async () => {
    const { output, exited } = startMain({ REDIS_URL: redis.url });
    expect(await exited).toBe(1);
    expect(output.join('')).toMatch(/API_TOKENS: set at least one bearer token.*API_AUTH=off/);
  });

  it('refuses to start with a weak UNSUBSCRIBE_SECRET, naming the variable and not the value', async () => {
    const { output, exited } = startMain({ REDIS_URL: redis.url, API_TOKENS: TOKEN, UNSUBSCRIBE_SECRET: 'secretsecret' });
    expect(await exited).toBe(1);
    expect(output.join('')).toMatch(/UNSUBSCRIBE_SECRET: the value is shorter than 16 characters/);
    expect(output.join('')).not.toContain('secretsecret');
  });
});
