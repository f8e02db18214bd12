-- Erasure of one user's data matches the archived payloads on their userId (a plain id, never
-- encrypted): this index keeps it from scanning the whole archive.
CREATE INDEX failed_jobs_user_id_idx ON failed_jobs ((payload->>'userId'));
-- The tokens of one user, for erasure.
CREATE INDEX verification_tokens_user_id_idx ON verification_tokens (user_id);
