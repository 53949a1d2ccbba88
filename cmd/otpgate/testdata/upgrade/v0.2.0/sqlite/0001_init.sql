-- The directory: who gets the codes for an account.
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    phone      TEXT NOT NULL,
    status     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
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
    fingerprint  BLOB NOT NULL,
    state        TEXT NOT NULL,
    result       TEXT NOT NULL,
    reply_id     TEXT NOT NULL,
    challenge_id TEXT NOT NULL,
    claim_token  TEXT NOT NULL,
    claimed_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, id)
);
CREATE INDEX requests_by_created ON requests (created_at);

-- One row per code sent; the code itself only as an HMAC.
CREATE TABLE challenges (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    phone      TEXT NOT NULL,
    code_mac   BLOB NOT NULL,
    state      TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX challenges_by_account ON challenges (account_id, state);
CREATE INDEX challenges_by_expiry ON challenges (expires_at);

-- Budget events: sends and failed verifications per account and per phone.
CREATE TABLE events (
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX events_by_subject ON events (kind, subject, at);
CREATE INDEX events_by_time ON events (at);
