// `npm run bench:ledger`: the job ledger's search at volume (issue 29). A private PostgreSQL, the
// migrations, BENCH_LEDGER_ROWS rows (default 1,000,000) written with generate_series — 100,000
// users with ten jobs each over 90 days, five queues, a few tenants, one in twenty failed — then
// ANALYZE, and the searches `jobs search` and GET /api/jobs/search run, each timed over
// BENCH_LEDGER_SEARCHES random keys (default 500) through `db.jobLedger.search`: by key (first
// page and the next one by cursor), by key in one tenant, by queue and type over a day, by error
// text over a day. Prints p50/p95/max in ms and each plan's index; writes bench/results/ledger-<time>.json.
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { createDb, migrate, type LedgerFilter } from '@ceres/db';
import { startPostgresServer } from '@ceres/testing';

const ROWS = Number(process.env.BENCH_LEDGER_ROWS ?? 1_000_000);
const SEARCHES = Number(process.env.BENCH_LEDGER_SEARCHES ?? 500);
const USERS = Math.max(1, Math.floor(ROWS / 10));
const DAY_MS = 86_400_000;
const log = (message: string) => console.log(`[ledger ${new Date().toISOString().slice(11, 19)}] ${message}`);
const round = (value: number) => Math.round(value * 100) / 100;

const postgres = await startPostgresServer();
const db = createDb(postgres.url, { maxConnections: 2 });
try {
  await migrate(postgres.url);
  const now = Date.now();
  let started = Date.now();
  // Row i: user i % USERS, finished i * 90 days / ROWS ago; the queues, types and states cycle.
  await db.pool.query(
    `INSERT INTO job_ledger (queue, job_type, job_id, tenant_id, key_field, key, state, enqueued_at, started_at, finished_at, attempts, result, error)
     SELECT q.queue, q.job_type, q.queue || ':' || q.job_type || ':user-' || (i % $2) || ':' || i,
            CASE WHEN i % 10 = 0 THEN 'north' WHEN i % 10 = 1 THEN 'south' ELSE 'default' END,
            'userId', 'user-' || (i % $2),
            CASE WHEN i % 20 = 0 THEN 'failed' ELSE 'completed' END,
            f - interval '2 seconds', f - interval '1 second', f,
            CASE WHEN i % 20 = 0 THEN 6 ELSE 1 END,
            CASE WHEN i % 20 = 0 THEN NULL ELSE '{"sent":true,"messageId":"<bench@ceres>"}'::jsonb END,
            CASE WHEN i % 20 = 0 THEN 'SMTP 550 mailbox unavailable (' || (i % 7) || ')' END
       FROM generate_series(1, $1::int) AS i,
            LATERAL (SELECT to_timestamp(($3::bigint - (i::bigint * $4::bigint / $1::bigint)) / 1000.0) AS f) t,
            LATERAL (SELECT (ARRAY['email','email','files','newsletter','slack'])[1 + i % 5] AS queue,
                            (ARRAY['welcome','verify','validate-cv','send','alert'])[1 + i % 5] AS job_type) q`,
    [ROWS, USERS, now, 90 * DAY_MS],
  );
  await db.pool.query('ANALYZE job_ledger');
  const fill = Date.now() - started;
  const { rows: size } = await db.pool.query<{ size: string }>("SELECT pg_size_pretty(pg_total_relation_size('job_ledger')) AS size");
  log(`${ROWS.toLocaleString('en')} rows in ${(fill / 1000).toFixed(1)} s; table and indexes: ${size[0]!.size}`);

  const key = () => `user-${Math.floor(Math.random() * USERS)}`;
  const dayAgo = () => new Date(now - Math.floor(Math.random() * 89) * DAY_MS);
  const cases: Array<{ name: string; filter: () => Promise<LedgerFilter> }> = [
    { name: 'by key, first page (50)', filter: async () => ({ key: key(), limit: 50 }) },
    {
      name: 'by key, next page (cursor)',
      filter: async () => {
        const k = key();
        const first = await db.jobLedger.search({ key: k, limit: 5 });
        const last = first[first.length - 1]!;
        return { key: k, limit: 50, after: { finishedAt: last.finishedAt, id: last.id } };
      },
    },
    { name: 'by key, one tenant, failed only', filter: async () => ({ key: key(), tenant: 'default', state: 'failed', limit: 50 }) },
    {
      name: 'by queue and type over a day',
      filter: async () => {
        const since = dayAgo();
        return { queue: 'email', jobType: 'welcome', since, until: new Date(since.getTime() + DAY_MS), limit: 50 };
      },
    },
    {
      name: 'by error text over a day',
      filter: async () => {
        const since = dayAgo();
        return { error: 'mailbox', state: 'failed', since, until: new Date(since.getTime() + DAY_MS), limit: 50 };
      },
    },
  ];
  const results: Array<{ name: string; p50: number; p95: number; max: number; plan: string }> = [];
  for (const { name, filter } of cases) {
    // Warm: the first query of a shape reads the index pages from disk.
    for (let i = 0; i < 20; i++) await db.jobLedger.search(await filter());
    const times: number[] = [];
    for (let i = 0; i < SEARCHES; i++) {
      const f = await filter();
      started = performance.now();
      await db.jobLedger.search(f);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const at = (q: number) => round(times[Math.min(times.length - 1, Math.floor(q * times.length))]!);
    const sample = await filter();
    const { rows: plan } = await db.pool.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT id FROM job_ledger WHERE ${sample.key ? `key = '${sample.key}'` : `queue = 'email' AND finished_at >= now() - interval '2 days'`} ORDER BY finished_at DESC, id DESC LIMIT 50`,
    );
    const index =
      /(?:Index (?:Only )?Scan(?: Backward)? using|Bitmap Index Scan on) (\S+)/.exec(
        plan.map((row) => row['QUERY PLAN']).join('\n'),
      )?.[1] ?? 'seq scan';
    results.push({ name, p50: at(0.5), p95: at(0.95), max: round(times[times.length - 1]!), plan: index });
  }
  console.table(results);
  const file = `bench/results/ledger-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  await writeFile(
    file,
    JSON.stringify(
      { rows: ROWS, users: USERS, searches: SEARCHES, fillMs: fill, size: size[0]!.size, cpus: os.cpus().length, results },
      null,
      2,
    ),
  );
  log(`written ${file}`);
} finally {
  await db.close();
  await postgres.close();
}
