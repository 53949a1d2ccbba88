// Package sqlstore is the SQL both stores share: the statements of a
// transaction and the mapping between their rows and otp's types, written
// once, with a small Dialect for what differs between SQLite and PostgreSQL
// (placeholders, row locking, the name of a row's physical id, collation).
//
// The engines keep what really differs: how a transaction begins, commits
// and is retried, how statements travel (SQLite: prepared statements on one
// connection; PostgreSQL: pipelined batches), and their migrations.
package sqlstore

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// Conn runs the statements of one transaction for Tx. Errors come back
// wrapped with what (e.g. "read request") and the engine's name.
type Conn interface {
	// Exec runs a statement whose outcome the caller needs no sooner than
	// the next QueryRow or the commit: an engine may send it later, with
	// the next statement whose answer is needed, and report its failure
	// then.
	Exec(what, query string, args ...any) error
	// QueryRow runs a statement and scans its first row into dest; found
	// is false when it returned none. Every Exec before it has run when it
	// returns, and an error of theirs is its error.
	QueryRow(what, query string, args []any, dest ...any) (found bool, err error)
}

// Dialect is what differs between the engines' SQL.
type Dialect struct {
	// Numbered placeholders ($1, $2, …) instead of ?.
	Numbered bool
	// ForUpdate follows a read of rows the transaction may then change:
	// " FOR UPDATE" where writers run concurrently; "" where one writer at
	// a time runs (SQLite), which already makes read-then-write safe.
	ForUpdate string
	// RowID names a row's physical id, to delete one of several equal rows.
	RowID string
	// Bytewise follows a text column in ORDER BY so that it sorts byte by
	// byte whatever the database's collation (SQLite's BINARY does already).
	Bytewise string
	// AnyOf wraps a subquery of row ids for "row id = any of them":
	// PostgreSQL's = ANY(ARRAY(…)) makes a TID scan of the batch, where IN
	// (…) would join with the whole table.
	AnyOf func(subquery string) string
	// Locks has PostgreSQL's lock rows (the locks table, migration 0001):
	// CountEvents and SupersedeChallenges first take the row of their
	// subject, so that concurrent writers of one subject serialize. With
	// one writer at a time there is nothing to serialize.
	Locks bool
}

// SQLite and PostgreSQL are the two dialects.
var (
	SQLite = Dialect{RowID: "rowid", AnyOf: func(q string) string { return " IN (" + q + ")" }}

	PostgreSQL = Dialect{Numbered: true, ForUpdate: " FOR UPDATE", RowID: "ctid", Bytewise: ` COLLATE "C"`, Locks: true,
		AnyOf: func(q string) string { return " = ANY(ARRAY(" + q + "))" }}
)

