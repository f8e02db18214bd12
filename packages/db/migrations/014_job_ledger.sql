-- The job ledger (issue 29): one row per job outcome (completed, or failed for good), kept
-- JOB_LEDGER_RETENTION_DAYS after Redis dropped the job. The worker writes it in batches through a
-- bounded Redis list (apps/worker/src/ledger.ts). Never a payload: the key column holds the job
-- type's declared key field (`ledgerKey`: a user id, a campaign id), never an encrypted personal
-- field; `error` is masked before it is written; `result` only for job types with `keepResult`.
CREATE TABLE job_ledger (
  id           bigserial PRIMARY KEY,
  queue        text NOT NULL,
  job_type     text NOT NULL,
  job_id       text NOT NULL,
  tenant_id    text NOT NULL DEFAULT 'default',
  -- Which payload field `key` is (`userId`, `campaignId`): erasure deletes the `userId` rows only.
  key_field    text,
  key          text,
  state        text NOT NULL CHECK (state IN ('completed', 'failed')),
  enqueued_at  timestamptz NOT NULL,
  started_at   timestamptz,
  finished_at  timestamptz NOT NULL,
  attempts     integer NOT NULL,
  result       jsonb,
  error        text,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  -- Written once: a job id recurs once Redis dropped the job, its finish time tells the runs apart.
  CONSTRAINT job_ledger_once UNIQUE (queue, job_id, finished_at)
);
-- Search by key, newest first, keyset-paginated on (finished_at, id).
CREATE INDEX job_ledger_key_idx ON job_ledger (key, finished_at DESC, id DESC) WHERE key IS NOT NULL;
-- Search by queue and type over a time range; also the status fallback by job id (the unique key).
CREATE INDEX job_ledger_queue_type_idx ON job_ledger (queue, job_type, finished_at DESC, id DESC);
-- Search over time alone, and the retention purge.
CREATE INDEX job_ledger_finished_idx ON job_ledger (finished_at DESC, id DESC);
