// The live monitor in a real terminal: tmux runs the built bin (npm run build first) in a pane of
// a given size; the test reads the screen with capture-pane and types `q`.
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRedisServer, waitFor } from '@ceres/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, spawnCli, useBed } from './helpers';

const run = promisify(execFile);
const bed = useBed();
const sockets: string[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) await run('tmux', ['-L', socket, 'kill-server']).catch(() => {});
});

const welcome = (n: number) => ({ userId: `m${n}`, email: `m${n}@example.com`, firstName: 'M' });

/** Starts `ceres-jobs monitor` in a detached tmux pane of `width`×`height`; resolves with its controls. */
async function startMonitor(env: Record<string, string>, width: number, height: number) {
  const socket = `ceres-cli-${randomUUID().slice(0, 8)}`;
  sockets.push(socket);
  const exitFile = join(bed.cwd, `${socket}.exit`);
  const script = join(bed.cwd, `${socket}.sh`);
  const exports = Object.entries(env).map(([name, value]) => `export ${name}='${value.replace(/'/g, `'\\''`)}'`);
  writeFileSync(
    script,
    [...exports, `cd '${bed.cwd}'`, `node '${ROOT}apps/cli/bin/ceres-jobs.js' monitor`, `echo $? > '${exitFile}'`, 'sleep 5', ''].join(
      '\n',
    ),
  );
  await run('tmux', ['-L', socket, '-f', '/dev/null', 'new-session', '-d', '-x', String(width), '-y', String(height), 'sh', script]);
  const screen = async () => (await run('tmux', ['-L', socket, 'capture-pane', '-p'])).stdout;
  return {
    screen,
    until: (check: (text: string) => boolean, what: string) =>
      waitFor(async () => ((await screen().then(check)) ? true : undefined), { timeoutMs: 15_000, intervalMs: 100, what }),
    press: (key: string) => run('tmux', ['-L', socket, 'send-keys', key]),
    exitCode: () =>
      waitFor(() => (existsSync(exitFile) && readFileSync(exitFile, 'utf8').trim()) || undefined, {
        timeoutMs: 10_000,
        what: 'the monitor to exit',
      }),
  };
}

/** The numbers of a queue's row in the wide table. */
function row(screen: string, queue: string): string[] | undefined {
  const line = screen.split('\n').find((text) => new RegExp(`│\\s*${queue}\\s*│`).test(text));
  return line
    ?.split('│')
    .map((cell) => cell.trim())
    .filter(Boolean)
    .slice(1);
}

describe('monitor in a real terminal', () => {
  it('shows every queue, follows the counts each second, counts jobs done per minute, and quits on q with 0', async () => {
    const producer = bed.producer();
    await producer.enqueueBulk('email/welcome', [welcome(1), welcome(2)]);
    const monitor = await startMonitor(bed.env, 150, 30);

    await monitor.until((text) => row(text, 'email')?.[0] === '2', 'the email row with 2 waiting');
    const first = await monitor.screen();
    expect(first).toMatch(
      new RegExp(`ceres-jobs monitor\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ\\s+Redis 127\\.0\\.0\\.1:${bed.peers.redis.port}/5`),
    );
    expect(first).toMatch(
      /queue\s*│\s*waiting\s*│\s*active\s*│\s*delayed\s*│\s*prioritized\s*│\s*failed\s*│\s*completed\s*│\s*done\/min\s*│\s*failed\/min\s*│\s*oldest waiting\s*│\s*workers\s*│\s*paused/,
    );
    for (const queue of ['email', 'slack', 'maintenance', 'files']) expect(row(first, queue), queue).toHaveLength(11);
    expect(row(first, 'email')![8]).toMatch(/^\d+s$/); // the oldest waiting job's age
    expect(row(first, 'email')![9]).toBe('0'); // workers
    expect(first).toContain('q quits');

    await producer.enqueueBulk('email/welcome', [welcome(3), welcome(4), welcome(5)]);
    await monitor.until((text) => row(text, 'email')?.[0] === '5', 'the waiting count to change to 5');

    const worked = await spawnCli(bed.env, ['work', '--queue', 'email', '--stop-when-empty'], bed.cwd);
    expect(worked.code, worked.stderr).toBe(0);
    await monitor.until((text) => {
      const email = row(text, 'email');
      return email?.[0] === '0' && email[5] === '5' && email[6] === '5' && email[8] === '-';
    }, 'waiting 0, completed 5, done/min 5, no oldest waiting');

    // A worker running in the foreground shows as connected; SIGTERM stops it gracefully with 0.
    // (First the frame without the worker that just exited, so '1' below is the new one.)
    await monitor.until((text) => row(text, 'email')?.[9] === '0', 'no worker connected');
    const worker = spawn(process.execPath, [`${ROOT}apps/cli/bin/ceres-jobs.js`, 'work', '--queue', 'email'], {
      cwd: bed.cwd,
      env: bed.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const stderr: string[] = [];
    worker.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const exited = new Promise<string>((resolve) => worker.once('exit', (code, signal) => resolve(`${code} ${signal}`)));
    try {
      await monitor.until((text) => row(text, 'email')?.[9] === '1' && row(text, 'slack')?.[9] === '0', 'one worker connected to email');
    } finally {
      worker.kill('SIGTERM');
    }
    expect(await exited, stderr.join('')).toBe('0 null');
    await monitor.until((text) => row(text, 'email')?.[9] === '0', 'the worker gone');

    await monitor.press('q');
    expect(await monitor.exitCode()).toBe('0');
  }, 60_000);

  it('still renders in a narrow terminal: one block per queue', async () => {
    await bed.producer().enqueue('email/welcome', welcome(1));
    await bed.producer().getQueue('files').pause();
    const monitor = await startMonitor(bed.env, 44, 40);
    await monitor.until((text) => /^email$/m.test(text) && /waiting 1 {2}active 0 {2}delayed 0/.test(text), 'the email block');
    const screen = await monitor.screen();
    expect(screen).toMatch(/^files \(paused\)$/m);
    for (const queue of ['slack', 'maintenance']) expect(screen).toMatch(new RegExp(`^${queue}$`, 'm'));
    expect(screen).toMatch(/oldest waiting \d+s {2}workers 0/);
    expect(Math.max(...screen.split('\n').map((line) => line.length))).toBeLessThanOrEqual(44);
    await monitor.press('q');
    expect(await monitor.exitCode()).toBe('0');
  }, 60_000);
});

describe('monitor while Redis goes away', () => {
  it('says Redis is unreachable, keeps trying, and shows the queues again once it is back', async () => {
    const redis = await startRedisServer();
    try {
      const env = { ...bed.env, REDIS_URL: redis.url };
      const monitor = await startMonitor(env, 150, 30);
      await monitor.until((text) => row(text, 'email')?.[0] === '0', 'the email row');
      await redis.stop();
      await monitor.until((text) => text.includes(`Redis is unreachable at 127.0.0.1:${redis.port}/5; retrying`), 'the outage line');
      await redis.start();
      await monitor.until((text) => !text.includes('unreachable') && row(text, 'email')?.[0] === '0', 'the queues again');
      await monitor.press('q');
      expect(await monitor.exitCode()).toBe('0');
    } finally {
      await redis.close();
    }
  }, 60_000);
});

describe('monitor --once', () => {
  it('prints one frame and exits 0; with --json the frame as data', async () => {
    await bed.producer().enqueue('email/welcome', welcome(1));
    const text = await spawnCli(bed.env, ['monitor', '--once'], bed.cwd);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^.*ceres-jobs monitor/);
    expect(text.stdout).not.toContain('q quits');

    const json = await spawnCli(bed.env, ['monitor', '--once', '--json'], bed.cwd);
    expect(json.code, json.stderr).toBe(0);
    const frame = JSON.parse(json.stdout) as { at: string; redis: string; queues: Array<Record<string, unknown>> };
    expect(frame.redis).toBe(`127.0.0.1:${bed.peers.redis.port}/5`);
    expect(frame.queues.map((queue) => queue.name)).toEqual(['email', 'files', 'maintenance', 'newsletter', 'slack']);
    expect(frame.queues.find((queue) => queue.name === 'email')).toEqual({
      name: 'email',
      waiting: 1,
      active: 0,
      delayed: 0,
      prioritized: 0,
      failed: 0,
      completed: 0,
      paused: false,
      workers: 0,
      completedPerMinute: null,
      failedPerMinute: null,
      oldestWaitingMs: expect.any(Number),
    });
  });
});
