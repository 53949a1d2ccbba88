// Package otp is the domain of otpgate: challenges, codes and their HMAC at
// rest, attempt caps, send and failure budgets, and idempotent requests. It
// knows nothing of HTTP, JSON or SQL: it declares the small interfaces it needs.
package otp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"
)

// Messenger delivers a code to a phone, by SMS. It returns a nil error only
// when a provider accepted the message, and then says which provider and
// under what id (as far as it knows), for delivery receipts to find the
// challenge.
type Messenger interface {
	SendCode(ctx context.Context, m CodeSMS) (Submission, error)
}

// CodeSMS is one SMS of a code: where it goes and what its text may state.
// A Messenger picks the flow's template by Card: nil for sendOtp, whose text
// carries the smsMatchingToken; set for India Cards' authenticate and
// resendOtp.
type CodeSMS struct {
	Phone string // E.164, the directory's number of the account
	Code  string // never logged, never in an error
	// SMSMatchingToken is sendOtp's, to go on the text's first line; "" for
	// India Cards.
	SMSMatchingToken string
	// Card is what a card authentication's text may name besides the code;
	// nil for sendOtp.
	Card *CardSMS
}

// CardSMS is what the SMS of a card authentication may state besides the
// code, as Indian issuers' OTP messages do ("… for INR 728.00 on your card
// ending 1111"): the authenticate's amount and the card's last four digits.
// None of it is a secret: PCI DSS lets the last four digits of a card be
// shown and kept (only the full number, the CVN and the cryptogram are
// cardholder secrets), and the amount is the purchase's. So it is kept at
// rest with the authentication session, for its resends to state it again.
type CardSMS struct {
	AmountMicros int64  // millionths of the currency's major unit; not negative
	CurrencyCode string // ISO 4217, "INR"
	// Last4 is the last four digits of the card the user knows (see
	// AuthenticateRequest.Last4), or "" when not known.
	Last4 string
}

// Errors that are not business results: the server answers them with an
// ErrorResponse. Any other error is a temporary outage (503).
var (
	// ErrUnknownAssociation: sendOtp named an associationId we do not know.
	ErrUnknownAssociation = errors.New("unknown associationId")
	// ErrUnknownSend: verifyOtp named a sendOtpRequestId that has no
	// successful sendOtp.
	ErrUnknownSend = errors.New("unknown sendOtpRequestId")
	// ErrIdempotency: the requestId was used before on the same method with
	// another payload. On another method it is simply another request.
	ErrIdempotency = errors.New("requestId reused with a different payload")
	// ErrInFlight: the same request is being processed elsewhere and did not
	// finish within the wait; a retry will get its answer.
	ErrInFlight = errors.New("the same request is still in progress")
)

// Config builds a Service.
type Config struct {
	Store     Store
	Messenger Messenger
	Policy    Policy
	// Secrets key the HMACs at rest: of codes, of request fingerprints and
	// of phone numbers. The newest active one writes, every one verifies.
	Secrets *Keyring
	// Secret, when Secrets is nil, is a keyring of this one secret (at
	// least 32 bytes) under LegacySecretID.
	Secret []byte
	Now    func() time.Time
	Logger *slog.Logger
	// NewCode draws a code of length digits; nil draws uniformly from
	// crypto/rand, as production must. Only tests set it: to replay Google's
	// examples, whose verifyOtp sends the code of the example.
	NewCode func(length int) string
	// Auditor receives the outcomes an audit trail records; nil audits nothing.
	Auditor Auditor
}

// Service runs sendOtp and verifyOtp against a Store.
type Service struct {
	store     Store
	messenger Messenger
	policy    Policy
	keys      *Keyring
	now       func() time.Time
	log       *slog.Logger
	newCode   func(length int) string
	auditor   Auditor
}

// New checks the configuration and builds a Service.
func New(c Config) (*Service, error) {
	if err := c.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("otp: policy: %w", err)
	}
	if c.Secrets == nil {
		if len(c.Secret) < 32 {
			return nil, fmt.Errorf("otp: the code secret must be at least 32 bytes, got %d", len(c.Secret))
		}
		keys, err := singleKeyring(c.Secret)
		if err != nil {
			return nil, err
		}
		c.Secrets = keys
	}
	if c.Store == nil || c.Messenger == nil {
		return nil, errors.New("otp: a store and a messenger are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.NewCode == nil {
		c.NewCode = randomCode
	}
	return &Service{store: auditing(c.Store, c.Auditor), messenger: c.Messenger, policy: c.Policy,
		keys: c.Secrets, now: c.Now, log: c.Logger, newCode: c.NewCode, auditor: c.Auditor}, nil
}

// Policy returns the service's policy.
func (s *Service) Policy() Policy { return s.policy }

