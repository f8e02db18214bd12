import type { QueueClient } from '@ceres/queues';
import type { Logger } from 'pino';
import { errorSummary } from '../redact';
import type { BreakerBoard } from './board';

/** The Slack alert's dedupe key of one transition: the same id from any process, for the episode that began at `since`. */
export function breakerDedupeKey(dependency: string, transition: 'opened' | 'closed', since: number): string {
  return `breaker-${dependency.replace(/[^A-Za-z0-9_.-]/g, '-')}-${transition}-${since}`;
}

export function breakerAlertText(dependency: string, transition: 'opened' | 'closed', since: number, coolDownMs: number): string {
  const what = dependency.startsWith('smtp') ? 'SMTP relay' : 'dependency';
  if (transition === 'opened') {
    return (
      `Circuit breaker *${dependency}* opened: the ${what} does not answer (connections refused, timed out or closed). ` +
      `Its jobs wait without using attempts; one probe job every ${Math.round(coolDownMs / 1000)} s.`
    );
  }
  return `Circuit breaker *${dependency}* closed: the ${what} answers again after ${Math.round((Date.now() - since) / 1000)} s; its waiting jobs run.`;
}

/**
 * One Slack alert per transition (opened, closed) of a breaker, sent by the process whose step
 * made it, with a deterministic id. The Slack webhooks' own breakers only log (an alert about
 * Slack would wait behind the breaker it is about).
 */
export function alertTransitions(board: BreakerBoard, queues: Pick<QueueClient, 'enqueue'>, logger: Logger): void {
  board.on('transition', (dependency, transition, since) => {
    if (dependency.startsWith('slack')) return;
    queues
      .enqueue('slack/alert', {
        text: breakerAlertText(dependency, transition, since, board.settings.coolDownMs),
        severity: transition === 'opened' ? 'critical' : 'info',
        dedupeKey: breakerDedupeKey(dependency, transition, since),
      })
      .catch((error: unknown) =>
        logger.warn({ dependency, transition, err: errorSummary(error) }, 'could not enqueue the circuit breaker alert'),
      );
  });
}
