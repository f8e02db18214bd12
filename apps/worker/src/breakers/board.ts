import { EventEmitter } from 'node:events';
import {
  subscribeToBreakers,
  type BreakerNotice,
  type BreakerSettings,
  type BreakerStep,
  type BreakerSubscription,
  type BreakerView,
  type CeresStore,
  type QueuesConfig,
} from '@ceres/queues';
import type { Logger } from 'pino';
import { errorSummary } from '../redact';
import { dependencyOutcome } from './outcome';

/** Whether a job of a dependency's lane may start: at once (as the probe, maybe), or after `wait` ms. */
export type BreakerAdmission = { wait: 0; probe: boolean } | { wait: number; state: 'open' | 'half-open' };

/** A job waiting for another job's probe looks again after at most this long. */
export const HALF_OPEN_RECHECK_MS = 1_000;

const RUN: BreakerAdmission = { wait: 0, probe: false };

export interface BreakerBoardEvents {
  /** This process's step made the transition (once across every process): the alert is its to send. */
  transition: [dependency: string, transition: 'opened' | 'closed', since: number];
}

/** A breaker this process knows is not closed; `until`: its cool-down's or its probe claim's end (local clock). */
interface LocalBreaker {
  state: 'open' | 'half-open';
  until: number;
}

/**
 * This process's view of the circuit breakers (the state is in Redis, one per dependency across
 * every worker process: packages/queues/src/breakers.ts), kept by the breakers' announcements. A
 * closed breaker costs a job one map lookup before it starts and none after: Redis is asked only
 * after a failure that says the dependency is down, once after the next answer following such a
 * failure (the count starts again), and while a breaker is not closed (a probe claimed, its outcome).
 * States: created → `start()` (subscribed) → `stop()`.
 */
export class BreakerBoard extends EventEmitter<BreakerBoardEvents> {
  private readonly views = new Map<string, LocalBreaker>();
  /** Dependencies whose shared count of failures is not 0: the next answer resets it. */
  private readonly counting = new Set<string>();
  /** The newest version applied per dependency: a step's answer and the channel's notices may arrive out of order. */
  private readonly versions = new Map<string, number>();
  private subscription: BreakerSubscription | undefined;

  constructor(
    private readonly store: Pick<CeresStore, 'breakerStep' | 'breakers'>,
    readonly settings: BreakerSettings,
    private readonly logger: Logger,
  ) {
    super();
  }

  start(config: QueuesConfig): this {
    this.subscription ??= subscribeToBreakers(
      config,
      () => this.store.breakers(),
      (all) => this.reload(all),
      (notice) => this.apply(notice),
      (error) =>
        this.logger.warn(
          { err: errorSummary(error) },
          'circuit breakers: could not read or subscribe; transitions of other processes may be missed until it reconnects',
        ),
    );
    return this;
  }

  async stop(): Promise<void> {
    await this.subscription?.close();
    this.subscription = undefined;
  }

  /** Whether a job of `dependency`'s lane may start: in memory while the breaker is closed. */
  admit(dependency: string, jobId: string): BreakerAdmission | Promise<BreakerAdmission> {
    const view = this.views.get(dependency);
    if (view === undefined) return RUN;
    const left = view.until - Date.now();
    if (left > 0) return { wait: view.state === 'open' ? left : Math.min(left, HALF_OPEN_RECHECK_MS), state: view.state };
    return this.claim(dependency, jobId);
  }

  /**
   * The end of an attempt of `dependency`'s lane (`error`: it failed). Resolves with how long the
   * breaker is open again when this job was the probe and the dependency is still down. Undefined
   * (no promise) when Redis need not be asked: the closed steady state.
   */
  finished(
    dependency: string,
    jobId: string,
    probe: boolean,
    error?: unknown,
  ): Promise<{ reopenedForMs: number; why: 'probe' | 'open' } | undefined> | undefined {
    const outcome = error === undefined ? 'answered' : dependencyOutcome(error);
    if (outcome === 'down') {
      return this.step('fail', dependency, probe ? jobId : '').then((step) => {
        if (step?.result === 'reopened') return { reopenedForMs: step.remainingMs, why: 'probe' as const };
        // Another process opened the breaker while this attempt ran (this one learned it late): the
        // failure was not counted, so it spends no attempt either. Only counted failures do.
        if (step && step.result === 'none' && step.breaker.state !== 'closed')
          return { reopenedForMs: Math.max(step.remainingMs, 50), why: 'open' as const };
        return undefined;
      });
    }
    if (outcome === 'answered' && (probe || this.counting.has(dependency) || this.views.get(dependency)?.state === 'half-open')) {
      this.counting.delete(dependency);
      return this.step('reached', dependency).then(() => undefined);
    }
    return undefined;
  }