// Ref identifies one request: its idempotency key (Scope, Method, RequestID)
// and payload fingerprint.
type Ref struct {
	Scope       string // the legacy surface ("" for /v1/, "e-wallets-v1", …), or the PIAID in the current dialect
	RequestID   string
	Method      string
	Fingerprint []byte
}

// Outcome is a business result, answered with HTTP 200 and replayed on retry.
type Outcome struct {
	Result  string // one of the Send* or Verify* result names
	ReplyID string // our id for the call
	// LockedOut: a send or failure budget of the account or its phone was
	// spent, so no SMS went out or the guess was not compared. Set only on
	// the request that met the budget, not on its replays, so that a
	// count of lockouts (an alert's) is not inflated by Google's retries.
	LockedOut bool
}

// claim looks up the idempotency record of ref inside tx. It returns the
// record when one exists for the same payload, or ErrIdempotency.
func (s *Service) claim(tx Tx, ref Ref) (*Request, error) {
	rec, err := tx.LockRequest(ref.Scope, ref.Method, ref.RequestID)
	if err != nil || rec == nil {
		return nil, err
	}
	// The record is compared under the secret it was keyed with, which
	// may be older than the one that writes now: a rotation keeps replays.
	secret, ok := s.keys.Find(rec.SecretID)
	if !ok {
		// Removed too early (before the retention of records ran out):
		// whether this is the same payload can no longer be known.
		s.log.Warn("an idempotency record is keyed by a code secret no longer listed",
			"method", rec.Method, "requestId", rec.ID, "secretId", rec.SecretID)
		return nil, ErrIdempotency
	}
	if !hmac.Equal(rec.Fingerprint, fingerprint(secret, ref)) {
		return nil, ErrIdempotency
	}
	return rec, nil
}

// writer is the code secret that keys what is written now.
func (s *Service) writer() Secret { return s.keys.Writer(s.now()) }

// fingerprint keys a payload's fingerprint under a code secret before it is
// stored: a verifyOtp payload holds the code the user typed, and an unkeyed
// hash of it would give a 6-digit code away to a copy of the database in a
// million guesses.
func fingerprint(secret Secret, ref Ref) []byte {
	m := hmac.New(sha256.New, secret.Key)
	m.Write([]byte("otpgate request fingerprint\x00"))
	m.Write(ref.Fingerprint)
	return m.Sum(nil)
}

func (s *Service) newRequest(ref Ref, now time.Time, state RequestState, result string) *Request {
	w := s.keys.Writer(now)
	return &Request{
		Scope: ref.Scope, ID: ref.RequestID, Method: ref.Method, Fingerprint: fingerprint(w, ref), SecretID: w.ID,
		State: state, Result: result, ReplyID: NewID(), CreatedAt: now, ClaimedAt: now,
	}
}

// codeMAC binds a code to its challenge: the same code under another challenge
// has another MAC, so a stored MAC is useless anywhere else.
func codeMAC(secret Secret, challengeID, code string) []byte {
	m := hmac.New(sha256.New, secret.Key)
	m.Write([]byte(challengeID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// setCode gives the challenge a new code, keyed under the writing secret.
func (s *Service) setCode(ch *Challenge, now time.Time) string {
	code := s.newCode(s.policy.CodeLength)
	w := s.keys.Writer(now)
	ch.CodeMAC, ch.SecretID = codeMAC(w, ch.ID, code), w.ID
	return code
}

// matches compares a guess with the challenge's code in constant time,
// under the secret the code was keyed with. A code whose secret is no longer
// listed matches nothing.
func (s *Service) matches(ch *Challenge, guess string) bool {
	secret, ok := s.keys.Find(ch.SecretID)
	if !ok {
		secret = s.writer() // the same work, so that timing tells nothing
	}
	return subtle.ConstantTimeCompare(codeMAC(secret, ch.ID, guess), ch.CodeMAC) == 1 && ok
}

// randomCode draws a uniform code of length digits from the CSPRNG.
func randomCode(length int) string {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(length)), nil)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		panic("otp: crypto/rand failed: " + err.Error()) // the kernel's CSPRNG does not fail
	}
	return fmt.Sprintf("%0*d", length, n)
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID makes an opaque random identifier: our ids for calls, challenges and
// claims.
func NewID() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return idEncoding.EncodeToString(b)
}

// waitInFlight retries attempt while it reports ErrInFlight, for at most the
// policy's InFlightWait.
func (s *Service) waitInFlight(ctx context.Context, attempt func() error) error {
	deadline := time.Now().Add(s.policy.InFlightWait)
	delay := 10 * time.Millisecond
	for {
		err := attempt()
		if !errors.Is(err, ErrInFlight) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}
