// Issue 27: audit rows are kept AUDIT_RETENTION_DAYS (default 400). The maintenance cron
// `audit-retention` deletes the older ones through db.audit.prune, and the chain still verifies.
// Real Redis and PostgreSQL; the rows are appended as every action appends them, at dates set
// with a fake clock (so their hashes hold: rewriting `at` with SQL would break them).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createWorkerApp } from '../src/app';
import { createLogger } from '../src/deps/logger';
import { AUDIT_RETENTION_ACTOR } from '../src/processors/maintenance/audit-retention';
import { configFor, useTestBed, waitForState, workerEnv } from './helpers/harness';

const bed = useTestBed();
const DAY = 86_400_000;

afterEach(() => {
  vi.useRealTimers();
});

/** One audit row appended as if `daysAgo` days ago. */
async function appendAgo(daysAgo: number, action: string): Promise<number> {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() - daysAgo * DAY);
  try {
    const row = await bed.db.audit.append({
      actor: 'account:ana',
      role: 'operator',
      tenant: null,
      action,
      target: { queue: 'email' },
      outcome: 'ok',
    });
    return row.id;
  } finally {
    vi.useRealTimers();
  }
}

describe('AUDIT_RETENTION_DAYS', () => {
  it('defaults to 400; a bad value stops startup naming the variable; the cron is scheduled from its definition', () => {
    const env = workerEnv(bed.peers);
    expect(configFor(env).auditRetentionDays).toBe(400);
    expect(configFor({ ...env, AUDIT_RETENTION_DAYS: '30' }).auditRetentionDays).toBe(30);
    for (const bad of ['0', '-1', 'ten', '3651']) {
      expect(() => configFor({ ...env, AUDIT_RETENTION_DAYS: bad }), bad).toThrow(/^AUDIT_RETENTION_DAYS/);
    }
    expect(configFor(env).schedules).toContainEqual({ queue: 'maintenance', job: 'audit-retention', pattern: '45 3 * * *' });
    expect(configFor({ ...env, AUDIT_RETENTION_CRON: '0 4 * * *' }).schedules).toContainEqual({
      queue: 'maintenance',
      job: 'audit-retention',
      pattern: '0 4 * * *',
    });
  });

  it('the cron deletes the rows older than the retention, keeps the newer ones, and the chain still verifies', async () => {
    await bed.db.pool.query('TRUNCATE audit_log');
    await appendAgo(500, 'queue.clean');
    await appendAgo(401, 'job.retry');
    const kept = [await appendAgo(399, 'queue.pause'), await appendAgo(0, 'queue.resume')];
    expect(await bed.db.audit.verify()).toEqual({ rows: 4, firstBroken: null });

    const app = createWorkerApp({ config: configFor(workerEnv(bed.peers)), logger: createLogger('silent'), schedulers: false });
    bed.apps.push(app);
    await app.started;
    const queue = app.deps.queues.getQueue('maintenance');
    // The cron's tick is one job of the scheduled type; run one now.
    const run = async () => (await waitForState(queue, (await queue.add('audit-retention', {})).id!, 'completed')).returnvalue;

    expect(await run()).toEqual({ pruned: 2, olderThanDays: 400 });
    const rows = await bed.db.audit.page();
    expect(rows.map((row) => row.action)).toEqual(['audit.prune', 'queue.resume', 'queue.pause']);
    expect(rows.slice(1).map((row) => row.id)).toEqual([...kept].reverse());
    expect(rows[0]).toMatchObject({ actor: AUDIT_RETENTION_ACTOR, role: 'admin', params: { olderThanDays: 400, lastId: kept[0]! - 1 } });
    expect(await bed.db.audit.verify()).toEqual({ rows: 3, firstBroken: null });

    // Nothing older left: nothing deleted, nothing written.
    expect(await run()).toEqual({ pruned: 0, olderThanDays: 400 });
    expect(await bed.db.audit.verify()).toEqual({ rows: 3, firstBroken: null });
  });
});
