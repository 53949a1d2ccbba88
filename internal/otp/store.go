package otp

import (
	"context"
	"time"
)

// Store is the persistence the OTP engine needs. Implementations: store/sqlite
// (embedded default) and store/postgres (several instances, one database);
// store/storetest is the behaviour suite both pass.
type Store interface {
	// Tx runs fn in one transaction that sees and changes the store
	// atomically. fn may be run more than once when the database asks for a
	// retry (a conflict with a concurrent writer, a serialization failure, a
	// connection lost before commit), so it must have no effect outside tx.
	// An error of fn's own comes back unchanged and is not retried.
	Tx(ctx context.Context, fn func(Tx) error) error
	// Read runs fn's directory lookups outside any write transaction: on
	// SQLite's read connections, beside its one writer, and as plain
	// queries of PostgreSQL's pool. What it reads is committed, but may
	// change before a later Tx: use it only for what a write need not
	// re-check (see Service.Send).
	Read(ctx context.Context, fn func(Reader) error) error
	// ImportAccounts inserts or updates accounts, replacing their association
	// ids, cards and tokens, in one transaction: all of them or none.
	ImportAccounts(ctx context.Context, accounts []Account) error
	// Purge deletes what is past retention and reports how many rows went.
	// It deletes in bounded batches, each its own transaction, so that a
	// large backlog never holds the database's write lock for long.
	Purge(ctx context.Context, p PurgeBefore) (int64, error)
	// RenameSubjects gives every budget event whose subject starts with
	// prefix the subject rename(subject), in bounded batches, and reports
	// how many events it renamed. It converts rows written by older
	// versions, and may run while requests are served.
	RenameSubjects(ctx context.Context, prefix string, rename func(subject string) string) (int64, error)
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// RecordDelivery records what a delivery receipt says of the message
	// that provider accepted as messageID: the delivery state of the
	// challenge it carried, reported at at. It reports whether a challenge
	// has that message. A challenge already in a final state keeps it (and
	// its time), so that receipts may come twice or out of order. It is
	// telemetry: verification never reads it.
	RecordDelivery(ctx context.Context, provider, messageID string, state DeliveryState, at time.Time) (found bool, err error)
}

// Tx is the set of operations available inside one transaction. Methods that
// read a row the transaction may then change lock it (or run in a transaction
// that serializes writers), so that two instances can never both act on it.
type Tx interface {
	// LockRequest returns the idempotency record (scope, method, id), or
	// nil. The method is part of the key: Google reuses a requestId across
	// methods, and each use is a request of its own (SPEC §4).
	LockRequest(scope, method, id string) (*Request, error)
	InsertRequest(r *Request) error
	// UpdateRequest rewrites the record (r.Scope, r.Method, r.ID).
	UpdateRequest(r *Request) error

	// DeleteRequest removes a pending record whose effect failed and whose
	// method has no business result for the failure (resendOtp), so that a
	// retry is processed afresh.
	DeleteRequest(scope, method, id string) error

	Reader

	// CountEvents counts events after since, stopping at atMost: a budget
	// only needs to know whether it is spent, and a subject with a long
	// history must not make every send slower. It serializes with other
	// counters of the same subject until the transaction ends, so that two
	// instances cannot both see a budget one short of spent.
	CountEvents(kind EventKind, subject string, since time.Time, atMost int) (int, error)
	// CountEventsMany answers several counts at once, in one statement
	// where the engine allows (a send checks every budget of an account
	// and its phone: one count each made it six statements). Each count is
	// what CountEvents would say, the events of its subjects summed; the
	// answers come in the order of counts (a subject named twice in one count
	// counts once). It serializes with other
	// counters of every subject named, as CountEvents does.
	CountEventsMany(counts []EventCount) ([]int, error)
	AddEvent(kind EventKind, subject string, at time.Time) error
	// AddEvents adds one event of kind at at under each of subjects, in
	// one statement where the engine allows.
	AddEvents(kind EventKind, subjects []string, at time.Time) error
	// DeleteEvent removes one event of the subject at exactly at (a send
	// that failed gives its budget back); none there is no error.
	DeleteEvent(kind EventKind, subject string, at time.Time) error

	InsertChallenge(c *Challenge) error
	// LockChallenge returns the challenge, or nil when it is gone.
	LockChallenge(id string) (*Challenge, error)
	UpdateChallenge(c *Challenge) error
	// SupersedeChallenges retires every sending or live challenge of the
	// account, so that at most one code per account is ever valid. It
	// serializes with other supersedes of the same account.
	SupersedeChallenges(accountID string) error
	// RecordSubmission records that the provider accepted the challenge's
	// SMS under an id (s.MessageID, "" when it gives none): its Delivery
	// becomes s, DeliverySubmitted, with no time, replacing that of an
	// earlier SMS of the challenge.
	RecordSubmission(challengeID string, s Submission) error
	// SubmitChallenge is UpdateChallenge(c) and RecordSubmission(c.ID, s)
	// in one statement: what a send whose SMS was accepted records.
	SubmitChallenge(c *Challenge, s Submission) error
}

