// The per-tenant series of /metrics (issue 26, item 6): completed and failed (counters, as the
// workers add them to Redis: TenantCounts, the worker's own code) and waiting (gauge, a scan of the
// waiting and prioritized jobs), labelled by tenant with bounded cardinality: beyond
// METRICS_MAX_TENANTS the tenants are tenant="other". The per-queue series stay as they were.
import { JobTimings, TenantCounts } from '@ceres/queues';
import { sharedRedis, type RedisPeer } from '@ceres/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { GOOD_AUTH, startStack, type Stack } from './helpers/stack';

let stack: Stack | undefined;
const redis = (): RedisPeer => sharedRedis();

afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function scrape(): Promise<string> {
  const response = await stack!.app.inject({ method: 'GET', url: '/metrics', headers: GOOD_AUTH });
  expect(response.statusCode).toBe(200);
  return response.body;
}

/** The value of one series, the whole line matched (`… 2` must not match `… 20`), or undefined. */
const value = (text: string, series: string) => new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1];

/** What the worker adds: `completed`/`failed` jobs per tenant of the slack queue. */
async function counted(outcome: 'completed' | 'failed', perTenant: Record<string, number>) {
  const counts = new TenantCounts();
  const slack = stack!.client.getQueue('slack');
  for (const [tenant, count] of Object.entries(perTenant)) counts.add(slack, outcome, tenant, count);
  await stack!.client.store.flushTenantCounts(counts);
}

/** `count` alerts waiting for `tenant` in slack, numbered ids and deterministic ones. */
async function waiting(tenant: string, count: number) {
  for (let n = 0; n < count; n++) {
    const payload = n % 2 === 0 ? { text: `alert ${n}` } : { text: `alert ${n}`, dedupeKey: `k${n}` };
    await stack!.client.enqueue('slack/alert', payload, tenant === 'default' ? {} : { tenant });
  }
}

describe('per-tenant metrics', () => {
  it('completed, failed and waiting carry the tenant label; the per-queue series are unchanged', async () => {
    stack = await startStack(redis(), { tenantMetrics: { maxTenants: 200, scanMs: 0 } });
    await waiting('default', 2);
    await waiting('a', 3);
    await waiting('b', 1);
    await counted('completed', { default: 5, a: 7 });
    await counted('failed', { b: 2 });
    await counted('completed', { a: 1 });

    const text = await scrape();
    expect(text).toContain('# TYPE ceres_queue_tenant_jobs_completed_total counter');
    expect(text).toContain('# TYPE ceres_queue_tenant_jobs_waiting gauge');
    expect(value(text, 'ceres_queue_tenant_jobs_completed_total{queue="slack",tenant="default"}')).toBe('5');
    expect(value(text, 'ceres_queue_tenant_jobs_completed_total{queue="slack",tenant="a"}')).toBe('8');
    expect(value(text, 'ceres_queue_tenant_jobs_failed_total{queue="slack",tenant="b"}')).toBe('2');
    expect(value(text, 'ceres_queue_tenant_jobs_waiting{queue="slack",tenant="default"}')).toBe('2');
    expect(value(text, 'ceres_queue_tenant_jobs_waiting{queue="slack",tenant="a"}')).toBe('3');
    expect(value(text, 'ceres_queue_tenant_jobs_waiting{queue="slack",tenant="b"}')).toBe('1');
    expect(text).not.toMatch(/^ceres_\S*tenant="other"/m);
    // The per-queue series as before: every tenant's jobs, no tenant label.
    expect(
      Number(value(text, 'ceres_queue_jobs{queue="slack",state="waiting"}')) +
        Number(value(text, 'ceres_queue_jobs{queue="slack",state="prioritized"}')),
    ).toBe(6);
    expect(value(text, 'ceres_queue_jobs_completed_total{queue="slack"}')).toBe('0');

    // A drained tenant's waiting falls at the next scan.
    await stack.client.getQueue('slack').drain();
    expect(value(await scrape(), 'ceres_queue_tenant_jobs_waiting{queue="slack",tenant="a"}')).toBeUndefined();
  });

  it('folds the tenants beyond METRICS_MAX_TENANTS into tenant="other", default first', async () => {
    stack = await startStack(redis(), { tenantMetrics: { maxTenants: 2, scanMs: 0 } });
    await counted('completed', { default: 1, a: 2, b: 4, c: 8 });
    await waiting('c', 2);
    await waiting('b', 1);
    const text = await scrape();
    expect(value(text, 'ceres_queue_tenant_jobs_completed_total{queue="slack",tenant="default"}')).toBe('1');
    expect(value(text, 'ceres_queue_tenant_jobs_completed_total{queue="slack",tenant="a"}')).toBe('2');
    expect(value(text, 'ceres_queue_tenant_jobs_completed_total{queue="slack",tenant="other"}')).toBe('12');
    expect(value(text, 'ceres_queue_tenant_jobs_waiting{queue="slack",tenant="other"}')).toBe('3');
    expect(text).not.toMatch(/^ceres_\S*tenant="[bc]"/m);
  });

  it('bounds the tenant label of the wait and run histograms the same way, adding up the folded tenants', async () => {
    stack = await startStack(redis(), { tenantMetrics: { maxTenants: 2, scanMs: 0 } });
    const slack = stack.client.getQueue('slack');
    const timings = new JobTimings();
    for (const [tenant, count] of Object.entries({ default: 1, a: 2, b: 4, c: 8, 'Not A Tenant': 16 }))
      for (let n = 0; n < count; n++) timings.observe(slack, 'wait', 'alert', tenant, 30);
    await stack.client.store.flushJobTimings(timings);
    const text = await scrape();
    const count = (tenant: string) => value(text, `ceres_job_wait_seconds_count{queue="slack",job="alert",tenant="${tenant}"}`);
    expect(count('default')).toBe('1');
    expect(count('a')).toBe('2');
    expect(count('other')).toBe('28');
    expect(value(text, 'ceres_job_wait_seconds_bucket{queue="slack",job="alert",tenant="other",le="0.05"}')).toBe('28');
    expect(value(text, 'ceres_job_wait_seconds_sum{queue="slack",job="alert",tenant="other"}')).toBe('0.84');
    expect(text).not.toMatch(/^ceres_\S*tenant="(b|c|Not A Tenant)"/m);
  });

  it('reads the waiting jobs at most every METRICS_TENANT_SCAN_MS', async () => {
    stack = await startStack(redis(), { tenantMetrics: { maxTenants: 200, scanMs: 3_600_000 } });
    await waiting('a', 1);
    expect(value(await scrape(), 'ceres_queue_tenant_jobs_waiting{queue="slack",tenant="a"}')).toBe('1');
    await waiting('a', 3);
    // The scan of the first scrape still stands; the per-queue gauge is read at every scrape.
    const text = await scrape();
    expect(value(text, 'ceres_queue_tenant_jobs_waiting{queue="slack",tenant="a"}')).toBe('1');
  });
});
