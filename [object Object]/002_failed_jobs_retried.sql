-- Replays from the archive (`ceres-jobs failed retry`): retried_at is set in the same statement
-- that claims the row (WHERE retried_at IS NULL), so a row is re-enqueued at most once, however
-- many operators run the command at the same time. retried_job_id is the job id it went back as.
ALTER TABLE failed_jobs
  ADD COLUMN retried_at     timestamptz,
  ADD COLUMN retried_job_id text;
