// Issue 24 item 7: with REDIS_SENTINELS, a rediss:// REDIS_URL connected to the master in clear
// text (PING answered by a plain-text server), sending the password and every job in the clear.
// Real servers: a redis-server with --tls-port and real sentinels that point at it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, makeTempDir, startRedisServer, waitFor, type RedisServer } from '@ceres/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRedisConnection, loadQueuesConfig } from '../src';

const run = promisify(execFile);

let dir: Awaited<ReturnType<typeof makeTempDir>>;
let plain: RedisServer;
let tlsMaster: RedisServer;
let tlsPort: number;
const sentinels: ChildProcess[] = [];
let plainSentinel: number;
let tlsSentinel: number;

/** One real sentinel monitoring `port` as master `name`; over TLS when `tls`. */
async function startSentinel(name: string, port: number, tls: boolean): Promise<number> {
  const sentinelPort = await freePort();
  const file = join(dir.path, `sentinel-${sentinelPort}.conf`);
  const tlsLines = tls
    ? [
        'tls-replication yes',
        `tls-cert-file ${dir.path}/cert.pem`,
        `tls-key-file ${dir.path}/key.pem`,
        `tls-ca-cert-file ${dir.path}/cert.pem`,
      ]
    : [];
  await writeFile(
    file,
    [`port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir.path}`, ...tlsLines, `sentinel monitor ${name} 127.0.0.1 ${port} 1`, ''].join(
      '\n',
    ),
  );
  sentinels.push(spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' }));
  await waitFor(
    async () => {
      const sentinel = new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 }).on(
        'error',
        () => {},
      );
      try {
        const [master] = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', name)) as string[];
        const [info] = (await sentinel.call('SENTINEL', 'masters')) as string[][];
        return master === '127.0.0.1' && /^master$/.test(String(info?.[(info?.indexOf('flags') ?? -2) + 1]));
      } catch {
        return false;
      } finally {
        sentinel.disconnect();
      }
    },
    { timeoutMs: 10_000, what: `sentinel on ${sentinelPort} to see master ${name}` },
  );
  return sentinelPort;
}

beforeAll(async () => {
  dir = await makeTempDir('redis-tls');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    join(dir.path, 'key.pem'),
    '-out',
    join(dir.path, 'cert.pem'),
  ]);
  plain = await startRedisServer();
  tlsPort = await freePort();
  // The plain port stays for the harness' readiness check; clients are given only the TLS port.
  tlsMaster = await startRedisServer({
    args: [
      '--tls-port',
      String(tlsPort),
      '--tls-cert-file',
      join(dir.path, 'cert.pem'),
      '--tls-key-file',
      join(dir.path, 'key.pem'),
      '--tls-ca-cert-file',
      join(dir.path, 'cert.pem'),
      '--tls-auth-clients',
      'no',
    ],
  });
  plainSentinel = await startSentinel('plain', plain.port, false);
  tlsSentinel = await startSentinel('secure', tlsPort, true);
}, 30_000);

afterAll(async () => {
  await Promise.all(
    sentinels.map((child) => {
      if (child.exitCode !== null) return Promise.resolve();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      return exited;
    }),
  );
  await plain?.close();
  await tlsMaster?.close();
  await dir?.remove();
});

/** Connects as the apps do and reports the first PING answer, or the errors until `ms`. */
async function tryPing(env: Record<string, string>, ms = 3000): Promise<{ pong: boolean; errors: string[] }> {
  const client = createRedisConnection(loadQueuesConfig(env), 'worker', { onWarning: () => {} });
  const errors: string[] = [];
  client.on('error', (error: Error) => errors.push(error.message));
  try {
    const pong = await Promise.race([
      client.ping().then((answer) => answer === 'PONG'),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), ms)),
    ]);
    return { pong, errors };
  } finally {
    client.disconnect();
  }
}

it('rediss:// with sentinels never talks clear text: a plain-text master does not answer', async () => {
  // A TLS hello to a plain server gets no answer: the connect timeout (5 s) ends the attempt.
  const { pong, errors } = await tryPing(
    { REDIS_URL: 'rediss://127.0.0.1', REDIS_SENTINELS: `127.0.0.1:${plainSentinel}`, REDIS_SENTINEL_NAME: 'plain' },
    6500,
  );
  expect(pong).toBe(false);
  expect(errors.length).toBeGreaterThan(0);
  // redis:// with the same sentinel does answer: the refusal above is TLS, not the setup.
  expect(
    (await tryPing({ REDIS_URL: 'redis://127.0.0.1', REDIS_SENTINELS: `127.0.0.1:${plainSentinel}`, REDIS_SENTINEL_NAME: 'plain' })).pong,
  ).toBe(true);
}, 20_000);

it('rediss:// with sentinels starts a TLS handshake with the master and verifies its certificate', async () => {
  // The test's self-signed certificate is not trusted by this process: the handshake fails on it.
  const { pong, errors } = await tryPing({
    REDIS_URL: 'rediss://127.0.0.1',
    REDIS_SENTINELS: `127.0.0.1:${tlsSentinel}`,
    REDIS_SENTINEL_NAME: 'secure',
  });
  expect(pong).toBe(false);
  expect(errors.join('\n')).toMatch(/self[- ]signed certificate/);
}, 15_000);

it('rediss:// with sentinels answers PING over TLS once the master certificate is trusted (NODE_EXTRA_CA_CERTS)', async () => {
  const script = `
    import { createRedisConnection, loadQueuesConfig } from '@ceres/queues';
    const client = createRedisConnection(loadQueuesConfig(process.env), 'producer', { onWarning: () => {} });
    client.on('error', () => {});
    const timer = setTimeout(() => { console.log('timeout'); process.exit(1); }, 5000);
    client.once('ready', () => client.ping().then((answer) => { clearTimeout(timer); console.log(answer); client.disconnect(); }, (error) => { console.log(error.message); process.exit(1); }));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: join(import.meta.dirname, '..'),
    env: {
      PATH: process.env.PATH,
      NODE_EXTRA_CA_CERTS: join(dir.path, 'cert.pem'),
      REDIS_URL: 'rediss://127.0.0.1',
      REDIS_SENTINELS: `127.0.0.1:${tlsSentinel}`,
      REDIS_SENTINEL_NAME: 'secure',
    },
    timeout: 10_000,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? String(error) }));
  expect(stdout.trim()).toBe('PONG');
}, 15_000);
