import { startRedisServer } from '@ceres/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadQueuesConfig } from '@ceres/queues';
import { spawnTs, cpuMs } from './lib/child';
import { emailJobOptions, verifyPayload } from './lib/payload';
const redis = await startRedisServer();
const admin = new Redis(redis.url, { db: 5 });
const connection = { host: '127.0.0.1', port: redis.port, db: 5 };
const COUNT = Number(process.env.COUNT ?? 20000);
for (const side of (process.env.SIDES ?? 'ours,raw').split(',')) {
  await admin.flushdb();
  const prefix = side === 'ours' ? loadQueuesConfig({ REDIS_URL: redis.url, REDIS_PREFIX: 'bench:' }).bullPrefix : 'raw';
  const queue = new Queue('email', { connection, prefix });
  await queue.pause();
  for (let i = 0; i < COUNT; i += 1000) await queue.addBulk(Array.from({ length: 1000 }, (_, k) => ({ name: 'verify', data: verifyPayload(`w-${i + k}`), opts: emailJobOptions })));
  const child = spawnTs(process.env.PROF ? 'bench/tmp-prof-wrap.ts' : 'bench/children/worker.ts', { PROF_TARGET: './children/worker.ts', PROF_NAME: `worker-${side}`, BENCH_SIDE: side, BENCH_TASK: 'throughput', BENCH_COUNT: String(COUNT), REDIS_URL: redis.url, REDIS_PREFIX: side === 'ours' ? 'bench:' : 'raw', ...JSON.parse(process.env.EXTRA_ENV ?? '{}') }, { stdout: process.env.STDOUT ? 'inherit' : 'ignore' });
  await child.next('ready');
  const rpid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1]);
  const r0 = await cpuMs(rpid);
  const c0 = await cpuMs(child.process.pid!);
  if (process.env.PROF) child.process.kill('SIGUSR2');
  await queue.resume();
  const done = await child.next<{ ms: number }>('done');
  const c1 = await cpuMs(child.process.pid!);
  const r1 = await cpuMs(rpid);
  if (process.env.PROF) { child.process.kill('SIGUSR2'); await new Promise((r) => setTimeout(r, 1500)); }
  console.log(side, Math.round(COUNT / done.ms * 1000), 'jobs/s', Math.round((c1 - c0) * 1000 / COUNT), 'µs/job', 'redis', Math.round((r1 - r0) * 1000 / COUNT));
  await child.kill();
  await queue.close();
}
await admin.quit(); await redis.close(); process.exit(0);
