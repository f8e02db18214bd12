import type { BreakerView } from '@ceres/queues';
import { Gauge, type Registry } from 'prom-client';

/** The worker's breakers, always shown (0 while closed and before any failure). */
const PLATFORM_DEPENDENCIES = ['slack', 'smtp'];

/** A platform dependency, or a tenant's own relay or webhook named by its tenant id: nothing else becomes a label. */
const DEPENDENCY = /^(smtp|slack)(:[a-z0-9-]{1,40})?$/;

/**
 * `ceres_breaker_open{dependency}`: 1 while a breaker is open or half-open, 0 closed. The label is
 * `smtp`, `slack`, or a tenant's own relay or webhook (`smtp:<tenant>`, `slack:<tenant>`): at most
 * two per tenant with delivery settings of its own, and at most `maxSeries` in all.
 */
export function addBreakerMetrics(registry: Registry, breakers: readonly BreakerView[], maxSeries: number): void {
  const open = new Gauge({
    name: 'ceres_breaker_open',
    help: "1 while the worker's circuit breaker of a dependency (an SMTP relay, a Slack webhook) is open or half-open, 0 closed",
    labelNames: ['dependency'],
    registers: [registry],
  });
  const states = new Map(PLATFORM_DEPENDENCIES.map((dependency) => [dependency, 0]));
  for (const breaker of breakers) {
    if (!DEPENDENCY.test(breaker.dependency) || (!states.has(breaker.dependency) && states.size >= maxSeries)) continue;
    states.set(breaker.dependency, breaker.state === 'closed' ? 0 : 1);
  }
  for (const [dependency, value] of states) open.set({ dependency }, value);
}
