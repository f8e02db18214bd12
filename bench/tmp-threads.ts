import { readdir, readFile } from 'node:fs/promises';
import { freePort, startRedisServer } from '@ceres/testing';
import autocannon from 'autocannon';
import { spawnTs } from './lib/child';
import { verifyPayload } from './lib/payload';

const TOKEN = 'bench-token-0123456789abcdef';
const redis = await startRedisServer();
async function threads(pid: number) {
  const out: Record<string, number> = {};
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out[`${name}#${tid}`] = (Number(f[11]) + Number(f[12])) * 10;
  }
  return out;
}
const extra = JSON.parse(process.env.EXTRA_ENV ?? '{}');
let n = 0;
for (const side of (process.env.SIDES ?? 'ours,raw').split(',')) {
  const port = await freePort();
  const child = side === 'ours'
    ? spawnTs(process.env.PROF ? 'bench/tmp-prof-wrap.ts' : 'apps/api/src/main.ts', { PROF_TARGET: '../apps/api/src/main.ts', PROF_NAME: 'ours', REDIS_URL: redis.url, REDIS_PREFIX: 'b:', API_PORT: String(port), API_TOKENS: TOKEN, API_RATE_LIMIT_MAX: '1000000000', ...extra })
    : spawnTs(process.env.PROF ? 'bench/tmp-prof-wrap.ts' : 'bench/children/raw-server.ts', { PROF_TARGET: './children/raw-server.ts', PROF_NAME: 'raw', REDIS_URL: redis.url, REDIS_PREFIX: 'raw', API_PORT: String(port) });
  await child.next('ready');
  const run = (duration: number) => autocannon({
    url: `http://127.0.0.1:${port}/jobs/email/verify`, method: 'POST', connections: 50, duration,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    requests: [{ setupRequest: (r: any) => ({ ...r, body: JSON.stringify(verifyPayload(`t${n++}`)) }) }],
  });
  await run(3);
  const before = await threads(child.process.pid!);
  if (process.env.PROF) child.process.kill('SIGUSR2');
  const r = await run(Number(process.env.SECS ?? 8));
  if (process.env.PROF) { child.process.kill('SIGUSR2'); await new Promise((r) => setTimeout(r, 1500)); }
  const after = await threads(child.process.pid!);
  const rps = r['2xx'] / r.duration;
  console.log(side, process.env.EXTRA_ENV ?? '', Math.round(rps), 'req/s', 'p99', r.latency.p99);
  for (const k of Object.keys(after)) {
    const d = after[k]! - (before[k] ?? 0);
    if (d > 0) console.log('  ', k, Math.round((d * 1000) / r['2xx']), 'µs/req');
  }
  console.log(child.stderr().trim()); await child.kill('SIGTERM');
}
await redis.close();
process.exit(0);