// EventCount asks how many events of Kind under any of Subjects came after
// Since, stopping at AtMost (a budget only needs to know whether it is spent).
type EventCount struct {
	Kind     EventKind
	Subjects []string
	Since    time.Time
	AtMost   int
}

// Reader is the lookups of the directory (the imported accounts), which a
// Tx has too and Store.Read runs off the writer.
type Reader interface {
	AccountByPhone(phone string) (*Account, error)
	// AccountByID finds an account by its id, without its cards.
	AccountByID(id string) (*Account, error)
	AccountByAssociation(associationID string) (*Account, error)
	// AccountByCard finds a card by the keyed hash of its number.
	AccountByCard(cardHash []byte) (*Account, *Card, error)
	// AccountByToken finds a network token by the keyed hash of its number.
	// Tokens and cards are apart: neither lookup finds the other.
	AccountByToken(tokenHash []byte) (*Account, *Card, error)
}

// PurgeBefore names the cut-off of each kind of record.
type PurgeBefore struct {
	Requests   time.Time // idempotency records created before
	Challenges time.Time // challenges expired before
	Events     time.Time // budget events older than
}

// RequestState is the life of an idempotency record.
type RequestState string

// A record is pending while its effect is under way outside a transaction
// (the SMS of a sendOtp) and done once its response is stored.
const (
	RequestPending RequestState = "pending"
	RequestDone    RequestState = "done"
)

// Request is an idempotency record: the claim of a requestId on a method
// and, once done, the outcome that a retry gets again. Scope, Method and ID
// are its key.
type Request struct {
	Scope       string // the legacy surface ("" for /v1/, "e-wallets-v1", …), or the PIAID in the current dialect
	ID          string
	Method      string
	Fingerprint []byte
	SecretID    string // the code secret Fingerprint is keyed with
	State       RequestState
	Result      string // the domain result, e.g. "success"
	ReplyID     string // our id for the call, sent back to Google
	ChallengeID string // the newest challenge of the request (resends replace it)
	Sends       int    // SMS sent under this record: 1, plus one per resendOtp of an authenticate
	ClaimToken  string // who is completing a pending record
	ClaimedAt   time.Time
	CreatedAt   time.Time
	// Card is what the SMS of an India Cards authenticate states besides
	// the code, kept so that its resendOtp (which names the session only by
	// its requestId) and a takeover state it again; a resendOtp's record
	// holds a copy of its session's. Nil for other methods, and for records
	// written before the store kept it. Not a secret (see CardSMS). Written
	// by InsertRequest only: UpdateRequest leaves it as it is.
	Card *CardSMS
}

// ChallengeState is the life of one code.
type ChallengeState string

