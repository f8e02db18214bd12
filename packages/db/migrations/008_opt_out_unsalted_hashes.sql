-- Issue 24: opt-outs erased before this kept 'erased:' || SHA-256 of the address, unsalted, which a
-- dictionary of addresses reverses. Erasures now keep a keyed digest (JOBS_ENCRYPTION_KEYS), which
-- SQL cannot compute from the hash: these rows keep the user id alone (they still block the user,
-- no longer the address).
INSERT INTO newsletter_unsubscribes (email, user_id, campaign_id, unsubscribed_at, erased_at)
SELECT DISTINCT ON (user_id) 'erased-user:' || user_id, user_id, campaign_id, unsubscribed_at, COALESCE(erased_at, unsubscribed_at)
  FROM newsletter_unsubscribes WHERE email ~ '^erased:[0-9a-f]{64}$'
 ORDER BY user_id, unsubscribed_at
ON CONFLICT (email, user_id) DO NOTHING;
DELETE FROM newsletter_unsubscribes WHERE email ~ '^erased:[0-9a-f]{64}$';
