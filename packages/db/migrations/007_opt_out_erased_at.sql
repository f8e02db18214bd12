-- Issue 24: an erased opt-out is told by this column, not by its value: a real address may well
-- start with "erased" (erased.smith@…), and was skipped by the erasure while it answered 0.
ALTER TABLE newsletter_unsubscribes ADD COLUMN erased_at timestamptz;
-- The rows erased so far: a hash of the address, or an erased recipient's opt-out by user id.
UPDATE newsletter_unsubscribes SET erased_at = unsubscribed_at
 WHERE email ~ '^erased:[0-9a-f]{64}$' OR email LIKE 'erased-user:%';