  /** The state this process sees (tests, logs). */
  stateOf(dependency: string): 'closed' | 'open' | 'half-open' {
    return this.views.get(dependency)?.state ?? 'closed';
  }

  private async claim(dependency: string, jobId: string): Promise<BreakerAdmission> {
    const step = await this.store.breakerStep('probe', dependency, this.settings, jobId);
    this.apply(noticeOf(step));
    if (step.result === 'probe') {
      this.logger.info({ dependency, jobId }, 'circuit breaker half-open: this job is the probe');
      return { wait: 0, probe: true };
    }
    const { state } = step.breaker;
    if (state === 'closed') return RUN;
    const wait = Math.max(step.remainingMs, 50);
    return { wait: state === 'open' ? wait : Math.min(wait, HALF_OPEN_RECHECK_MS), state };
  }

  private async step(kind: 'fail' | 'reached', dependency: string, jobId = ''): Promise<BreakerStep | undefined> {
    let step: BreakerStep;
    try {
      step = await this.store.breakerStep(kind, dependency, this.settings, jobId);
    } catch (error) {
      this.logger.warn({ dependency, err: errorSummary(error) }, 'circuit breaker: could not record the outcome in Redis');
      return undefined;
    }
    this.apply(noticeOf(step));
    const { result, breaker } = step;
    if (result === 'counted' || result === 'opened')
      // At most `failures` lines per closed period: the failures that spend an attempt.
      this.logger.warn(
        { dependency, failures: result === 'opened' ? this.settings.failures : breaker.failures },
        'circuit breaker counted a transport failure',
      );
    if (result === 'counted') this.counting.add(dependency);
    else if (result === 'opened') {
      this.logger.warn(
        { dependency, failures: this.settings.failures, coolDownMs: this.settings.coolDownMs },
        'circuit breaker opened: the dependency does not answer; its jobs wait without using attempts',
      );
      this.emit('transition', dependency, 'opened', breaker.since);
    } else if (result === 'reopened') {
      this.logger.warn({ dependency, coolDownMs: this.settings.coolDownMs }, 'circuit breaker probe failed: open again for the cool-down');
    } else if (result === 'closed') {
      this.logger.info({ dependency, openMs: Date.now() - breaker.since }, 'circuit breaker closed: the dependency answers again');
      this.emit('transition', dependency, 'closed', breaker.since);
    }
    return step;
  }

  private reload(all: BreakerView[]): void {
    const now = Date.now();
    this.views.clear();
    this.counting.clear();
    this.versions.clear();
    for (const { dependency, state, failures, openUntil, probeUntil, version } of all) {
      const until = state === 'open' ? openUntil : probeUntil;
      this.apply({ dependency, state, failures, remainingMs: Math.max(until - now, 0), version });
    }
  }

  private apply({ dependency, state, failures, remainingMs, version }: BreakerNotice): void {
    if (version < (this.versions.get(dependency) ?? 0)) return;
    this.versions.set(dependency, version);
    if (state === 'closed') {
      this.views.delete(dependency);
      if (failures > 0) this.counting.add(dependency);
      else this.counting.delete(dependency);
      return;
    }
    this.counting.delete(dependency);
    this.views.set(dependency, { state, until: Date.now() + remainingMs });
  }
}

function noticeOf({ breaker, remainingMs }: BreakerStep): BreakerNotice {
  return { dependency: breaker.dependency, state: breaker.state, failures: breaker.failures, remainingMs, version: breaker.version };
}
