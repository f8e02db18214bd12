import { QUEUE_NAMES, type QueueAdmin, type QueueName } from '@ceres/queues';
import { createLogUpdate } from 'log-update';
import pc from 'picocolors';
import type { CliContext } from '../context';
import { printJson, println, table, type Io } from '../output';
import { age } from '../parse';

export interface QueueFrame {
  name: QueueName;
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  failed: number;
  completed: number;
  paused: boolean;
  workers: number;
  /** Jobs finished over the last 60 s (since the monitor started while it is younger); null on the first frame. */
  completedPerMinute: number | null;
  failedPerMinute: number | null;
  /** Age of the oldest job due and not started (as `stats` and the long-wait alerts read it), ms; null when none is due. */
  oldestWaitingMs: number | null;
}

export interface Frame {
  at: string;
  redis: string;
  queues: QueueFrame[];
}

interface Sample {
  at: number;
  totals: Map<QueueName, { completed: number; failed: number }>;
}

/** BullMQ's completed/failed counters sampled at each frame; a rate is the change over the last minute. */
export class RateTracker {
  private samples: Sample[] = [];

  add(sample: Sample): void {
    this.samples.push(sample);
    // Keep one sample older than a minute as the base, drop the rest.
    while (this.samples.length > 2 && this.samples[1]!.at <= sample.at - 60_000) this.samples.shift();
  }

  perMinute(queue: QueueName, kind: 'completed' | 'failed'): number | null {
    if (this.samples.length < 2) return null;
    const latest = this.samples[this.samples.length - 1]!.totals.get(queue)?.[kind] ?? 0;
    const base = this.samples[0]!.totals.get(queue)?.[kind] ?? 0;
    return Math.max(0, latest - base);
  }
}

export async function collect(admin: QueueAdmin, tracker: RateTracker, redis: string, now = Date.now()): Promise<Frame> {
  const [stats, activity] = await Promise.all([admin.allStats(), Promise.all(QUEUE_NAMES.map((name) => admin.activity(name)))]);
  tracker.add({ at: now, totals: new Map(activity.map((a) => [a.name, { completed: a.completedTotal, failed: a.failedTotal }])) });
  return {
    at: new Date(now).toISOString(),
    redis,
    queues: activity.map((a) => {
      const s = stats[a.name];
      return {
        name: a.name,
        waiting: s.waiting,
        active: s.active,
        delayed: s.delayed,
        prioritized: s.prioritized,
        failed: s.failed,
        completed: s.completed,
        paused: a.paused,
        workers: a.workers,
        completedPerMinute: tracker.perMinute(a.name, 'completed'),
        failedPerMinute: tracker.perMinute(a.name, 'failed'),
        oldestWaitingMs: a.oldestWaitingSince === null ? null : Math.max(0, now - a.oldestWaitingSince),
      };
    }),
  };
}

/** Below this many columns the queues are shown one block each instead of one table row each. */
export const WIDE_COLUMNS = 110;

const rate = (value: number | null) => (value === null ? '-' : String(value));
const oldest = (ms: number | null) => (ms === null ? '-' : age(ms));

export function render(frame: Frame, columns: number, options: { live: boolean; error?: string }): string {
  const lines = [`${pc.bold('ceres-jobs monitor')}  ${frame.at.replace('T', ' ').slice(0, 19)}Z  Redis ${frame.redis}`];
  if (options.error) lines.push(pc.red(options.error));
  if (columns >= WIDE_COLUMNS) {
    lines.push(
      table(
        [
          'queue',
          'waiting',
          'active',
          'delayed',
          'prioritized',
          'failed',
          'completed',
          'done/min',
          'failed/min',
          'oldest waiting',
          'workers',
          'paused',
        ],
        frame.queues.map((q) => [
          q.name,
          q.waiting,
          q.active,
          q.delayed,
          q.prioritized,
          q.failed,
          q.completed,
          rate(q.completedPerMinute),
          rate(q.failedPerMinute),
          oldest(q.oldestWaitingMs),
          q.workers,
          q.paused ? 'yes' : 'no',
        ]),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      ),
    );
  } else {
    for (const q of frame.queues) {
      lines.push(`${pc.bold(q.name)}${q.paused ? ' (paused)' : ''}`);
      lines.push(`  waiting ${q.waiting}  active ${q.active}  delayed ${q.delayed}`);
      lines.push(`  prioritized ${q.prioritized}  failed ${q.failed}  completed ${q.completed}`);
      lines.push(`  per min: ${rate(q.completedPerMinute)} done  ${rate(q.failedPerMinute)} failed`);
      lines.push(`  oldest waiting ${oldest(q.oldestWaitingMs)}  workers ${q.workers}`);
    }
  }
  if (options.live) lines.push(pc.dim('per min: over the last 60 s (since start while younger)  ·  q quits'));
  return lines.join('\n');
}

export interface MonitorOptions {
  once?: boolean;
  json?: boolean;
  /** @defaultValue 1000 */
  intervalMs?: number;
}

/** `monitor`: the live view, refreshed every second until `q` (or Ctrl-C); `--once`: one frame. */
export async function monitor(ctx: CliContext, io: Io, options: MonitorOptions): Promise<number> {
  const admin = await ctx.admin();
  const redis = ctx.redisLocation();
  const tracker = new RateTracker();
  if (options.once) {
    const frame = await collect(admin, tracker, redis);
    if (options.json) printJson(io, frame);
    else println(io, render(frame, io.stdout.columns ?? 80, { live: false }));
    return 0;
  }

  const update = createLogUpdate(io.stdout as NodeJS.WriteStream, { showCursor: false });
  const stdin = io.stdin;
  const raw = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  let quit: () => void = () => {};
  const quitting = new Promise<void>((resolve) => (quit = resolve));
  const CTRL_C = String.fromCharCode(3);
  const onKey = (chunk: Buffer | string) => {
    const text = chunk.toString();
    // q, Q, Ctrl-C (raw mode delivers it as a byte instead of SIGINT)
    if (text.includes('q') || text.includes('Q') || text.includes(CTRL_C)) quit();
  };
  if (raw) stdin.setRawMode!(true);
  stdin.on('data', onKey);
  stdin.resume();
  process.once('SIGINT', () => quit());
  process.once('SIGTERM', () => quit());

  let last: Frame | undefined;
  let error: string | undefined;
  const draw = () => {
    if (last) update(render(last, io.stdout.columns ?? 80, { live: true, error }));
  };
  const onResize = () => draw();
  io.stdout.on('resize', onResize);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async () => {
    try {
      last = await collect(admin, tracker, redis);
      error = undefined;
    } catch {
      error = `Redis is unreachable at ${redis}; retrying`;
    }
    if (!last) last = { at: new Date().toISOString(), redis, queues: [] };
    if (!stopped) {
      draw();
      timer = setTimeout(() => void tick(), options.intervalMs ?? 1_000);
    }
  };
  await tick();
  await quitting;
  stopped = true;
  clearTimeout(timer);
  update.done();
  io.stdout.off('resize', onResize);
  stdin.off('data', onKey);
  if (raw) stdin.setRawMode!(false);
  stdin.pause();
  return 0;
}
