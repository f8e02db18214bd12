-- Tenants (municipalities) sharing the platform, and the API tokens that belong to them.
-- `default` always exists: a single-municipality install uses it without knowing tenants exist.
-- Secrets (the SMTP URL with its credentials, the Slack webhook URL) are stored sealed with the
-- jobs keyring (JOBS_ENCRYPTION_KEYS), never in clear; tokens only as keyed hashes.
CREATE TABLE tenants (
  id                          text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{1,40}$'),
  name                        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  mail_from                   text,
  smtp_url_sealed             text,
  slack_webhook_url_sealed    text,
  email_rate_per_second       double precision CHECK (email_rate_per_second > 0),
  newsletter_rate_per_second  double precision CHECK (newsletter_rate_per_second > 0),
  disabled_at                 timestamptz,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenants (id, name) VALUES ('default', 'Default');

CREATE TABLE api_tokens (
  id           text PRIMARY KEY,
  tenant_id    text NOT NULL REFERENCES tenants (id),
  name         text,
  -- HMAC-SHA256 (hex) of the token under a key derived from keyring key `key_version`.
  key_version  text NOT NULL,
  token_hash   text NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz
);
CREATE INDEX api_tokens_tenant_id_idx ON api_tokens (tenant_id);
