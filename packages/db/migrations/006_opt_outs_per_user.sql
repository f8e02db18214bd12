-- Issue 24: an opt-out is kept per address *and* user. With the address alone as the key, a second
-- user sharing an address who opted out was never recorded, and was mailed again once they
-- changed address or the other user was erased.
ALTER TABLE newsletter_unsubscribes DROP CONSTRAINT newsletter_unsubscribes_pkey;
ALTER TABLE newsletter_unsubscribes ADD PRIMARY KEY (email, user_id);
