-- Password reset tokens (the job type email/password-reset, its `tokenStore`): the platform writes
-- the SHA-256 of each token it issues (never the token), the worker reads it before sending the
-- reset mail, the platform consumes it when the password is changed, the hourly maintenance job
-- deletes the expired ones and erasure those of a user. The layout of @ceres/db's hashedTokens().
CREATE TABLE password_reset_tokens (
  token_hash text PRIMARY KEY,
  user_id    text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_reset_tokens_expires_at_idx ON password_reset_tokens (expires_at);
CREATE INDEX password_reset_tokens_user_id_idx ON password_reset_tokens (user_id);
