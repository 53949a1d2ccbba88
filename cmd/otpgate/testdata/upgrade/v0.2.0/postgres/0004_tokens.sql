-- India Cards: network tokens of cards (Google's paymentToken), by the keyed
-- hash of their number, as cards are. A table of their own, so that a token
-- number equal to some card number finds only what it is. The twin of
-- sqlite/migrations/0004_tokens.sql.
CREATE TABLE tokens (
    hash         BYTEA PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    last4        TEXT NOT NULL,
    expiry_year  INTEGER NOT NULL,
    expiry_month INTEGER NOT NULL
);
CREATE INDEX tokens_by_account ON tokens (account_id);
