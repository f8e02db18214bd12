// The shipped Prometheus rules and Grafana dashboard (deploy/), read for the tests that check them
// (tests/prometheus-rules.test.ts) and run them against a live Prometheus (tests/prometheus-live.test.ts).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RULES_FILE = `${ROOT}deploy/prometheus/alerts.yml`;
export const RULES_TEST_FILE = `${ROOT}deploy/prometheus/alerts.test.yml`;
export const DASHBOARD_FILE = `${ROOT}deploy/grafana/ceres-jobs.json`;

/**
 * Every metric name the rules and the dashboard may use: queues-ui's /metrics as issue 28's shared
 * contract names it (histograms by their series), and Prometheus's own `up`. A name outside it is a typo.
 */
export const CONTRACT_METRICS = new Set([
  'up',
  'ceres_queue_jobs',
  'ceres_queue_paused',
  'ceres_queue_jobs_completed_total',
  'ceres_queue_jobs_failed_total',
  'ceres_queue_redis_up',
  'ceres_queue_workers',
  'ceres_queue_oldest_waiting_seconds',
  'ceres_queue_long_wait_threshold_seconds',
  'ceres_queue_long_wait',
  'ceres_queue_stalled',
  'ceres_redis_memory_used_bytes',
  ...['ceres_job_wait_seconds', 'ceres_job_run_seconds'].flatMap((name) => [`${name}_bucket`, `${name}_count`, `${name}_sum`]),
]);

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function loadRules(): AlertRule[] {
  const file = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: Array<{ name: string; rules: AlertRule[] }> };
  return file.groups.flatMap((group) => group.rules);
}

export interface RuleTestCase {
  eval_time: string;
  alertname: string;
  exp_alerts: unknown[];
}

export function loadRuleTests(): RuleTestCase[] {
  const file = parse(readFileSync(RULES_TEST_FILE, 'utf8')) as { tests: Array<{ alert_rule_test?: RuleTestCase[] }> };
  return file.tests.flatMap((test) => test.alert_rule_test ?? []);
}

export interface DashboardTarget {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
}

export interface DashboardPanel {
  id: number;
  title: string;
  type: string;
  datasource?: { type?: string; uid?: string };
  targets: DashboardTarget[];
}

export interface DashboardVariable {
  name: string;
  type: string;
  query: unknown;
  definition?: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}

export interface Dashboard {
  schemaVersion: number;
  uid: string;
  title: string;
  panels: DashboardPanel[];
  templating: { list: DashboardVariable[] };
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/**
 * Every panel query with the template variables replaced as Grafana would: `$queue` by the value
 * given (the variable's All value is `.*`), `$__rate_interval` by a range.
 */
export function panelQueries(dashboard: Dashboard, values: { queue: string; rateInterval: string }) {
  return dashboard.panels.flatMap((panel) =>
    panel.targets.map((target) => ({
      what: `panel "${panel.title}" ${target.refId}`,
      expr: target.expr
        .replaceAll('$__rate_interval', values.rateInterval)
        .replaceAll('${queue}', values.queue)
        .replaceAll('$queue', values.queue),
    })),
  );
}

/** The metric names an expression mentions (ours, and `up`). */
export function metricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(ceres_[a-z0-9_]+|up)\b(?=\s*[{[)\s]|$)/g)].map((match) => match[1]!))];
}

/** GitHub's anchor of a Markdown heading. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}
