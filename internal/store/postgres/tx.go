package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otpgate/otpgate/internal/otp"
)

// pgTx is one attempt at a transaction.
type pgTx struct {
	ctx context.Context
	tx  pgx.Tx
	// retry is set by the first failed statement that makes the attempt worth
	// running again; retryErr is that failure.
	retry    retryClass
	retryErr error
	// locked holds the lock rows this transaction holds already.
	locked map[lockKey]bool
}

type lockKey struct{ space, key string }

var _ otp.Tx = (*pgTx)(nil)

// fail wraps the error of a statement and notes whether it makes the attempt
// retryable. Once a statement has failed, PostgreSQL aborts the transaction,
// so only the first failure counts.
func (t *pgTx) fail(what string, err error) error {
	if t.retry == final {
		if c := classify(t.ctx, err, t.tx.Conn()); c != final {
			t.retry, t.retryErr = c, fmt.Errorf("postgres: %s: %w", what, err)
		}
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

func (t *pgTx) exec(what, query string, args ...any) error {
	if _, err := t.tx.Exec(t.ctx, query, args...); err != nil {
		return t.fail(what, err)
	}
	return nil
}

// lock takes the lock row (space, key) until the end of the transaction,
// creating it if needed, in one statement. The upsert waits while another
// transaction holds the row, and a row that Purge deletes meanwhile is
// inserted again. Statements after it see what the previous holder committed.
func (t *pgTx) lock(space, key string) error {
	k := lockKey{space, key}
	if t.locked[k] {
		return nil
	}
	err := t.exec("lock "+space, `INSERT INTO locks (space, key) VALUES ($1, $2)
		ON CONFLICT (space, key) DO UPDATE SET key = EXCLUDED.key`, space, key)
	if err != nil {
		return err
	}
	if t.locked == nil {
		t.locked = make(map[lockKey]bool)
	}
	t.locked[k] = true
	return nil
}

// bytes keeps a nil slice from becoming NULL in a NOT NULL column.
func bytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (t *pgTx) LockRequest(scope, method, id string) (*otp.Request, error) {
	var r otp.Request
	var state string
	var claimedAt, createdAt int64
	var card cardColumns
	err := t.tx.QueryRow(t.ctx, `SELECT fingerprint, secret_id, state, result, reply_id, challenge_id, sends, claim_token, claimed_at, created_at,
		card_amount_micros, card_currency, card_last4
		FROM requests WHERE scope = $1 AND method = $2 AND id = $3 FOR UPDATE`, scope, method, id).
		Scan(&r.Fingerprint, &r.SecretID, &state, &r.Result, &r.ReplyID, &r.ChallengeID, &r.Sends, &r.ClaimToken, &claimedAt, &createdAt,
			&card.amountMicros, &card.currency, &card.last4)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, t.fail("read request", err)
	}
	r.Scope, r.Method, r.ID, r.State = scope, method, id, otp.RequestState(state)
	r.ClaimedAt, r.CreatedAt = time.UnixMilli(claimedAt), time.UnixMilli(createdAt)
	r.Card = card.sms()
	return &r, nil
}

// cardColumns are a record's card_* columns (migration 0006): all NULL for
// a record without a card SMS.
type cardColumns struct {
	amountMicros    *int64
	currency, last4 *string
}

func columnsOf(c *otp.CardSMS) cardColumns {
	if c == nil {
		return cardColumns{}
	}
	return cardColumns{&c.AmountMicros, &c.CurrencyCode, &c.Last4}
}

// sms is the record's Card: nil when its columns are NULL.
func (c cardColumns) sms() *otp.CardSMS {
	if c.currency == nil || c.amountMicros == nil || c.last4 == nil {
		return nil
	}
	return &otp.CardSMS{AmountMicros: *c.amountMicros, CurrencyCode: *c.currency, Last4: *c.last4}
}

// InsertRequest fails with a unique violation when another transaction
// inserted the same (scope, method, id) and committed; the attempt is then
// retried, and LockRequest finds that row.
func (t *pgTx) InsertRequest(r *otp.Request) error {
	card := columnsOf(r.Card)
	return t.exec("insert request", `INSERT INTO requests (scope, id, method, fingerprint, secret_id, state, result, reply_id, challenge_id, sends, claim_token, claimed_at, created_at,
		card_amount_micros, card_currency, card_last4)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		r.Scope, r.ID, r.Method, bytes(r.Fingerprint), r.SecretID, string(r.State), r.Result, r.ReplyID, r.ChallengeID, r.Sends, r.ClaimToken,
		r.ClaimedAt.UnixMilli(), r.CreatedAt.UnixMilli(), card.amountMicros, card.currency, card.last4)
}

func (t *pgTx) UpdateRequest(r *otp.Request) error {
	return t.exec("update request", `UPDATE requests SET state = $1, result = $2, challenge_id = $3, sends = $4, claim_token = $5, claimed_at = $6
		WHERE scope = $7 AND method = $8 AND id = $9`,
		string(r.State), r.Result, r.ChallengeID, r.Sends, r.ClaimToken, r.ClaimedAt.UnixMilli(), r.Scope, r.Method, r.ID)
}

func (t *pgTx) DeleteRequest(scope, method, id string) error {
	return t.exec("delete request", `DELETE FROM requests WHERE scope = $1 AND method = $2 AND id = $3`, scope, method, id)
}

func (t *pgTx) account(where string, arg string) (*otp.Account, error) {
	var a otp.Account
	var status string
	err := t.tx.QueryRow(t.ctx, `SELECT a.id, a.phone, a.status FROM accounts a `+where, arg).Scan(&a.ID, &a.Phone, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, t.fail("read account", err)
	}
	a.Status = otp.AccountStatus(status)
	return &a, nil
}

// AccountByPhone prefers an active account when several share the phone, then
// the lowest id, so that the choice is stable.
func (t *pgTx) AccountByPhone(phone string) (*otp.Account, error) {
	// COLLATE "C": the lowest id byte by byte, as SQLite compares, whatever
	// the database's collation.
	return t.account(`WHERE a.phone = $1 ORDER BY a.status <> 'active', a.id COLLATE "C" LIMIT 1`, phone)
}

func (t *pgTx) AccountByID(id string) (*otp.Account, error) {
	return t.account(`WHERE a.id = $1`, id)
}

func (t *pgTx) AccountByAssociation(associationID string) (*otp.Account, error) {
	return t.account(`JOIN associations s ON s.account_id = a.id WHERE s.id = $1`, associationID)
}

func (t *pgTx) AccountByCard(hash []byte) (*otp.Account, *otp.Card, error) {
	return t.accountByHash(cardList, hash)
}

func (t *pgTx) AccountByToken(hash []byte) (*otp.Account, *otp.Card, error) {
	return t.accountByHash(tokenList, hash)
}

// accountByHash finds a card or a token, by the table it is in.
func (t *pgTx) accountByHash(table cardTable, hash []byte) (*otp.Account, *otp.Card, error) {
	var a otp.Account
	c := otp.Card{Hash: hash}
	var status string
	err := t.tx.QueryRow(t.ctx, `SELECT a.id, a.phone, a.status, c.secret_id, c.last4, c.expiry_year, c.expiry_month
		FROM `+table.name+` c JOIN accounts a ON a.id = c.account_id WHERE c.hash = $1`, bytes(hash)).
		Scan(&a.ID, &a.Phone, &status, &c.SecretID, &c.Last4, &c.ExpiryYear, &c.ExpiryMonth)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, t.fail("read "+table.noun, err)
	}
	a.Status = otp.AccountStatus(status)
	return &a, &c, nil
}

// CountEvents first locks the subject, so that a transaction that counts and
// then adds an event is not overtaken by another one doing the same: a budget
// holds across instances as it does with one writer.
func (t *pgTx) CountEvents(kind otp.EventKind, subject string, since time.Time, atMost int) (int, error) {
	if err := t.lock("events", subject); err != nil {
		return 0, err
	}
	var n int
	err := t.tx.QueryRow(t.ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE kind = $1 AND subject = $2 AND at > $3 LIMIT $4) AS recent`,
		string(kind), subject, since.UnixMilli(), atMost).Scan(&n)
	if err != nil {
		return 0, t.fail("count events", err)
	}
	return n, nil
}

func (t *pgTx) AddEvent(kind otp.EventKind, subject string, at time.Time) error {
	return t.exec("add event", `INSERT INTO events (kind, subject, at) VALUES ($1, $2, $3)`, string(kind), subject, at.UnixMilli())
}

func (t *pgTx) DeleteEvent(kind otp.EventKind, subject string, at time.Time) error {
	return t.exec("delete event", `DELETE FROM events WHERE ctid = (SELECT ctid FROM events WHERE kind = $1 AND subject = $2 AND at = $3 LIMIT 1)`,
		string(kind), subject, at.UnixMilli())
}

func (t *pgTx) InsertChallenge(c *otp.Challenge) error {
	return t.exec("insert challenge", `INSERT INTO challenges (id, account_id, code_mac, secret_id, state, attempts, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.ID, c.AccountID, bytes(c.CodeMAC), c.SecretID, string(c.State), c.Attempts, c.CreatedAt.UnixMilli(), c.ExpiresAt.UnixMilli())
}

func (t *pgTx) LockChallenge(id string) (*otp.Challenge, error) {
	var c otp.Challenge
	var state string
	var createdAt, expiresAt int64
	var provider, messageID, delivery *string
	var deliveredAt *int64
	err := t.tx.QueryRow(t.ctx, `SELECT account_id, code_mac, secret_id, state, attempts, created_at, expires_at,
		provider, provider_message_id, delivery_state, delivered_at
		FROM challenges WHERE id = $1 FOR UPDATE`, id).
		Scan(&c.AccountID, &c.CodeMAC, &c.SecretID, &state, &c.Attempts, &createdAt, &expiresAt,
			&provider, &messageID, &delivery, &deliveredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, t.fail("read challenge", err)
	}
	c.ID, c.State = id, otp.ChallengeState(state)
	c.CreatedAt, c.ExpiresAt = time.UnixMilli(createdAt), time.UnixMilli(expiresAt)
	c.Delivery.Provider, c.Delivery.MessageID = deref(provider), deref(messageID)
	c.Delivery.State = otp.DeliveryState(deref(delivery))
	if deliveredAt != nil {
		c.Delivery.At = time.UnixMilli(*deliveredAt)
	}
	return &c, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (t *pgTx) RecordSubmission(challengeID string, s otp.Submission) error {
	return t.exec("record submission", `UPDATE challenges SET provider = $1, provider_message_id = NULLIF($2, ''),
		delivery_state = $3, delivered_at = NULL WHERE id = $4`,
		s.Provider, s.MessageID, string(otp.DeliverySubmitted), challengeID)
}

func (t *pgTx) UpdateChallenge(c *otp.Challenge) error {
	return t.exec("update challenge", `UPDATE challenges SET code_mac = $1, secret_id = $2, state = $3, attempts = $4, expires_at = $5 WHERE id = $6`,
		bytes(c.CodeMAC), c.SecretID, string(c.State), c.Attempts, c.ExpiresAt.UnixMilli(), c.ID)
}

// SupersedeChallenges first locks the account, so that of two transactions
// that each retire the account's codes and then insert a new one, the second
// sees and retires the first one's: at most one code per account is valid.
func (t *pgTx) SupersedeChallenges(accountID string) error {
	if err := t.lock("challenges", accountID); err != nil {
		return err
	}
	return t.exec("supersede challenges", `UPDATE challenges SET state = $1 WHERE account_id = $2 AND state IN ($3, $4)`,
		string(otp.ChallengeSuperseded), accountID, string(otp.ChallengeSending), string(otp.ChallengeLive))
}
