-- Verification tokens: the platform writes them, the worker reads them before sending the
-- verification mail, the hourly maintenance job deletes the expired ones.
CREATE TABLE verification_tokens (
  token      text PRIMARY KEY,
  user_id    text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX verification_tokens_expires_at_idx ON verification_tokens (expires_at);

-- The durable dead-letter archive: one row per job that failed for good. Redis trims its
-- failed sets by age; this table keeps the payload and the error for as long as needed.
-- failed_at is the job's own finishedOn (the same in every process that looks at it), so
-- (queue, job_id, failed_at) identifies one final failure and makes archiving idempotent
-- across worker instances and startup reconciliations. A job id reused later (a new job
-- with the same deterministic id) fails at another instant and gets its own row.
CREATE TABLE failed_jobs (
  id            bigserial PRIMARY KEY,
  queue         text NOT NULL,
  job_name      text NOT NULL,
  job_id        text NOT NULL,
  payload       jsonb NOT NULL,
  error         text NOT NULL,
  stacktrace    text,
  attempts_made integer NOT NULL,
  failed_at     timestamptz NOT NULL,
  archived_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT failed_jobs_final_failure_key UNIQUE (queue, job_id, failed_at)
);
CREATE INDEX failed_jobs_failed_at_idx ON failed_jobs (failed_at);
