// Package inmem is an otp.Store held in memory, for tests of the OTP engine
// without a database and for measuring what otpgate answers with no store
// in the way (the "in-memory ceiling" of the benchmarks). It keeps nothing
// across restarts and serves one process: never a production store.
//
// One mutex serializes transactions, which is all the isolation the Store
// contract asks for (SQLite gives no more). A transaction writes in place
// and keeps an undo log, which it replays backwards when fn fails or
// panics, so that a rolled back transaction leaves nothing behind.
//
// Times are kept in milliseconds, as the SQL stores keep them, so that a
// test passes or fails here as it would on a database.
//
// Durability means nothing here: a commit is visible to the next
// transaction at once, and lost with the process whatever the context says
// (otp.NonDurable changes nothing).
package inmem

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// DefaultBatch is how many rows one step of Purge deletes (or of
// RenameSubjects renames) at most before it lets other transactions in.
const DefaultBatch = 1000

// Store is the in-memory otp.Store. The zero value is not usable: call New.
type Store struct {
	mu sync.Mutex
	db db
	// batch bounds the rows of one step of Purge and RenameSubjects;
	// onBatch, when set, sees each step (tests).
	batch   int
	onBatch func(table string, rows int64)
}

var _ otp.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{db: newDB(), batch: DefaultBatch}
}

// SetBatch bounds the steps of Purge and RenameSubjects and reports each one
// to seen (tests).
func (s *Store) SetBatch(rows int, seen func(table string, rows int64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch, s.onBatch = rows, seen
}

// db is the data: a table per kind of record, and the indexes that the
// lookups of otp.Tx need so that none of them scans a table.
type db struct {
	requests   map[requestKey]request
	challenges map[string]challenge
	// byAccount indexes challenges by account (SupersedeChallenges);
	// byMessage by the provider's message id (RecordDelivery).
	byAccount map[string]map[string]struct{}
	byMessage map[messageKey]map[string]struct{}
	events    map[eventKey][]int64 // times in ms, in insertion order

	accounts     map[string]account
	byPhone      map[string]map[string]struct{} // phone → account ids
	associations map[string]string              // association id → account id
	cards        map[string]cardRow             // string(hash) → card
	tokens       map[string]cardRow
}

func newDB() db {
	return db{
		requests:     map[requestKey]request{},
		challenges:   map[string]challenge{},
		byAccount:    map[string]map[string]struct{}{},
		byMessage:    map[messageKey]map[string]struct{}{},
		events:       map[eventKey][]int64{},
		accounts:     map[string]account{},
		byPhone:      map[string]map[string]struct{}{},
		associations: map[string]string{},
		cards:        map[string]cardRow{},
		tokens:       map[string]cardRow{},
	}
}

type requestKey struct{ scope, method, id string }

// request is a stored otp.Request: times in ms, slices and pointers its own.
type request struct {
	r                    otp.Request
	claimedAt, createdAt int64
}

type challenge struct {
	c                    otp.Challenge
	createdAt, expiresAt int64
	deliveredAt          int64 // 0: no receipt yet
}

type messageKey struct{ provider, id string }

type eventKey struct {
	kind    otp.EventKind
	subject string
}

type account struct {
	phone  string
	status otp.AccountStatus
	// links are the association ids, card and token hashes that the
	// account's import inserted, so that a new import can remove them.
	associations, cards, tokens []string
}

type cardRow struct {
	accountID string
	card      otp.Card
}

func ms(t time.Time) int64          { return t.UnixMilli() }
func fromMS(v int64) time.Time      { return time.UnixMilli(v) }
func clone(b []byte) []byte         { return append([]byte(nil), b...) }
func cloneCard(c otp.Card) otp.Card { c.Hash = clone(c.Hash); return c }

// txn is one transaction: the data, and how to undo what it changed.
type txn struct {
	db   *db
	undo []func()
}

// rollback undoes the transaction's writes, newest first.
func (t *txn) rollback() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
	t.undo = nil
}

// set sets m[k] = v, and how to undo it.
func set[K comparable, V any](t *txn, m map[K]V, k K, v V) {
	old, had := m[k]
	t.undo = append(t.undo, func() {
		if had {
			m[k] = old
		} else {
			delete(m, k)
		}
	})
	m[k] = v
}

