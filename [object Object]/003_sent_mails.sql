-- One row per mail the SMTP server accepted, written right after it did: a job re-run after a
-- crash (the stalled check) finds its mail here and does not send it again. job_created_at is
-- the job's own timestamp, so a deterministic job id reused by a later job is another key.
CREATE TABLE sent_mails (
  queue          text NOT NULL,
  job_id         text NOT NULL,
  job_created_at timestamptz NOT NULL,
  message_id     text NOT NULL,
  sent_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, job_id, job_created_at)
);
CREATE INDEX sent_mails_sent_at_idx ON sent_mails (sent_at);
