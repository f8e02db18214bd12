// Issue 28, point 3: the shipped alerting rules pass `promtool check rules` and their unit tests
// (`promtool test rules deploy/prometheus/alerts.test.yml`), which cover each alert firing and not
// firing; the rules and the dashboard use only the contract's metric names; every runbook is a
// section of docs/operations.md. The live run against a real Prometheus: prometheus-live.test.ts.
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { makeTempDir, promtool } from '@ceres/testing';
import { describe, expect, it } from 'vitest';
import {
  CONTRACT_METRICS,
  headingAnchor,
  loadDashboard,
  loadRules,
  loadRuleTests,
  metricNames,
  ROOT,
  RULES_FILE,
  RULES_TEST_FILE,
} from './support/monitoring';

const rules = loadRules();
const dashboard = loadDashboard();

describe('deploy/prometheus/alerts.yml', () => {
  it('passes promtool check rules', async () => {
    const result = await promtool(['check', 'rules', RULES_FILE]);
    expect(result.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(result.code).toBe(0);
  });

  it('passes its unit tests (promtool test rules alerts.test.yml)', async () => {
    const result = await promtool(['test', 'rules', RULES_TEST_FILE]);
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('has unit tests that fail when a rule loses its condition, its threshold or its for:', async () => {
    const original = await readFile(RULES_FILE, 'utf8');
    const mutations: Array<[string, (text: string) => string]> = [
      ['paused queues no longer excluded', (text) => text.replaceAll('unless on (queue) max by (queue) (ceres_queue_paused) == 1', '')],
      ['dead-letter threshold raised', (text) => text.replace('[10m])) > 5', '[10m])) > 50')],
      [
        'worker down without its "jobs due" condition',
        (text) => text.replace('max by (queue) (ceres_queue_workers) == 0\n', 'max by (queue) (ceres_queue_workers) == 0 or vector(0)\n'),
      ],
      ['for: dropped', (text) => text.replaceAll(/for: \dm/g, 'for: 0m')],
    ];
    const dir = await makeTempDir('rules-mutants');
    try {
      await copyFile(RULES_TEST_FILE, `${dir.path}/alerts.test.yml`);
      for (const [what, mutate] of mutations) {
        const mutated = mutate(original);
        expect(mutated, what).not.toBe(original);
        await writeFile(`${dir.path}/alerts.yml`, mutated);
        expect((await promtool(['check', 'rules', 'alerts.yml'], { cwd: dir.path })).code, `${what}: still valid`).toBe(0);
        const result = await promtool(['test', 'rules', 'alerts.test.yml'], { cwd: dir.path });
        expect(result.code, `${what}: the unit tests should fail`).not.toBe(0);
      }
    } finally {
      await dir.remove();
    }
  });

  it('tests every alert both firing and not firing', () => {
    const cases = loadRuleTests();
    for (const rule of rules) {
      const own = cases.filter((test) => test.alertname === rule.alert);
      expect(
        own.some((test) => test.exp_alerts.length > 0),
        `${rule.alert} firing`,
      ).toBe(true);
      expect(
        own.some((test) => test.exp_alerts.length === 0),
        `${rule.alert} not firing`,
      ).toBe(true);
    }
  });

  it('gives every alert a for:, a severity, a summary and description naming what fires, and a runbook in docs/operations.md', async () => {
    const operations = await readFile(`${ROOT}docs/operations.md`, 'utf8');
    const anchors = new Set([...operations.matchAll(/^#{2,4} (.+)$/gm)].map((match) => headingAnchor(match[1]!)));
    expect(rules.length).toBeGreaterThanOrEqual(6);
    for (const rule of rules) {
      expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning', 'info'], rule.alert).toContain(rule.labels?.severity);
      const { summary, description, runbook } = rule.annotations ?? {};
      expect(summary, rule.alert).toBeTruthy();
      expect(description, rule.alert).toBeTruthy();
      // A per-queue alert names its queue; the others their instance or scrape job.
      const subject = /by \(queue\)/.test(rule.expr)
        ? '{{ $labels.queue }}'
        : /absent\(/.test(rule.expr)
          ? 'ceres-queues-ui'
          : '{{ $labels.instance }}';
      expect(summary, rule.alert).toContain(subject);
      expect(description, rule.alert).toContain(subject);
      const [file, anchor] = (runbook ?? '').split('#');
      expect(file, rule.alert).toBe('docs/operations.md');
      expect([...anchors], `${rule.alert}: no section #${anchor} in docs/operations.md`).toContain(anchor);
    }
  });

  it('names the required alerts', () => {
    const expressions = rules.map((rule) => rule.expr).join('\n');
    for (const name of [
      'ceres_queue_long_wait',
      'ceres_queue_stalled',
      'ceres_queue_jobs_failed_total',
      'ceres_queue_redis_up',
      'ceres_queue_workers',
    ])
      expect(expressions).toContain(name);
    expect(expressions).toContain('up{job="ceres-queues-ui"} == 0');
    expect(expressions).toContain('absent(up{job="ceres-queues-ui"})');
  });
});

describe('deploy/grafana/ceres-jobs.json', () => {
  it('has a Prometheus data source variable that every panel and query uses, and a multi-value queue variable', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const variable = (name: string) => dashboard.templating.list.find((entry) => entry.name === name);
    expect(variable('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(variable('queue')).toMatchObject({ type: 'query', multi: true, includeAll: true, allValue: '.*' });
    expect(variable('queue')?.definition).toBe('label_values(ceres_queue_jobs, queue)');
    for (const panel of dashboard.panels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) {
        expect(target.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
        // Per-queue series follow the queue variable.
        if (/by \(queue/.test(target.expr)) expect(target.expr, panel.title).toContain('queue=~"$queue"');
      }
    }
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
  });

  it('has the panels of the issue', () => {
    const byTitle = (pattern: RegExp) => {
      const panel = dashboard.panels.find((candidate) => pattern.test(candidate.title));
      expect(panel, String(pattern)).toBeDefined();
      return panel!.targets.map((target) => target.expr).join('\n');
    };
    expect(byTitle(/^Waiting by queue/)).toContain('ceres_queue_jobs{');
    const wait = byTitle(/^Wait time p50 \/ p95 \/ p99/);
    for (const q of ['0.5', '0.95', '0.99'])
      expect(wait).toContain(`histogram_quantile(${q}, sum by (queue, le) (rate(ceres_job_wait_seconds_bucket{`);
    expect(byTitle(/^Run time p50/)).toContain('ceres_job_run_seconds_bucket');
    expect(byTitle(/^Throughput/)).toContain('rate(ceres_queue_jobs_completed_total');
    expect(byTitle(/^Failures/)).toContain('outcome="failed"');
    expect(byTitle(/^Dead letters/)).toContain('ceres_queue_jobs_failed_total');
    expect(byTitle(/^Oldest waiting/)).toContain('ceres_queue_oldest_waiting_seconds');
    expect(byTitle(/^Redis memory/)).toContain('ceres_redis_memory_used_bytes');
  });
});

describe('metric names', () => {
  it('are those of the contract, in every rule and panel query', () => {
    const exprs = [
      ...rules.flatMap((rule) => [rule.expr, ...Object.values(rule.annotations ?? {})]),
      ...dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr)),
      ...dashboard.templating.list.map((variable) => variable.definition ?? ''),
    ];
    const used = new Set(exprs.flatMap(metricNames));
    expect([...used].filter((name) => !CONTRACT_METRICS.has(name))).toEqual([]);
    // The check reads names at all.
    expect(used.has('ceres_job_wait_seconds_bucket')).toBe(true);
    expect(metricNames('rate(ceres_queue_jobz_total[5m])')).toEqual(['ceres_queue_jobz_total']);
  });
});
