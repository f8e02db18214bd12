// The minimal reference for pair 1: Fastify and `await queue.add()` with the request's body,
// no auth, no validation, no job id, default connection settings.
import { Queue } from 'bullmq';
import Fastify from 'fastify';
import { REDIS_DB } from '../lib/payload';

const url = new URL(process.env.REDIS_URL!);
const queue = new Queue('email', {
  connection: { host: url.hostname, port: Number(url.port), db: REDIS_DB },
  prefix: process.env.REDIS_PREFIX!,
});
const app = Fastify({ logger: false });
app.post('/jobs/email/verify', async (request, reply) => {
  const job = await queue.add('verify', request.body);
  return reply.code(202).send({ jobId: job.id });
});
app.post('/jobs/email/verify/batch', async (request, reply) => {
  const { items } = request.body as { items: unknown[] };
  const jobs = await queue.addBulk(items.map((data) => ({ name: 'verify', data })));
  return reply.code(202).send({ items: jobs.map((job) => ({ jobId: job.id })) });
});
await queue.waitUntilReady();
await app.listen({ host: '127.0.0.1', port: Number(process.env.API_PORT) });
process.send?.('ready');
process.on(
  'SIGTERM',
  () =>
    void app
      .close()
      .then(() => queue.close())
      .then(() => process.exit(0)),
);