// A challenge is sending until its SMS was accepted, then live until it is
// consumed, superseded by a newer send, or its SMS failed.
const (
	ChallengeSending    ChallengeState = "sending"
	ChallengeLive       ChallengeState = "live"
	ChallengeConsumed   ChallengeState = "consumed"
	ChallengeSuperseded ChallengeState = "superseded"
	ChallengeFailed     ChallengeState = "failed"
)

// Challenge is one code sent to an account's phone. The code itself is never
// stored: CodeMAC is HMAC-SHA-256 of the challenge id and the code under the
// code secret SecretID. Nor is the phone: the account's is looked up by its
// id when it is needed, so that only the directory holds phone numbers.
type Challenge struct {
	ID        string
	AccountID string
	CodeMAC   []byte
	SecretID  string
	State     ChallengeState
	Attempts  int
	CreatedAt time.Time
	ExpiresAt time.Time
	// Delivery is what is known of the delivery of the challenge's SMS,
	// read by LockChallenge; only RecordSubmission, SubmitChallenge and RecordDelivery
	// write it (InsertChallenge and UpdateChallenge leave it as it is).
	// Telemetry: it never changes what a verification answers.
	Delivery Delivery
}

// Submission says which provider accepted an SMS, and the id it gave it.
type Submission struct {
	Provider  string // the provider's name in the configuration; "" when unknown
	MessageID string // the provider's id of the message; "" when it gives none
}

// Delivery is what the provider that accepted a challenge's SMS said of it.
type Delivery struct {
	Submission
	State DeliveryState // "" before a provider accepted the SMS
	At    time.Time     // when a receipt reported State; zero before any
}

// DeliveryState is the fate of an SMS, as its provider's receipts tell it.
type DeliveryState string

// Delivery states: submitted once a provider accepted the SMS, then what a
// delivery receipt reports. Delivered, undeliverable, expired and failed
// are final: a later receipt does not change them.
const (
	DeliverySubmitted     DeliveryState = "submitted"
	DeliveryDelivered     DeliveryState = "delivered"
	DeliveryUndeliverable DeliveryState = "undeliverable" // the network could not reach the handset
	DeliveryExpired       DeliveryState = "expired"       // not delivered within the provider's validity period
	DeliveryFailed        DeliveryState = "failed"        // refused or dropped by the provider or a carrier
	DeliveryUnknown       DeliveryState = "unknown"       // a receipt whose state is not known
)

// Final reports whether s is an outcome that no later receipt changes.
func (s DeliveryState) Final() bool {
	switch s {
	case DeliveryDelivered, DeliveryUndeliverable, DeliveryExpired, DeliveryFailed:
		return true
	}
	return false
}

// EventKind names what a budget counts.
type EventKind string

// Budget events: each SMS send, each failed verification.
const (
	EventSend       EventKind = "send"
	EventVerifyFail EventKind = "verify_fail"
)

// nonDurableKey marks a context of NonDurable.
type nonDurableKey struct{}

// NonDurable returns a context whose Tx calls ask for a commit that need not
// be on disk when Tx returns: it survives a crash of the process, and a later
// durable commit of the same store makes it durable too (stores commit in
// order), but a power cut or an operating system crash before that may lose
// it. A store that cannot tell commits it durably, as any other.
//
// It is for writes whose loss a retry repairs: the claim of a sendOtp, whose
// code becomes valid only once its SMS is recorded (durably). A transaction
// that stores an answer (an idempotency record in state done) is durable
// whatever its context says: an answer that left must replay identically
// after any crash. docs/durability.md lists every write and why.
func NonDurable(ctx context.Context) context.Context {
	return context.WithValue(ctx, nonDurableKey{}, true)
}

// IsDurable reports whether Tx calls with ctx must commit durably, i.e.
// ctx does not come from NonDurable.
func IsDurable(ctx context.Context) bool {
	nd, _ := ctx.Value(nonDurableKey{}).(bool)
	return !nd
}
