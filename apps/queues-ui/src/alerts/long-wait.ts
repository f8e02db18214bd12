import type { QueueName, QueueWait, WaitEpisode } from '@ceres/queues';

/**
 * A due job is taken by a healthy idle worker within milliseconds: a queue whose jobs have been
 * due for less than this (or than its threshold, if shorter) is not called stalled, whatever else
 * holds, so a look between an enqueue and its take cannot count as a stall.
 */
export const STALL_GRACE_MS = 10_000;

/** An episode ends once clear for this long (or the queue's threshold, if shorter): one wait dipping below does not end it. */
export const RECOVERY_HOLD_MS = 30_000;

/** What one look at a queue says. */
export interface WaitAssessment {
  /** The oldest due job waited at least the threshold. */
  longWait: boolean;
  /**
   * Jobs due (for at least {@link STALL_GRACE_MS}), no job started for the threshold, and no worker
   * connected or none running a job; never while the queue is paused or held by its limiter.
   */
  stalled: boolean;
  paused: boolean;
  /** The limiter holds jobs back: its rate window is full or a back-pressure pause is in force. */
  limited: boolean;
  /** Since the newest job start known, or since the oldest due job became due when none is known (ms). */
  sinceStartMs: number;
}

/** Judges one look at a queue (`workers` read only when jobs are due; undefined otherwise, or when Redis refused to tell). */
export function assessWait(wait: QueueWait, workers: number | undefined, thresholdMs: number): WaitAssessment {
  const due = wait.due > 0;
  const limited = wait.limitedMs > 0;
  const sinceStartMs = wait.newestStartAt === null ? wait.oldestWaitingMs : Math.max(0, wait.at - wait.newestStartAt);
  const idle = workers === 0 || wait.active === 0;
  return {
    longWait: due && wait.oldestWaitingMs >= thresholdMs,
    stalled:
      due &&
      !wait.paused &&
      !limited &&
      idle &&
      sinceStartMs >= thresholdMs &&
      wait.oldestWaitingMs >= Math.min(thresholdMs, STALL_GRACE_MS),
    paused: wait.paused,
    limited,
    sinceStartMs,
  };
}

/** `2 min 05 s`, `45 s`, `1 h 02 min`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** What an episode is called: `waiting long`, `stalled`, or both. */
function kinds(longWait: boolean, stalled: boolean): string {
  return [longWait ? 'waiting long' : '', stalled ? 'stalled' : ''].filter(Boolean).join(' and ');
}

/** The Slack text of an episode's alert: queue names and figures only, never a job's data. */
export function alertText(
  queue: QueueName,
  wait: QueueWait,
  workers: number | undefined,
  seen: WaitAssessment,
  thresholdS: number,
): string {
  const parts = [
    `Queue *${queue}* is ${kinds(seen.longWait, seen.stalled)}: the oldest due job has waited ${duration(wait.oldestWaitingMs)} (threshold ${duration(thresholdS * 1000)}), ${wait.due} ${wait.due === 1 ? 'job' : 'jobs'} due.`,
  ];
  if (seen.stalled) {
    parts.push(
      `No job started for ${duration(seen.sinceStartMs)} and ${workers === 0 ? 'no worker is connected' : `its ${workers} connected ${workers === 1 ? 'worker runs' : 'workers run'} nothing`}.`,
    );
  }
  if (seen.paused) parts.push(`The queue is paused: nothing runs until it is resumed (\`ceres-jobs resume ${queue}\`).`);
  else if (seen.limited)
    parts.push(`Its jobs are held back by its rate limit or a back-pressure pause (${duration(wait.limitedMs)} left), not stalled.`);
  parts.push('A recovery message follows when it clears.');
  return parts.join(' ');
}

/** The Slack text of an episode's recovery. */
export function recoveryText(queue: QueueName, episode: WaitEpisode): string {
  const lasted = (episode.end ?? episode.start) - episode.start;
  return `Queue *${queue}* recovered: it was ${kinds(episode.everLongWait, episode.everStalled)} for ${duration(lasted)} (longest wait seen ${duration(episode.peakMs)}).`;
}

/** The alerts' dedupe keys: one per episode (its start), so every instance enqueues the same job. */
export const alertKey = (queue: QueueName, start: number) => `queue-wait-${queue}-${start}`;
export const recoveryKey = (queue: QueueName, start: number) => `queue-wait-${queue}-${start}-recovered`;