// del deletes m[k], and how to undo it.
func del[K comparable, V any](t *txn, m map[K]V, k K) {
	old, had := m[k]
	if !had {
		return
	}
	t.undo = append(t.undo, func() { m[k] = old })
	delete(m, k)
}

// index adds (or, with add false, removes) v to the set ix[k]; an empty set
// goes, so that the index holds no more keys than the table.
func index[K comparable](t *txn, ix map[K]map[string]struct{}, k K, v string, add bool) {
	if _, in := ix[k][v]; in == add {
		return
	}
	addTo := func() {
		vs := ix[k]
		if vs == nil {
			vs = map[string]struct{}{}
			ix[k] = vs
		}
		vs[v] = struct{}{}
	}
	removeFrom := func() {
		delete(ix[k], v)
		if len(ix[k]) == 0 {
			delete(ix, k)
		}
	}
	if add {
		addTo()
		t.undo = append(t.undo, removeFrom)
	} else {
		removeFrom()
		t.undo = append(t.undo, addTo)
	}
}

// Tx runs fn under the store's lock; fn's error or panic undoes its writes.
// fn runs once: nothing here asks for a retry.
func (s *Store) Tx(ctx context.Context, fn func(otp.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inmem: begin: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &txn{db: &s.db}
	ok := false
	defer func() {
		if !ok {
			t.rollback()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	ok = true
	return nil
}

// Read runs fn under the store's mutex, as a transaction that writes
// nothing.
func (s *Store) Read(ctx context.Context, fn func(otp.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inmem: read: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(&txn{db: &s.db})
}

// Ping reports that the store answers: it always does.
func (s *Store) Ping(ctx context.Context) error { return ctx.Err() }

// Close does nothing: there is nothing to release. It lets the store stand
// where a closable one is expected.
func (s *Store) Close() error { return nil }

func (t *txn) LockRequest(scope, method, id string) (*otp.Request, error) {
	st, ok := t.db.requests[requestKey{scope, method, id}]
	if !ok {
		return nil, nil
	}
	r := st.r
	r.Fingerprint = clone(r.Fingerprint)
	r.ClaimedAt, r.CreatedAt = fromMS(st.claimedAt), fromMS(st.createdAt)
	if r.Card != nil {
		c := *r.Card
		r.Card = &c
	}
	return &r, nil
}

func (t *txn) InsertRequest(r *otp.Request) error {
	k := requestKey{r.Scope, r.Method, r.ID}
	if _, dup := t.db.requests[k]; dup {
		return fmt.Errorf("inmem: insert request %s %s %q: the record exists", r.Scope, r.Method, r.ID)
	}
	st := request{r: *r, claimedAt: ms(r.ClaimedAt), createdAt: ms(r.CreatedAt)}
	st.r.Fingerprint = clone(r.Fingerprint)
	st.r.ClaimedAt, st.r.CreatedAt = time.Time{}, time.Time{}
	if r.Card != nil {
		c := *r.Card
		st.r.Card = &c
	}
	set(t, t.db.requests, k, st)
	return nil
}

// UpdateRequest rewrites what the SQL stores' UPDATE rewrites, and no
// more: the key, fingerprint, secret, reply id, creation time and card stay.
// A missing record is no error, as an UPDATE of no row is none.
func (t *txn) UpdateRequest(r *otp.Request) error {
	k := requestKey{r.Scope, r.Method, r.ID}
	st, ok := t.db.requests[k]
	if !ok {
		return nil
	}
	st.r.State, st.r.Result, st.r.ChallengeID, st.r.Sends, st.r.ClaimToken = r.State, r.Result, r.ChallengeID, r.Sends, r.ClaimToken
	st.claimedAt = ms(r.ClaimedAt)
	set(t, t.db.requests, k, st)
	return nil
}

func (t *txn) DeleteRequest(scope, method, id string) error {
	del(t, t.db.requests, requestKey{scope, method, id})
	return nil
}

// accountOf is the account id as a lookup returns it: without its links.
func (t *txn) accountOf(id string) *otp.Account {
	a, ok := t.db.accounts[id]
	if !ok {
		return nil
	}
	return &otp.Account{ID: id, Phone: a.phone, Status: a.status}
}

// AccountByPhone prefers an active account when several share the phone,
// then the lowest id, as the SQL stores do.
func (t *txn) AccountByPhone(phone string) (*otp.Account, error) {
	best, bestActive := "", false
	for id := range t.db.byPhone[phone] {
		active := t.db.accounts[id].status == otp.StatusActive
		if best == "" || active && !bestActive || active == bestActive && id < best {
			best, bestActive = id, active
		}
	}
	if best == "" {
		return nil, nil
	}
	return t.accountOf(best), nil
}

func (t *txn) AccountByID(id string) (*otp.Account, error) { return t.accountOf(id), nil }

func (t *txn) AccountByAssociation(associationID string) (*otp.Account, error) {
	id, ok := t.db.associations[associationID]
	if !ok {
		return nil, nil
	}
	return t.accountOf(id), nil
}

func (t *txn) AccountByCard(hash []byte) (*otp.Account, *otp.Card, error) {
	return t.byHash(t.db.cards, hash)
}

func (t *txn) AccountByToken(hash []byte) (*otp.Account, *otp.Card, error) {
	return t.byHash(t.db.tokens, hash)
}

func (t *txn) byHash(table map[string]cardRow, hash []byte) (*otp.Account, *otp.Card, error) {
	row, ok := table[string(hash)]
	if !ok {
		return nil, nil, nil
	}
	c := cloneCard(row.card)
	return t.accountOf(row.accountID), &c, nil
}

// CountEvents counts the events strictly after since, up to atMost.
func (t *txn) CountEvents(kind otp.EventKind, subject string, since time.Time, atMost int) (int, error) {
	n, after := 0, ms(since)
	for _, at := range t.db.events[eventKey{kind, subject}] {
		if n >= atMost {
			break
		}
		if at > after {
			n++
		}
	}
	return n, nil
}

// CountEventsMany counts each as CountEvents would, its subjects summed.
// The store's one mutex already serializes counters.
func (t *txn) CountEventsMany(counts []otp.EventCount) ([]int, error) {
	ns := make([]int, len(counts))
	for i, c := range counts {
		for j, subject := range c.Subjects {
			if slices.Contains(c.Subjects[:j], subject) {
				continue // a subject named twice counts once, as in SQL's IN
			}
			n, err := t.CountEvents(c.Kind, subject, c.Since, c.AtMost-ns[i])
			if err != nil {
				return nil, err
			}
			ns[i] += n
		}
	}
	return ns, nil
}

// AddEvent appends the event. Appending never changes the elements of the
// slice it grows, so the old slice is a correct undo.
func (t *txn) AddEvent(kind otp.EventKind, subject string, at time.Time) error {
	k := eventKey{kind, subject}
	set(t, t.db.events, k, append(t.db.events[k], ms(at)))
	return nil
}

// AddEvents adds one event under each subject.
func (t *txn) AddEvents(kind otp.EventKind, subjects []string, at time.Time) error {
	for _, subject := range subjects {
		if err := t.AddEvent(kind, subject, at); err != nil {
			return err
		}
	}
	return nil
}

// DeleteEvent removes one event at exactly at, into a new slice, so that
// the old one stays intact for the undo.
func (t *txn) DeleteEvent(kind otp.EventKind, subject string, at time.Time) error {
	k := eventKey{kind, subject}
	old := t.db.events[k]
	i := slices.Index(old, ms(at))
	if i < 0 {
		return nil
	}
	if len(old) == 1 {
		del(t, t.db.events, k)
		return nil
	}
	set(t, t.db.events, k, slices.Concat(old[:i], old[i+1:]))
	return nil
}

func (t *txn) InsertChallenge(c *otp.Challenge) error {
	if _, dup := t.db.challenges[c.ID]; dup {
		return fmt.Errorf("inmem: insert challenge %q: it exists", c.ID)
	}
	// As in the SQL stores, an insert leaves Delivery empty.
	st := challenge{c: otp.Challenge{ID: c.ID, AccountID: c.AccountID, CodeMAC: clone(c.CodeMAC), SecretID: c.SecretID,
		State: c.State, Attempts: c.Attempts}, createdAt: ms(c.CreatedAt), expiresAt: ms(c.ExpiresAt)}
	set(t, t.db.challenges, c.ID, st)
	index(t, t.db.byAccount, c.AccountID, c.ID, true)
	return nil
}

func (t *txn) LockChallenge(id string) (*otp.Challenge, error) {
	st, ok := t.db.challenges[id]
	if !ok {
		return nil, nil
	}
	c := st.c
	c.CodeMAC = clone(c.CodeMAC)
	c.CreatedAt, c.ExpiresAt = fromMS(st.createdAt), fromMS(st.expiresAt)
	if st.deliveredAt != 0 {
		c.Delivery.At = fromMS(st.deliveredAt)
	}
	return &c, nil
}

// UpdateChallenge rewrites the code, its secret, state, attempts and expiry;
// the account, creation time and delivery stay.
func (t *txn) UpdateChallenge(c *otp.Challenge) error {
	st, ok := t.db.challenges[c.ID]
	if !ok {
		return nil
	}
	st.c.CodeMAC, st.c.SecretID, st.c.State, st.c.Attempts = clone(c.CodeMAC), c.SecretID, c.State, c.Attempts
	st.expiresAt = ms(c.ExpiresAt)
	set(t, t.db.challenges, c.ID, st)
	return nil
}

func (t *txn) SupersedeChallenges(accountID string) error {
	for id := range t.db.byAccount[accountID] {
		st := t.db.challenges[id]
		if st.c.State == otp.ChallengeSending || st.c.State == otp.ChallengeLive {
			st.c.State = otp.ChallengeSuperseded
			set(t, t.db.challenges, id, st)
		}
	}
	return nil
}

func (t *txn) RecordSubmission(challengeID string, s otp.Submission) error {
	st, ok := t.db.challenges[challengeID]
	if !ok {
		return nil
	}
	if old := st.c.Delivery; old.MessageID != "" {
		index(t, t.db.byMessage, messageKey{old.Provider, old.MessageID}, challengeID, false)
	}
	st.c.Delivery, st.deliveredAt = otp.Delivery{Submission: s, State: otp.DeliverySubmitted}, 0
	set(t, t.db.challenges, challengeID, st)
	if s.MessageID != "" {
		index(t, t.db.byMessage, messageKey{s.Provider, s.MessageID}, challengeID, true)
	}
	return nil
}

// SubmitChallenge is UpdateChallenge and RecordSubmission.
func (t *txn) SubmitChallenge(c *otp.Challenge, s otp.Submission) error {
	if err := t.UpdateChallenge(c); err != nil {
		return err
	}
	return t.RecordSubmission(c.ID, s)
}

// RecordDelivery updates the challenges that carry the message; a final
// state stays as it is.
func (s *Store) RecordDelivery(ctx context.Context, provider, messageID string, state otp.DeliveryState, at time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if messageID == "" {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.db.byMessage[messageKey{provider, messageID}]
	for id := range ids {
		st := s.db.challenges[id]
		if !st.c.Delivery.State.Final() {
			st.c.Delivery.State, st.deliveredAt = state, ms(at)
			s.db.challenges[id] = st
		}
	}
	return len(ids) > 0, nil
}

// ImportAccounts upserts accounts and replaces their links, all or nothing:
// an association id, card or token that belongs to another account fails
// the import, named as the SQL stores name it.
func (s *Store) ImportAccounts(ctx context.Context, accounts []otp.Account) error {
	return s.Tx(ctx, func(otx otp.Tx) error {
		t := otx.(*txn)
		d := t.db
		for _, a := range accounts {
			if old, ok := d.accounts[a.ID]; ok {
				index(t, d.byPhone, old.phone, a.ID, false)
				for _, as := range old.associations {
					del(t, d.associations, as)
				}
				for _, h := range old.cards {
					del(t, d.cards, h)
				}
				for _, h := range old.tokens {
					del(t, d.tokens, h)
				}
			}
			set(t, d.accounts, a.ID, account{phone: a.Phone, status: a.Status})
			index(t, d.byPhone, a.Phone, a.ID, true)
		}
		for _, a := range accounts {
			acct := d.accounts[a.ID]
			for _, as := range a.AssociationIDs {
				if owner, taken := d.associations[as]; taken {
					return fmt.Errorf("inmem: import account %s: associationId %q already belongs to account %s", a.ID, as, owner)
				}
				set(t, d.associations, as, a.ID)
				acct.associations = append(acct.associations, as)
			}
			var err error
			if acct.cards, err = importCards(t, d.cards, "card", a.ID, a.Cards); err != nil {
				return err
			}
			if acct.tokens, err = importCards(t, d.tokens, "token", a.ID, a.Tokens); err != nil {
				return err
			}
			set(t, d.accounts, a.ID, acct)
		}
		return nil
	})
}

// importCards inserts an account's cards (or tokens) into table and returns
// their keys.
func importCards(t *txn, table map[string]cardRow, noun, accountID string, cards []otp.Card) ([]string, error) {
	var keys []string
	for _, c := range cards {
		k := string(c.Hash)
		if row, taken := table[k]; taken {
			return nil, fmt.Errorf("inmem: import account %s: the %s ending %s already belongs to account %s", accountID, noun, c.Last4, row.accountID)
		}
		set(t, table, k, cardRow{accountID: accountID, card: cloneCard(c)})
		keys = append(keys, k)
	}
	return keys, nil
}

// Purge deletes what is past retention, at most s.batch rows of a table per
// step, releasing the lock between steps as the SQL stores commit between
// batches.
func (s *Store) Purge(ctx context.Context, p otp.PurgeBefore) (int64, error) {
	var total int64
	for _, table := range []string{"requests", "challenges", "events"} {
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			n, batch, seen := s.purgeStep(table, p)
			total += n
			if seen != nil {
				seen(table, n)
			}
			if n < int64(batch) {
				break
			}
		}
	}
	return total, nil
}

// purgeStep deletes up to one batch of table's expired rows.
func (s *Store) purgeStep(table string, p otp.PurgeBefore) (n int64, batch int, seen func(string, int64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, batch := &s.db, s.batch
	t := &txn{db: d} // its undo log is dropped: a purge step cannot fail
	switch table {
	case "requests":
		cut := ms(p.Requests)
		for k, r := range d.requests {
			if n == int64(batch) {
				break
			}
			if r.createdAt < cut {
				delete(d.requests, k)
				n++
			}
		}
	case "challenges":
		cut := ms(p.Challenges)
		for id, c := range d.challenges {
			if n == int64(batch) {
				break
			}
			if c.expiresAt < cut {
				delete(d.challenges, id)
				index(t, d.byAccount, c.c.AccountID, id, false)
				if m := c.c.Delivery.MessageID; m != "" {
					index(t, d.byMessage, messageKey{c.c.Delivery.Provider, m}, id, false)
				}
				n++
			}
		}
	case "events":
		cut := ms(p.Events)
		for k, ats := range d.events {
			if n == int64(batch) {
				break
			}
			var kept []int64
			for i, at := range ats {
				if at < cut && n < int64(batch) {
					n++
					continue
				}
				if kept == nil {
					kept = make([]int64, 0, len(ats)-i)
				}
				kept = append(kept, at)
			}
			if len(kept) == 0 {
				delete(d.events, k)
			} else {
				d.events[k] = kept
			}
		}
	default:
		panic("inmem: purge of an unknown table " + table)
	}
	return n, batch, s.onBatch
}

// RenameSubjects renames the events whose subject starts with prefix, up to
// s.batch subjects per step.
func (s *Store) RenameSubjects(ctx context.Context, prefix string, rename func(string) string) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, more, seen, err := s.renameStep(prefix, rename)
		if err != nil || !more {
			return total, err
		}
		total += n
		if seen != nil {
			seen("events", n)
		}
	}
}

// renameStep renames the events of up to one batch of subjects; more is
// false when none was left.
func (s *Store) renameStep(prefix string, rename func(string) string) (n int64, more bool, seen func(string, int64), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &s.db
	subjects := map[string]string{}
	for k := range d.events {
		if len(subjects) == s.batch {
			break
		}
		if strings.HasPrefix(k.subject, prefix) {
			subjects[k.subject] = ""
		}
	}
	if len(subjects) == 0 {
		return 0, false, nil, nil
	}
	// Every new name first, so that a refused one changes nothing.
	for old := range subjects {
		renamed := rename(old)
		if strings.HasPrefix(renamed, prefix) {
			return 0, false, nil, fmt.Errorf("inmem: rename subjects: the new name of a subject starts with %q too", prefix)
		}
		subjects[old] = renamed
	}
	for k, ats := range d.events {
		renamed, ok := subjects[k.subject]
		if !ok {
			continue
		}
		delete(d.events, k)
		to := eventKey{k.kind, renamed}
		d.events[to] = slices.Concat(d.events[to], ats)
		n += int64(len(ats))
	}
	return n, true, s.onBatch, nil
}
