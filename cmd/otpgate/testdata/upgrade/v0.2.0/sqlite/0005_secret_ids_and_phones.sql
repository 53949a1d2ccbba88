-- Secrets rotate (README "Rotating secrets"): every keyed hash at rest names
-- the secret it is keyed with, so that a newer secret can write while the
-- older ones still verify what they keyed. The rows already there were keyed
-- with the one secret there was, whose id is 'legacy' (the id a secret file
-- of a single hex line gets).
ALTER TABLE requests ADD COLUMN secret_id TEXT NOT NULL DEFAULT 'legacy';
ALTER TABLE challenges ADD COLUMN secret_id TEXT NOT NULL DEFAULT 'legacy';
ALTER TABLE cards ADD COLUMN secret_id TEXT NOT NULL DEFAULT 'legacy';
ALTER TABLE tokens ADD COLUMN secret_id TEXT NOT NULL DEFAULT 'legacy';

-- Phone numbers at rest (SPEC §10): only the directory keeps them. A
-- challenge's phone is its account's, looked up by the account id when it is
-- needed, so the column goes, numbers and all (one process uses an SQLite
-- file: no instance of the previous release still names it; on PostgreSQL it
-- stays a release longer, emptied). Budget events named a phone by its number
-- ('phone:+91…'); SQL cannot compute the keyed hash that names it now, as the
-- database has no secret, so serve converts those events at start
-- (otp.Service.HashLegacyPhones).
ALTER TABLE challenges DROP COLUMN phone;
