-- India Cards: cards by the keyed hash of their number (never the number),
-- and the count of SMS sent under an authentication session. The twin of
-- sqlite/migrations/0002_cards.sql: the versions of both dialects match.
CREATE TABLE cards (
    hash         BYTEA PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    last4        TEXT NOT NULL,
    expiry_year  INTEGER NOT NULL,
    expiry_month INTEGER NOT NULL
);
CREATE INDEX cards_by_account ON cards (account_id);

ALTER TABLE requests ADD COLUMN sends INTEGER NOT NULL DEFAULT 0;
