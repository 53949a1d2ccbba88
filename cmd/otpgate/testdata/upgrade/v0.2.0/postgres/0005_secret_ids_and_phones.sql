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
-- needed: the numbers in challenges are erased, and this binary no longer
-- reads or writes the column. It stays, with a default, for the instances of
-- the previous release that still run while a release rolls out (otpgate
-- migrate runs before the rollout): they still name it. A later release drops
-- it. Budget events named a phone by its number ('phone:+91…'); SQL cannot
-- compute the keyed hash that names it now, as the database has no secret, so
-- serve converts those events at start (otp.Service.HashLegacyPhones).
ALTER TABLE challenges ALTER COLUMN phone SET DEFAULT '';
UPDATE challenges SET phone = '' WHERE phone <> '';
