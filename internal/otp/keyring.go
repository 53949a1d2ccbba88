package otp

import (
	"errors"
	"fmt"
	"time"
)

// LegacySecretID is the id of a secret that was given without one: a secret
// file of a single hex line, as otpgate wrote them before secrets had ids.
// The rows written before then carry it too (schema version 5), so that a
// deployment that upgrades keeps its codes, replays and cards with no action.
const LegacySecretID = "legacy"

// Secret is one HMAC secret and the id that is stored beside everything it
// keys, so that the secret can be found again when the row is read.
type Secret struct {
	ID  string
	Key []byte
	// ActiveFrom is when the secret starts writing; zero means as soon as it
	// is listed. Before then it only verifies: instances restarted one by one
	// onto a new secret can all verify it before any of them writes with it.
	ActiveFrom time.Time
}

// Keyring is the secrets of one purpose (codes, or cards), oldest first.
// The newest active secret writes; every listed one verifies and looks up,
// so that a new secret can be added without losing what the older ones
// keyed, and the old one removed once nothing keyed by it matters.
type Keyring struct {
	secrets []Secret // oldest first
}

// NewKeyring checks secrets (oldest first) and builds a Keyring.
func NewKeyring(secrets ...Secret) (*Keyring, error) {
	if len(secrets) == 0 {
		return nil, errors.New("otp: a keyring needs at least one secret")
	}
	seen := map[string]bool{}
	for _, s := range secrets {
		if err := CheckSecretID(s.ID); err != nil {
			return nil, err
		}
		if seen[s.ID] {
			return nil, fmt.Errorf("otp: secret id %q is listed twice", s.ID)
		}
		seen[s.ID] = true
		if len(s.Key) < 32 {
			return nil, fmt.Errorf("otp: secret %q must be at least 32 bytes, got %d", s.ID, len(s.Key))
		}
	}
	return &Keyring{secrets: append([]Secret(nil), secrets...)}, nil
}

// CheckSecretID accepts 1 to 32 characters of [A-Za-z0-9._-].
func CheckSecretID(id string) error {
	if id == "" || len(id) > 32 {
		return fmt.Errorf("otp: secret id %q: 1 to 32 characters", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("otp: secret id %q: only letters, digits and ._-", id)
		}
	}
	return nil
}

// singleKeyring is a keyring of one secret with the legacy id.
func singleKeyring(key []byte) (*Keyring, error) {
	return NewKeyring(Secret{ID: LegacySecretID, Key: key})
}

// Writer is the secret that keys what is written at now: the newest whose
// ActiveFrom has come, or the oldest when none has.
func (k *Keyring) Writer(now time.Time) Secret {
	for i := len(k.secrets) - 1; i >= 0; i-- {
		if !now.Before(k.secrets[i].ActiveFrom) {
			return k.secrets[i]
		}
	}
	return k.secrets[0]
}

// Find returns the secret with the id, if it is listed.
func (k *Keyring) Find(id string) (Secret, bool) {
	for _, s := range k.secrets {
		if s.ID == id {
			return s, true
		}
	}
	return Secret{}, false
}

// Secrets lists the secrets newest first: the order lookups try them in.
func (k *Keyring) Secrets() []Secret {
	out := make([]Secret, len(k.secrets))
	for i, s := range k.secrets {
		out[len(k.secrets)-1-i] = s
	}
	return out
}
