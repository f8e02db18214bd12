import type { QueueWait, WaitEpisode } from '@ceres/queues';
import { describe, expect, it } from 'vitest';
import { alertText, assessWait, duration, recoveryText, STALL_GRACE_MS } from '../src/alerts/long-wait';

/** What one look at a queue judges (pure: the Redis side is tested in tests/long-wait-alerts.test.ts). */
const AT = 1_800_000_000_000;
const wait = (over: Partial<QueueWait> = {}): QueueWait => ({
  name: 'email',
  at: AT,
  oldestWaitingMs: 0,
  due: 0,
  paused: false,
  limitedMs: 0,
  active: 0,
  newestStartAt: null,
  ...over,
});
const MIN = 60_000;

describe('assessWait', () => {
  it('an empty queue is neither waiting long nor stalled', () => {
    expect(assessWait(wait(), undefined, MIN)).toMatchObject({ longWait: false, stalled: false });
  });

  it('waiting long from the threshold on', () => {
    expect(assessWait(wait({ due: 3, oldestWaitingMs: MIN - 1, active: 5, newestStartAt: AT - 100 }), 2, MIN).longWait).toBe(false);
    expect(assessWait(wait({ due: 3, oldestWaitingMs: MIN, active: 5, newestStartAt: AT - 100 }), 2, MIN)).toMatchObject({
      longWait: true,
      stalled: false,
    });
  });

  it('stalled: jobs due, no start for the threshold, and no worker or none running a job', () => {
    const quiet = { due: 2, oldestWaitingMs: STALL_GRACE_MS, newestStartAt: AT - 2 * MIN };
    expect(assessWait(wait(quiet), 0, MIN)).toMatchObject({ stalled: true, longWait: false, sinceStartMs: 2 * MIN });
    expect(assessWait(wait(quiet), 3, MIN).stalled).toBe(true);
    // Busy workers (a job running) are not stalled, nor is a queue with a recent start.
    expect(assessWait(wait({ ...quiet, active: 1 }), 3, MIN).stalled).toBe(false);
    expect(assessWait(wait({ ...quiet, newestStartAt: AT - MIN + 1 }), 0, MIN).stalled).toBe(false);
    // A dead worker's jobs still in the active list: no worker connected is a stall.
    expect(assessWait(wait({ ...quiet, active: 4 }), 0, MIN).stalled).toBe(true);
  });

  it('a job just due is not a stall, however old the last start', () => {
    expect(assessWait(wait({ due: 1, oldestWaitingMs: 50, newestStartAt: AT - 3600_000 }), 0, MIN).stalled).toBe(false);
    // With a threshold below the grace, the threshold is the grace.
    expect(assessWait(wait({ due: 1, oldestWaitingMs: 2000, newestStartAt: null }), 0, 2000)).toMatchObject({
      stalled: true,
      longWait: true,
    });
  });

  it('no start known: counted from when the oldest due job became due', () => {
    expect(assessWait(wait({ due: 1, oldestWaitingMs: MIN, newestStartAt: null }), 0, MIN)).toMatchObject({
      stalled: true,
      sinceStartMs: MIN,
    });
  });

  it('a paused or rate-limited queue waits long but is never stalled', () => {
    const stuck = { due: 5, oldestWaitingMs: 2 * MIN, newestStartAt: null };
    expect(assessWait(wait({ ...stuck, paused: true }), 0, MIN)).toMatchObject({ longWait: true, stalled: false, paused: true });
    expect(assessWait(wait({ ...stuck, limitedMs: 20_000 }), 0, MIN)).toMatchObject({ longWait: true, stalled: false, limited: true });
  });
});

describe('the alert texts', () => {
  it('name the queue, the wait, the jobs due and what holds, nothing else', () => {
    const look = wait({ due: 12, oldestWaitingMs: 125_000, newestStartAt: AT - 200_000 });
    expect(alertText('email', look, 0, assessWait(look, 0, MIN), 60)).toBe(
      'Queue *email* is waiting long and stalled: the oldest due job has waited 2 min 05 s (threshold 1 min 00 s), 12 jobs due. ' +
        'No job started for 3 min 20 s and no worker is connected. A recovery message follows when it clears.',
    );
    const paused = wait({ due: 1, oldestWaitingMs: 61_000, paused: true });
    expect(alertText('email', paused, 1, assessWait(paused, 1, MIN), 60)).toContain(
      '1 job due. The queue is paused: nothing runs until it is resumed (`ceres-jobs resume email`).',
    );
    const limited = wait({ due: 9, oldestWaitingMs: 61_000, limitedMs: 4000 });
    expect(alertText('email', limited, 2, assessWait(limited, 2, MIN), 60)).toContain(
      'held back by its rate limit or a back-pressure pause (4 s left), not stalled',
    );
  });

  it('the recovery says how long it lasted', () => {
    const episode = { start: AT, end: AT + 3_725_000, everLongWait: true, everStalled: false, peakMs: 300_000 } as WaitEpisode;
    expect(recoveryText('files', episode)).toBe(
      'Queue *files* recovered: it was waiting long for 1 h 02 min (longest wait seen 5 min 00 s).',
    );
  });

  it('durations', () => {
    expect([0, 45_000, 60_000, 3_599_000, 7_260_000].map(duration)).toEqual(['0 s', '45 s', '1 min 00 s', '59 min 59 s', '2 h 01 min']);
  });
});
