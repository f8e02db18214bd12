// Bull Board is the platform operators' view of every tenant's jobs (issue 26, item 6): each job's
// name shows the tenant it is for, its data shows `$tenant` first; personal fields stay hidden.
// "Add job" and "Duplicate" (which fills in the shown name) store the job type's own name.
import { sharedRedis, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOOD_AUTH, startStack, type Stack } from './helpers/stack';

let redis: RedisPeer;
let stack: Stack;

beforeAll(async () => {
  redis = sharedRedis();
  stack = await startStack(redis);
});

afterAll(async () => {
  await stack?.close();
});

interface BoardJob {
  id: string;
  name: string;
  data: Record<string, unknown>;
}

/** The jobs of one state of a queue, as the board's page reads them. */
async function boardJobs(queue: string, status: string): Promise<BoardJob[]> {
  const response = await stack.app.inject({
    method: 'GET',
    url: `/ui/api/queues?activeQueue=${queue}&status=${status}&page=1&jobsPerPage=50`,
    headers: GOOD_AUTH,
  });
  expect(response.statusCode).toBe(200);
  const queues = response.json().queues as Array<{ name: string; jobs: BoardJob[] }>;
  return queues.find((entry) => entry.name === queue)!.jobs;
}

describe("Bull Board shows each job's tenant", () => {
  it('in the name of numbered and deterministic jobs, default included, and $tenant first in the data', async () => {
    const later = { delay: 3_600_000 };
    await stack.client.enqueue('slack/alert', { text: 'numbered of acme' }, { tenant: 'acme', ...later });
    await stack.client.enqueue('slack/alert', { text: 'keyed of acme', dedupeKey: 'k1' }, { tenant: 'acme', ...later });
    await stack.client.enqueue('slack/alert', { text: 'of default' }, later);
    const jobs = await boardJobs('slack', 'delayed');
    const byText = Object.fromEntries(jobs.map((job) => [job.data.text, job]));
    expect(byText['numbered of acme']!.name).toBe('alert · tenant acme');
    expect(byText['keyed of acme']).toMatchObject({ id: 'acme@slack:alert:k1', name: 'alert · tenant acme' });
    expect(byText['of default']!.name).toBe('alert · tenant default');
    expect(Object.keys(byText['numbered of acme']!.data)).toEqual(['$tenant', 'text']);
    expect(byText['of default']!.data).toEqual({ text: 'of default' });
  });

  it('without showing personal data', async () => {
    await stack.client.enqueue(
      'email/welcome',
      { userId: 'board-t1', email: 'tenant.person@example.org', firstName: 'Tenantname' },
      { tenant: 'acme', delay: 3_600_000 },
    );
    const [job] = await boardJobs('email', 'delayed');
    expect(job!.name).toBe('welcome · tenant acme');
    expect(job!.data).toMatchObject({ $tenant: 'acme', userId: 'board-t1' });
    expect(JSON.stringify(job)).not.toMatch(/tenant\.person|Tenantname/);
  });

  it('"Add job" with the shown name (as "Duplicate" sends it) stores the job type\'s own name', async () => {
    const response = await stack.app.inject({
      method: 'POST',
      url: '/ui/api/queues/slack/add',
      headers: { ...GOOD_AUTH, 'content-type': 'application/json' },
      payload: { name: 'alert · tenant default', data: { text: 'duplicated' }, options: {} },
    });
    expect(response.statusCode).toBe(200);
    const waiting = await stack.client.getQueue('slack').getWaiting();
    expect(waiting.map((job) => [job.name, job.data.text])).toEqual([['alert', 'duplicated']]);
  });
});
