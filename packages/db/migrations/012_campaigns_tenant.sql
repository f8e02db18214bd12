-- Issue 26: the personal data of a tenant (municipality) is its own. A user id is unique within a
-- tenant only, so every table that names a user, or a campaign, now names the tenant too. Existing
-- rows become `default`'s: an install that has one municipality has nothing to do.

-- A campaign belongs to the tenant whose API token created it; its recipients are its tenant's users.
ALTER TABLE newsletter_campaigns ADD COLUMN tenant_id text NOT NULL DEFAULT 'default' REFERENCES tenants (id);
CREATE INDEX newsletter_campaigns_tenant_id_idx ON newsletter_campaigns (tenant_id);

-- An opt-out is a tenant's: user u opting out of A's newsletters does not opt out B's user u, nor
-- the same address from B's newsletters. The key gains the tenant.
ALTER TABLE newsletter_unsubscribes ADD COLUMN tenant_id text NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE newsletter_unsubscribes DROP CONSTRAINT newsletter_unsubscribes_pkey;
ALTER TABLE newsletter_unsubscribes ADD PRIMARY KEY (tenant_id, email, user_id);
DROP INDEX newsletter_unsubscribes_user_id_idx;
CREATE INDEX newsletter_unsubscribes_user_id_idx ON newsletter_unsubscribes (tenant_id, user_id);

-- Tokens the platform issues for a tenant's user: erasure deletes those of that tenant's user only.
ALTER TABLE verification_tokens ADD COLUMN tenant_id text NOT NULL DEFAULT 'default' REFERENCES tenants (id);
DROP INDEX verification_tokens_user_id_idx;
CREATE INDEX verification_tokens_user_id_idx ON verification_tokens (tenant_id, user_id);
ALTER TABLE password_reset_tokens ADD COLUMN tenant_id text NOT NULL DEFAULT 'default' REFERENCES tenants (id);
DROP INDEX password_reset_tokens_user_id_idx;
CREATE INDEX password_reset_tokens_user_id_idx ON password_reset_tokens (tenant_id, user_id);