// Rebind writes query's ? placeholders the dialect's way. The statements
// here hold no ? in literals.
func (d Dialect) Rebind(query string) string {
	if !d.Numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Statements are the statements of transactions in one dialect, built once.
type Statements struct {
	LockRequest, InsertRequest, UpdateRequest, DeleteRequest   string
	AccountByPhone, AccountByID, AccountByAssociation          string
	AccountByCard, AccountByToken                              string
	CountEvents, AddEvent, DeleteEvent                         string
	InsertChallenge, LockChallenge, UpdateChallenge, Supersede string
	RecordSubmission, SubmitChallenge, Lock                    string
	RecordDelivery                                             string

	// dialect builds the statements whose shape depends on their
	// arguments (CountMany, LockMany); shapes caches them by shape.
	dialect Dialect
	shapes  sync.Map // string → string
}

// shaped is the statement of a shape (its key in shapes), built once.
func (q *Statements) shaped(key string, build func() string) string {
	if v, ok := q.shapes.Load(key); ok {
		return v.(string)
	}
	v, _ := q.shapes.LoadOrStore(key, q.dialect.Rebind(build()))
	return v.(string)
}

// CountMany is one statement that makes several counts of CountEvents, a
// row of one column per count: subjects[i] is how many subjects count i
// sums. Its arguments are, per count, the kind, the subjects, the time
// after which (Unix milliseconds) and the limit.
func (q *Statements) CountMany(subjects []int) string {
	key := fmt.Sprint("count", subjects)
	return q.shaped(key, func() string {
		var b strings.Builder
		b.WriteString("SELECT ")
		for i, n := range subjects {
			if i > 0 {
				b.WriteString(", ")
			}
			// A scalar subquery per count: each is an index range scan of
			// events_by_subject (kind, subject, at) that stops at the limit.
			fmt.Fprintf(&b, "(SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE kind = ? AND subject IN (?%s) AND at > ? LIMIT ?) AS c%d)",
				strings.Repeat(", ?", n-1), i)
		}
		return b.String()
	})
}

// AddEvents inserts n events in one statement: its arguments are kind,
// subject and time of each.
func (q *Statements) AddEvents(n int) string {
	return q.shaped(fmt.Sprint("add", n), func() string {
		return `INSERT INTO events (kind, subject, at) VALUES (?, ?, ?)` + strings.Repeat(`, (?, ?, ?)`, n-1)
	})
}

// LockMany takes n lock rows in one statement (dialects with Locks): its
// arguments are space and key of each, in the order they are taken. The
// upsert takes a row, creating it if needed: it waits while another
// transaction holds the row, and a row that Purge deleted meanwhile is
// inserted again.
func (q *Statements) LockMany(n int) string {
	return q.shaped(fmt.Sprint("lock", n), func() string {
		return `INSERT INTO locks (space, key) VALUES (?, ?)` + strings.Repeat(`, (?, ?)`, n-1) +
			` ON CONFLICT (space, key) DO UPDATE SET key = EXCLUDED.key`
	})
}

// fixed are the statements' fields, Lock last ("" without lock rows): the
// one list that Statements rebinds and All returns.
func (q *Statements) fixed() []*string {
	return []*string{&q.LockRequest, &q.InsertRequest, &q.UpdateRequest, &q.DeleteRequest,
		&q.AccountByPhone, &q.AccountByID, &q.AccountByAssociation, &q.AccountByCard, &q.AccountByToken,
		&q.CountEvents, &q.AddEvent, &q.DeleteEvent, &q.InsertChallenge, &q.LockChallenge, &q.UpdateChallenge,
		&q.Supersede, &q.RecordSubmission, &q.SubmitChallenge, &q.RecordDelivery, &q.Lock}
}

// All lists every statement (for engines that prepare them at start).
func (q *Statements) All() []string {
	var all []string
	for _, p := range q.fixed() {
		if *p != "" {
			all = append(all, *p)
		}
	}
	return all
}

const (
	requestColumns = `fingerprint, secret_id, state, result, reply_id, challenge_id, sends, claim_token, claimed_at, created_at,
		card_amount_micros, card_currency, card_last4`
	accountColumns = `a.id, a.phone, a.status`
)

// Statements builds the dialect's statements.
func (d Dialect) Statements() *Statements {
	cardLookup := func(table string) string {
		return `SELECT ` + accountColumns + `, c.secret_id, c.last4, c.expiry_year, c.expiry_month
		FROM ` + table + ` c JOIN accounts a ON a.id = c.account_id WHERE c.hash = ?`
	}
	q := &Statements{
		LockRequest: `SELECT ` + requestColumns + ` FROM requests WHERE scope = ? AND method = ? AND id = ?` + d.ForUpdate,
		InsertRequest: `INSERT INTO requests (scope, id, method, ` + requestColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		UpdateRequest: `UPDATE requests SET state = ?, result = ?, challenge_id = ?, sends = ?, claim_token = ?, claimed_at = ?
		WHERE scope = ? AND method = ? AND id = ?`,
		DeleteRequest:        `DELETE FROM requests WHERE scope = ? AND method = ? AND id = ?`,
		AccountByPhone:       `SELECT ` + accountColumns + ` FROM accounts a WHERE a.phone = ? ORDER BY a.status <> 'active', a.id` + d.Bytewise + ` LIMIT 1`,
		AccountByID:          `SELECT ` + accountColumns + ` FROM accounts a WHERE a.id = ?`,
		AccountByAssociation: `SELECT ` + accountColumns + ` FROM accounts a JOIN associations s ON s.account_id = a.id WHERE s.id = ?`,
		AccountByCard:        cardLookup("cards"),
		AccountByToken:       cardLookup("tokens"),
		CountEvents:          `SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE kind = ? AND subject = ? AND at > ? LIMIT ?) AS recent`,
		AddEvent:             `INSERT INTO events (kind, subject, at) VALUES (?, ?, ?)`,
		DeleteEvent: `DELETE FROM events WHERE ` + d.RowID + ` = (SELECT ` + d.RowID + ` FROM events
		WHERE kind = ? AND subject = ? AND at = ? LIMIT 1)`,
		InsertChallenge: `INSERT INTO challenges (id, account_id, code_mac, secret_id, state, attempts, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		LockChallenge: `SELECT account_id, code_mac, secret_id, state, attempts, created_at, expires_at,
		provider, provider_message_id, delivery_state, delivered_at
		FROM challenges WHERE id = ?` + d.ForUpdate,
		UpdateChallenge: `UPDATE challenges SET code_mac = ?, secret_id = ?, state = ?, attempts = ?, expires_at = ? WHERE id = ?`,
		Supersede:       `UPDATE challenges SET state = ? WHERE account_id = ? AND state IN (?, ?)`,
		RecordSubmission: `UPDATE challenges SET provider = ?, provider_message_id = NULLIF(?, ''),
		delivery_state = ?, delivered_at = NULL WHERE id = ?`,
		SubmitChallenge: `UPDATE challenges SET code_mac = ?, secret_id = ?, state = ?, attempts = ?, expires_at = ?,
		provider = ?, provider_message_id = NULLIF(?, ''), delivery_state = ?, delivered_at = NULL WHERE id = ?`,
		// A final state stays as it is, so that a repeated or late receipt
		// changes nothing.
		RecordDelivery: `UPDATE challenges SET
		delivery_state = CASE WHEN delivery_state IN (?, ?, ?, ?) THEN delivery_state ELSE ? END,
		delivered_at = CASE WHEN delivery_state IN (?, ?, ?, ?) THEN delivered_at ELSE ? END
		WHERE provider = ? AND provider_message_id = ?`,
		dialect: d,
	}
	for _, p := range q.fixed() {
		*p = d.Rebind(*p)
	}
	if d.Locks {
		q.Lock = q.LockMany(1)
	}
	return q
}

// PurgeStep deletes, in one statement, at most a batch of a table's rows
// past their retention: Query's arguments are Cut (Unix milliseconds) and
// the batch size.
type PurgeStep struct {
	Table, Query string
	Cut          int64
}

// PurgeSteps are the statements of Purge, in its order.
func (d Dialect) PurgeSteps(p otp.PurgeBefore) []PurgeStep {
	var steps []PurgeStep
	for _, s := range []struct {
		table, column string
		cut           time.Time
	}{
		{"requests", "created_at", p.Requests},
		{"challenges", "expires_at", p.Challenges},
		{"events", "at", p.Events},
	} {
		query := `DELETE FROM ` + s.table + ` WHERE ` + d.RowID +
			d.AnyOf(`SELECT `+d.RowID+` FROM `+s.table+` WHERE `+s.column+` < ? LIMIT ?`)
		steps = append(steps, PurgeStep{Table: s.table, Query: d.Rebind(query), Cut: s.cut.UnixMilli()})
	}
	return steps
}

// RecordDeliveryArgs are the arguments of Statements.RecordDelivery.
func RecordDeliveryArgs(provider, messageID string, state otp.DeliveryState, at time.Time) []any {
	f := finalStates
	return []any{f[0], f[1], f[2], f[3], string(state), f[0], f[1], f[2], f[3], at.UnixMilli(), provider, messageID}
}

// finalStates are the delivery states that a receipt does not change.
var finalStates = [4]string{string(otp.DeliveryDelivered), string(otp.DeliveryUndeliverable), string(otp.DeliveryExpired), string(otp.DeliveryFailed)}

// Tx is otp.Tx over a Conn: the row mapping of both engines.
type Tx struct {
	conn Conn
	q    *Statements
	// locked holds the lock rows this transaction holds already.
	locked map[lock]bool
	// answers: the transaction wrote an idempotency record in state done.
	answers bool
	// OnAnswer, when set, is called when the transaction first writes an
	// answer, before that write is queued: an engine that commits some
	// transactions without waiting for the disk makes this one durable.
	OnAnswer func()
}

type lock struct{ space, key string }

var _ otp.Tx = (*Tx)(nil)

// NewTx is a transaction of statements q (of one dialect) on conn.
func NewTx(conn Conn, q *Statements) *Tx { return &Tx{conn: conn, q: q} }

// lock takes the lock row (space, key) until the end of the transaction,
// where the dialect has lock rows. Statements after it see what the
// previous holder committed.
func (t *Tx) lock(space, key string) error {
	return t.lockAll(space, []string{key})
}

// Conn is the connection the transaction runs on (for the engines' tests).
func (t *Tx) Conn() Conn { return t.conn }

// StoresAnswer reports whether the transaction wrote an answer (a record in
// state done): it must be durable before the answer leaves, whatever
// otp.NonDurable asked.
func (t *Tx) StoresAnswer() bool { return t.answers }

// answer notes a record written in state done.
func (t *Tx) answer(r *otp.Request) {
	if r.State != otp.RequestDone || t.answers {
		return
	}
	t.answers = true
	if t.OnAnswer != nil {
		t.OnAnswer()
	}
}

// Bytes keeps a nil slice from becoming NULL in a NOT NULL column.
func Bytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// LockRequest reads the record, locked for the rest of the transaction.
func (t *Tx) LockRequest(scope, method, id string) (*otp.Request, error) {
	var r otp.Request
	var state string
	var claimedAt, createdAt int64
	var card cardColumns
	found, err := t.conn.QueryRow("read request", t.q.LockRequest, []any{scope, method, id},
		&r.Fingerprint, &r.SecretID, &state, &r.Result, &r.ReplyID, &r.ChallengeID, &r.Sends, &r.ClaimToken, &claimedAt, &createdAt,
		&card.amountMicros, &card.currency, &card.last4)
	if !found || err != nil {
		return nil, err
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

// InsertRequest inserts the record. Where writers are concurrent, another
// transaction that inserted the same key and committed makes it fail with
// a unique violation, which the engine retries.
func (t *Tx) InsertRequest(r *otp.Request) error {
	t.answer(r)
	card := columnsOf(r.Card)
	return t.conn.Exec("insert request", t.q.InsertRequest,
		r.Scope, r.ID, r.Method, Bytes(r.Fingerprint), r.SecretID, string(r.State), r.Result, r.ReplyID, r.ChallengeID, r.Sends, r.ClaimToken,
		r.ClaimedAt.UnixMilli(), r.CreatedAt.UnixMilli(), card.amountMicros, card.currency, card.last4)
}

// UpdateRequest rewrites the record's mutable columns.
func (t *Tx) UpdateRequest(r *otp.Request) error {
	t.answer(r)
	return t.conn.Exec("update request", t.q.UpdateRequest,
		string(r.State), r.Result, r.ChallengeID, r.Sends, r.ClaimToken, r.ClaimedAt.UnixMilli(), r.Scope, r.Method, r.ID)
}

// DeleteRequest removes the record.
func (t *Tx) DeleteRequest(scope, method, id string) error {
	return t.conn.Exec("delete request", t.q.DeleteRequest, scope, method, id)
}

func (t *Tx) account(query, arg string) (*otp.Account, error) {
	var a otp.Account
	var status string
	found, err := t.conn.QueryRow("read account", query, []any{arg}, &a.ID, &a.Phone, &status)
	if !found || err != nil {
		return nil, err
	}
	a.Status = otp.AccountStatus(status)
	return &a, nil
}

// AccountByPhone prefers an active account when several share the phone, then
// the lowest id (byte by byte), so that the choice is stable.
func (t *Tx) AccountByPhone(phone string) (*otp.Account, error) {
	return t.account(t.q.AccountByPhone, phone)
}

// AccountByID finds an account by its id.
func (t *Tx) AccountByID(id string) (*otp.Account, error) {
	return t.account(t.q.AccountByID, id)
}

// AccountByAssociation finds the account of an association id.
func (t *Tx) AccountByAssociation(associationID string) (*otp.Account, error) {
	return t.account(t.q.AccountByAssociation, associationID)
}

// AccountByCard finds a card by its hash, and its account.
func (t *Tx) AccountByCard(hash []byte) (*otp.Account, *otp.Card, error) {
	return t.accountByHash(t.q.AccountByCard, "card", hash)
}

// AccountByToken finds a token by its hash, and its account.
func (t *Tx) AccountByToken(hash []byte) (*otp.Account, *otp.Card, error) {
	return t.accountByHash(t.q.AccountByToken, "token", hash)
}

func (t *Tx) accountByHash(query, noun string, hash []byte) (*otp.Account, *otp.Card, error) {
	var a otp.Account
	c := otp.Card{Hash: hash}
	var status string
	found, err := t.conn.QueryRow("read "+noun, query, []any{Bytes(hash)},
		&a.ID, &a.Phone, &status, &c.SecretID, &c.Last4, &c.ExpiryYear, &c.ExpiryMonth)
	if !found || err != nil {
		return nil, nil, err
	}
	a.Status = otp.AccountStatus(status)
	return &a, &c, nil
}

// CountEvents first locks the subject (where writers are concurrent), so
// that a transaction that counts and then adds an event is not overtaken by
// another one doing the same: a budget holds across instances as it does
// with one writer.
func (t *Tx) CountEvents(kind otp.EventKind, subject string, since time.Time, atMost int) (int, error) {
	if err := t.lock("events", subject); err != nil {
		return 0, err
	}
	var n int
	_, err := t.conn.QueryRow("count events", t.q.CountEvents, []any{string(kind), subject, since.UnixMilli(), atMost}, &n)
	return n, err
}

// CountEventsMany first locks every subject named (where writers are
// concurrent), in one statement and in sorted order, so that two
// transactions locking overlapping subjects cannot deadlock; then it makes
// every count in one statement. On PostgreSQL both travel in one round
// trip.
func (t *Tx) CountEventsMany(counts []otp.EventCount) ([]int, error) {
	ns := make([]int, len(counts))
	var shape []int
	var args, dest []any
	var subjects []string
	for i, c := range counts {
		if len(c.Subjects) == 0 || c.AtMost <= 0 {
			continue // nothing to count, or nothing it could find (SQLite reads LIMIT -1 as none)
		}
		shape = append(shape, len(c.Subjects))
		args = append(args, string(c.Kind))
		for _, s := range c.Subjects {
			args = append(args, s)
		}
		args = append(args, c.Since.UnixMilli(), c.AtMost)
		dest = append(dest, &ns[i])
		subjects = append(subjects, c.Subjects...)
	}
	if len(shape) == 0 {
		return ns, nil
	}
	if err := t.lockAll("events", subjects); err != nil {
		return nil, err
	}
	if _, err := t.conn.QueryRow("count events", t.q.CountMany(shape), args, dest...); err != nil {
		return nil, err
	}
	return ns, nil
}

// lockAll takes the lock rows of keys in space that the transaction does
// not hold yet, sorted, in one statement.
func (t *Tx) lockAll(space string, keys []string) error {
	if t.q.Lock == "" {
		return nil
	}
	var todo []string
	for _, k := range keys {
		if !t.locked[lock{space, k}] {
			todo = append(todo, k)
		}
	}
	slices.Sort(todo)
	todo = slices.Compact(todo)
	if len(todo) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(todo))
	for _, k := range todo {
		args = append(args, space, k)
	}
	if err := t.conn.Exec("lock "+space, t.q.LockMany(len(todo)), args...); err != nil {
		return err
	}
	if t.locked == nil {
		t.locked = make(map[lock]bool)
	}
	for _, k := range todo {
		t.locked[lock{space, k}] = true
	}
	return nil
}

// AddEvent adds one budget event.
func (t *Tx) AddEvent(kind otp.EventKind, subject string, at time.Time) error {
	return t.conn.Exec("add event", t.q.AddEvent, string(kind), subject, at.UnixMilli())
}

// AddEvents adds one budget event under each subject, in one statement.
func (t *Tx) AddEvents(kind otp.EventKind, subjects []string, at time.Time) error {
	if len(subjects) == 0 {
		return nil
	}
	args := make([]any, 0, 3*len(subjects))
	for _, s := range subjects {
		args = append(args, string(kind), s, at.UnixMilli())
	}
	return t.conn.Exec("add events", t.q.AddEvents(len(subjects)), args...)
}

// DeleteEvent removes one event of the subject at exactly at.
func (t *Tx) DeleteEvent(kind otp.EventKind, subject string, at time.Time) error {
	return t.conn.Exec("delete event", t.q.DeleteEvent, string(kind), subject, at.UnixMilli())
}

// InsertChallenge inserts a challenge, with no delivery yet.
func (t *Tx) InsertChallenge(c *otp.Challenge) error {
	return t.conn.Exec("insert challenge", t.q.InsertChallenge,
		c.ID, c.AccountID, Bytes(c.CodeMAC), c.SecretID, string(c.State), c.Attempts, c.CreatedAt.UnixMilli(), c.ExpiresAt.UnixMilli())
}

// LockChallenge reads the challenge, locked for the rest of the transaction.
func (t *Tx) LockChallenge(id string) (*otp.Challenge, error) {
	var c otp.Challenge
	var state string
	var createdAt, expiresAt int64
	var d deliveryColumns
	found, err := t.conn.QueryRow("read challenge", t.q.LockChallenge, []any{id},
		&c.AccountID, &c.CodeMAC, &c.SecretID, &state, &c.Attempts, &createdAt, &expiresAt,
		&d.provider, &d.messageID, &d.state, &d.at)
	if !found || err != nil {
		return nil, err
	}
	c.ID, c.State = id, otp.ChallengeState(state)
	c.CreatedAt, c.ExpiresAt = time.UnixMilli(createdAt), time.UnixMilli(expiresAt)
	c.Delivery = d.delivery()
	return &c, nil
}

// deliveryColumns are a challenge's delivery columns (migration 0007),
// NULL until a provider accepted its SMS.
type deliveryColumns struct {
	provider, messageID, state *string
	at                         *int64
}

func (d deliveryColumns) delivery() otp.Delivery {
	v := otp.Delivery{
		Submission: otp.Submission{Provider: deref(d.provider), MessageID: deref(d.messageID)},
		State:      otp.DeliveryState(deref(d.state)),
	}
	if d.at != nil {
		v.At = time.UnixMilli(*d.at)
	}
	return v
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// RecordSubmission records the provider's acceptance of the challenge's SMS.
func (t *Tx) RecordSubmission(challengeID string, s otp.Submission) error {
	return t.conn.Exec("record submission", t.q.RecordSubmission, s.Provider, s.MessageID, string(otp.DeliverySubmitted), challengeID)
}

// UpdateChallenge rewrites the challenge's mutable columns.
func (t *Tx) UpdateChallenge(c *otp.Challenge) error {
	return t.conn.Exec("update challenge", t.q.UpdateChallenge,
		Bytes(c.CodeMAC), c.SecretID, string(c.State), c.Attempts, c.ExpiresAt.UnixMilli(), c.ID)
}

// SubmitChallenge rewrites the challenge's mutable columns and records the
// provider's acceptance of its SMS, in one statement.
func (t *Tx) SubmitChallenge(c *otp.Challenge, s otp.Submission) error {
	return t.conn.Exec("submit challenge", t.q.SubmitChallenge,
		Bytes(c.CodeMAC), c.SecretID, string(c.State), c.Attempts, c.ExpiresAt.UnixMilli(),
		s.Provider, s.MessageID, string(otp.DeliverySubmitted), c.ID)
}

// SupersedeChallenges first locks the account (where writers are
// concurrent), so that of two transactions that each retire the account's
// codes and then insert a new one, the second sees and retires the first
// one's: at most one code per account is valid.
func (t *Tx) SupersedeChallenges(accountID string) error {
	if err := t.lock("challenges", accountID); err != nil {
		return err
	}
	return t.conn.Exec("supersede challenges", t.q.Supersede,
		string(otp.ChallengeSuperseded), accountID, string(otp.ChallengeSending), string(otp.ChallengeLive))
}

// Wrap is the error of a statement, as both engines word it.
func Wrap(engine, what string, err error) error {
	return fmt.Errorf("%s: %s: %w", engine, what, err)
}
