-- Newsletter campaigns (issue 17). A campaign is drafted, gets its recipients, is started (the
-- fan-out enqueues one newsletter/send job per pending recipient) and ends `done`, or `cancelled`.
-- finished_at: every recipient has an outcome; announced_at: its one Slack summary was enqueued.
CREATE TABLE newsletter_campaigns (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  subject      text NOT NULL,
  text_body    text NOT NULL,
  html_body    text,
  state        text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'sending', 'done', 'cancelled')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  cancelled_at timestamptz,
  finished_at  timestamptz,
  announced_at timestamptz
);

-- A user is in a campaign once. The address and first name live here, not in the job payloads:
-- Redis holds ids only. status is the recipient's outcome: pending until its send job decides.
CREATE TABLE newsletter_recipients (
  campaign_id uuid NOT NULL REFERENCES newsletter_campaigns (id) ON DELETE CASCADE,
  user_id     text NOT NULL,
  email       text NOT NULL,
  first_name  text NOT NULL,
  status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'unsubscribed', 'cancelled')),
  message_id  text,
  error       text,
  added_at    timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  PRIMARY KEY (campaign_id, user_id)
);
-- The fan-out pages the pending recipients by user_id, and "is anyone left?" after every send
-- looks only at pending rows: a partial index keeps both cheap on a 100,000-recipient campaign.
CREATE INDEX newsletter_recipients_pending_idx ON newsletter_recipients (campaign_id, user_id) WHERE status = 'pending';

-- Opt-outs, by address (lower-cased) and by user: later sends skip either.
CREATE TABLE newsletter_unsubscribes (
  email           text PRIMARY KEY,
  user_id         text NOT NULL,
  campaign_id     uuid,
  unsubscribed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX newsletter_unsubscribes_user_id_idx ON newsletter_unsubscribes (user_id);
