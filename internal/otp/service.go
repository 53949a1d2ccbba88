// Package otp is the domain of otpgate: challenges, codes and their HMAC at
// rest, attempt caps, send and failure budgets, and idempotent requests. It
// knows nothing of HTTP, JSON or SQL: it declares the small interfaces it needs.
package otp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"
)

// Messenger delivers a code to a phone, by SMS. It returns nil only when a
// provider accepted the message.
type Messenger interface {
	SendCode(ctx context.Context, phone, code, smsMatchingToken string) error
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
	// Secret keys the HMAC of codes at rest; at least 32 bytes.
	Secret []byte
	Now    func() time.Time
	Logger *slog.Logger
	// NewCode draws a code of length digits; nil draws uniformly from
	// crypto/rand, as production must. Only tests set it: to replay Google's
	// examples, whose verifyOtp sends the code of the example.
	NewCode func(length int) string
}

// Service runs sendOtp and verifyOtp against a Store.
type Service struct {
	store     Store
	messenger Messenger
	policy    Policy
	secret    []byte
	now       func() time.Time
	log       *slog.Logger
	newCode   func(length int) string
}

// New checks the configuration and builds a Service.
func New(c Config) (*Service, error) {
	if err := c.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("otp: policy: %w", err)
	}
	if len(c.Secret) < 32 {
		return nil, fmt.Errorf("otp: the code secret must be at least 32 bytes, got %d", len(c.Secret))
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
	return &Service{store: c.Store, messenger: c.Messenger, policy: c.Policy,
		secret: c.Secret, now: c.Now, log: c.Logger, newCode: c.NewCode}, nil
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
}

// claim looks up the idempotency record of ref inside tx. It returns the
// record when one exists for the same payload, or ErrIdempotency.
func (s *Service) claim(tx Tx, ref Ref) (*Request, error) {
	rec, err := tx.LockRequest(ref.Scope, ref.Method, ref.RequestID)
	if err != nil || rec == nil {
		return nil, err
	}
	if !hmac.Equal(rec.Fingerprint, s.fingerprint(ref)) {
		return nil, ErrIdempotency
	}
	return rec, nil
}

// fingerprint keys a payload's fingerprint under the server secret before
// it is stored: a verifyOtp payload holds the code the user typed, and an
// unkeyed hash of it would give a 6-digit code away to a copy of the
// database in a million guesses.
func (s *Service) fingerprint(ref Ref) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("otpgate request fingerprint\x00"))
	m.Write(ref.Fingerprint)
	return m.Sum(nil)
}

func (s *Service) newRequest(ref Ref, now time.Time, state RequestState, result string) *Request {
	return &Request{
		Scope: ref.Scope, ID: ref.RequestID, Method: ref.Method, Fingerprint: s.fingerprint(ref),
		State: state, Result: result, ReplyID: NewID(), CreatedAt: now, ClaimedAt: now,
	}
}

// codeMAC binds a code to its challenge: the same code under another challenge
// has another MAC, so a stored MAC is useless anywhere else.
func (s *Service) codeMAC(challengeID, code string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(challengeID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
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
func (s *Service) waitInFlight(ctx context.Context, attempt func() (Outcome, error)) (Outcome, error) {
	deadline := time.Now().Add(s.policy.InFlightWait)
	delay := 10 * time.Millisecond
	for {
		out, err := attempt()
		if !errors.Is(err, ErrInFlight) || time.Now().After(deadline) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return Outcome{}, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}
