import { FlowProducer, Queue } from 'bullmq';
import { Redis } from 'ioredis';
const conn = new Redis({ port: 6401, maxRetriesPerRequest: null });
const q = new Queue('email', { connection: conn, prefix: 'mb' });
const f = new FlowProducer({ connection: conn, prefix: 'mb' });
await q.waitUntilReady();
const items = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ name: 'verify', data: { userId: `${tag}${i}`, email: 'a@example.com', firstName: 'A', token: 'abcdefghijklmnop' }, opts: { jobId: `email:verify:${tag}${i}`, attempts: 6, removeOnComplete: { age: 3600 } } }));
for (const mode of ['queue', 'flow', 'queue', 'flow']) {
  const t = process.cpuUsage(); const w = performance.now();
  for (let r = 0; r < 50; r++) {
    const batch = items(100, `${mode}${r}-${Math.random()}`);
    if (mode === 'queue') await q.addBulk(batch);
    else await f.addBulk(batch.map((j) => ({ ...j, queueName: 'email', prefix: 'mb' })));
  }
  const c = process.cpuUsage(t);
  console.log(mode, 'cpu µs/job', ((c.user + c.system) / 5000).toFixed(1), 'wall ms', (performance.now() - w).toFixed(0));
}
await q.obliterate({ force: true }); await q.close(); await f.close(); conn.disconnect();
