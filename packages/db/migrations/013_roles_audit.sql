-- Who may do what (issue 27): scopes on API tokens, operator accounts with roles, and the audit
-- trail of every mutating action.

-- What an API token may call: `enqueue` (the job routes, the status of its tenant's jobs) and/or
-- `campaigns` (the newsletter routes). Existing tokens keep `enqueue`, what they were made for.
ALTER TABLE api_tokens ADD COLUMN scopes text[] NOT NULL DEFAULT '{enqueue}'
  CHECK (scopes <@ ARRAY['enqueue', 'campaigns']::text[] AND cardinality(scopes) > 0);

-- People who operate the queues (Bull Board, the admin API, the CLI). Passwords as scrypt hashes
-- (`scrypt$N$r$p$salt$hash`, base64url), never in clear. A tenant-scoped account sees and acts on
-- that tenant's jobs only.
CREATE TABLE operator_accounts (
  name           text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,39}$'),
  role           text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  tenant_id      text REFERENCES tenants (id),
  password_hash  text NOT NULL,
  disabled_at    timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Append-only, hash-chained: each row's hash covers the previous row's hash and its own fields
-- (packages/db/src/audit-log.ts computes both; `ceres-jobs audit verify` checks the chain).
-- Rows hold no personal data by construction: targets are queues, job ids, archive ids; parameters
-- are masked before they are written. Erasure does not touch this table.
CREATE TABLE audit_log (
  id              bigint PRIMARY KEY,
  at              timestamptz NOT NULL,
  actor           text NOT NULL,
  role            text NOT NULL,
  tenant_id       text,
  action          text NOT NULL,
  target          jsonb NOT NULL DEFAULT '{}',
  params          jsonb NOT NULL DEFAULT '{}',
  outcome         text NOT NULL,
  client_address  text,
  prev_hash       text NOT NULL,
  hash            text NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
