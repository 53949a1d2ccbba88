// Package envelope protects request and response bodies at the application
// layer (SPEC §5). A Codec opens what Google sent and seals what we answer;
// the server never looks at a body any other way.
package envelope

import (
	"errors"
	"time"
)

// Errors of Open. The server answers ErrUndecryptable with 400
// INVALID_PAYLOAD_ENCRYPTION and ErrBadSignature with 401 and an empty body.
var (
	ErrUndecryptable = errors.New("envelope: the body does not decrypt with any of our keys")
	ErrBadSignature  = errors.New("envelope: the body carries no valid signature of a known key")
)

// Codec is one protection scheme with its key rings.
type Codec interface {
	// Open verifies and decrypts a request body.
	Open(body []byte) ([]byte, error)
	// Seal signs and encrypts a response body.
	Seal(plaintext []byte) ([]byte, error)
	// ContentType is the Content-Type of sealed bodies.
	ContentType() string
	// Name identifies the scheme in logs ("plaintext", "pgp", "jose").
	Name() string
}

// Plain passes bodies through as JSON. It exists for local development and
// tests only; the server logs loudly while it is in use.
type Plain struct{}

var _ Codec = Plain{}

// Open returns body unchanged.
func (Plain) Open(body []byte) ([]byte, error) { return body, nil }

// Seal returns plaintext unchanged.
func (Plain) Seal(plaintext []byte) ([]byte, error) { return plaintext, nil }

// ContentType is application/json.
func (Plain) ContentType() string { return "application/json; charset=utf-8" }

// Name is "plaintext".
func (Plain) Name() string { return "plaintext" }

// KeyInfo describes one key of a codec's rings for operators: `otpgate keys
// list`, the start-up log and /metrics.
type KeyInfo struct {
	Scheme       string // "pgp" or "jose"
	Owner        string // "ours" or "google"
	ID           string // PGP fingerprint or JWK kid
	Algorithm    string // e.g. "RSA-3072"
	Usage        string // e.g. "sign", "encrypt", "sig", "enc"
	Expires      time.Time
	Active       bool // usable now
	ExpiringSoon bool // active, and expires within 30 days
}

// ExpiryWarning is how long before a key's expiry it is reported.
const ExpiryWarning = 30 * 24 * time.Hour
