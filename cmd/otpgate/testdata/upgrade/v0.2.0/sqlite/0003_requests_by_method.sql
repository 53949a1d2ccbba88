-- The idempotency key becomes (scope, method, id): Google reuses one requestId
-- across methods (its sendOtp and verifyOtp examples share one), and the same
-- requestId on another method is a new request, not a conflict (SPEC §4).
-- SQLite cannot change a primary key in place: copy the table into one with
-- the new key, then put it in the old one's place. Dropping the old table
-- drops its index, made again below.
CREATE TABLE requests_by_method (
    scope        TEXT NOT NULL,
    method       TEXT NOT NULL,
    id           TEXT NOT NULL,
    fingerprint  BLOB NOT NULL,
    state        TEXT NOT NULL,
    result       TEXT NOT NULL,
    reply_id     TEXT NOT NULL,
    challenge_id TEXT NOT NULL,
    sends        INTEGER NOT NULL DEFAULT 0,
    claim_token  TEXT NOT NULL,
    claimed_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, method, id)
);
INSERT INTO requests_by_method (scope, method, id, fingerprint, state, result, reply_id, challenge_id, sends, claim_token, claimed_at, created_at)
    SELECT scope, method, id, fingerprint, state, result, reply_id, challenge_id, sends, claim_token, claimed_at, created_at
    FROM requests;
DROP TABLE requests;
ALTER TABLE requests_by_method RENAME TO requests;
CREATE INDEX requests_by_created ON requests (created_at);
