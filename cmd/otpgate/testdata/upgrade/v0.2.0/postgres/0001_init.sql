-- The PostgreSQL twin of sqlite/migrations/0001_init.sql: the same tables and
-- columns (BYTEA for blobs, BIGINT unix milliseconds for times), plus the
-- locks table below. Keep the SQL portable: no advisory locks, no
-- LISTEN/NOTIFY, nothing an engine that speaks the PostgreSQL wire protocol
-- would lack.

-- The directory: who gets the codes for an account.
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    phone      TEXT NOT NULL,
    status     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX accounts_by_phone ON accounts (phone, id);

CREATE TABLE associations (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE
);
CREATE INDEX associations_by_account ON associations (account_id);

-- Idempotency records: the claim of a requestId and the outcome a retry gets.
CREATE TABLE requests (
    scope        TEXT NOT NULL,
    id           TEXT NOT NULL,
    method       TEXT NOT NULL,
    fingerprint  BYTEA NOT NULL,
    state        TEXT NOT NULL,
    result       TEXT NOT NULL,
    reply_id     TEXT NOT NULL,
    challenge_id TEXT NOT NULL,
    claim_token  TEXT NOT NULL,
    claimed_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, id)
);
CREATE INDEX requests_by_created ON requests (created_at);

-- One row per code sent; the code itself only as an HMAC.
CREATE TABLE challenges (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    phone      TEXT NOT NULL,
    code_mac   BYTEA NOT NULL,
    state      TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX challenges_by_account ON challenges (account_id, state);
CREATE INDEX challenges_by_expiry ON challenges (expires_at);

-- Budget events: sends and failed verifications per account and per phone.
CREATE TABLE events (
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX events_by_subject ON events (kind, subject, at);
CREATE INDEX events_by_time ON events (at);

-- Mutexes for what has no row to lock yet. Transactions run at READ COMMITTED,
-- so counting a subject's events and then adding one, or retiring an
-- account's live challenges and then inserting a new one, would race between
-- two instances. Such a transaction first upserts the row (space, key), which
-- locks it until commit: writers of one subject or account queue there, and
-- the next one's statements see what the previous one committed. SQLite needs
-- none of this: it has one writer at a time. A row holds no state; Purge
-- deletes the rows nobody holds.
CREATE TABLE locks (
    space TEXT NOT NULL,
    key   TEXT NOT NULL,
    PRIMARY KEY (space, key)
);
