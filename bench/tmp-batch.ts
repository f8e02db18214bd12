import { freePort, startRedisServer } from '@ceres/testing';
import { Redis } from 'ioredis';
import { spawnTs, cpuMs } from './lib/child';
import { verifyPayload } from './lib/payload';
const TOKEN = 'bench-token-0123456789abcdef';
const redis = await startRedisServer();
const admin = new Redis(redis.url, { db: 5 });
const port = await freePort();
const child = spawnTs(process.env.PROF ? 'bench/tmp-prof-wrap.ts' : 'apps/api/src/main.ts', { PROF_TARGET: '../apps/api/src/main.ts', PROF_NAME: 'batch', REDIS_URL: redis.url, REDIS_PREFIX: 'b:', API_PORT: String(port), API_TOKENS: TOKEN, API_RATE_LIMIT_MAX: '1000000000' });
await child.next('ready');
let tag = 0;
async function round(total: number) {
  let next = 0;
  const t = tag++;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < total / 1000) {
      const chunk = next++;
      const items = Array.from({ length: 1000 }, (_, i) => verifyPayload(`${t}-${chunk * 1000 + i}`));
      const r = await fetch(`http://127.0.0.1:${port}/jobs/email/verify/batch`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ items }) });
      if (r.status !== 202) throw new Error(String(r.status));
      await r.arrayBuffer();
    }
  }));
}
await round(5000); await admin.flushdb();
const c0 = await cpuMs(child.process.pid!);
if (process.env.PROF) child.process.kill('SIGUSR2');
const t0 = performance.now();
await round(40000);
const secs = (performance.now() - t0) / 1000;
if (process.env.PROF) { child.process.kill('SIGUSR2'); await new Promise((r) => setTimeout(r, 1500)); }
console.log('jobs/s', Math.round(40000 / secs), 'server µs/job', ((await cpuMs(child.process.pid!)) - c0) * 1000 / 40000);
await child.kill('SIGTERM'); await admin.quit(); await redis.close(); process.exit(0);
