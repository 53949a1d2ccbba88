//go:build pkcs11

package hsm

import (
	"crypto"
	"errors"
	"fmt"
	"sync"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// Built reports whether this binary can talk to a PKCS#11 module.
const Built = true

// Tokens opens the tokens that URIs name, once each, and keeps them logged
// in until Close. A process makes one Tokens and shares it.
type Tokens struct {
	getenv func(string) string
	mu     sync.Mutex
	open   map[string]*Token
}

// Token is one logged-in token.
type Token struct {
	ctx   *crypto11.Context
	label string
}

// NewTokens returns a Tokens that reads the module and PIN settings that a
// URI leaves out through getenv (os.Getenv in the command).
func NewTokens(getenv func(string) string) *Tokens {
	return &Tokens{getenv: getenv, open: map[string]*Token{}}
}

// Open logs in to the token u names, or returns the one already open.
func (t *Tokens) Open(u *URI) (*Token, error) {
	module, err := u.Module(t.getenv)
	if err != nil {
		return nil, err
	}
	key := module + "\x00" + u.Token + "\x00" + u.Serial
	t.mu.Lock()
	defer t.mu.Unlock()
	if tk := t.open[key]; tk != nil {
		return tk, nil
	}
	pin, err := u.PIN(t.getenv)
	if err != nil {
		return nil, err
	}
	ctx, err := crypto11.Configure(&crypto11.Config{Path: module, TokenLabel: u.Token, TokenSerial: u.Serial, Pin: pin})
	if err != nil {
		// crypto11's errors name the module and token, never the PIN.
		return nil, fmt.Errorf("hsm: open token %s with module %s: %w", u.TokenName(), module, err)
	}
	tk := &Token{ctx: ctx, label: u.TokenName()}
	t.open[key] = tk
	return tk, nil
}

// Len is the number of tokens open.
func (t *Tokens) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.open)
}

// Close logs out of every open token.
func (t *Tokens) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for k, tk := range t.open {
		errs = append(errs, tk.ctx.Close())
		delete(t.open, k)
	}
	return errors.Join(errs...)
}

// KeyPairs returns every key pair that u's object and id match. Each value
// is a crypto.Signer whose Sign runs in the token; RSA ones are also
// crypto.Decrypter. Public() is read from the token's public key object.
func (tk *Token) KeyPairs(u *URI) ([]crypto.Signer, error) {
	var label []byte
	if u.Object != "" {
		label = []byte(u.Object)
	}
	found, err := tk.ctx.FindKeyPairs(u.ID, label)
	if err != nil {
		return nil, fmt.Errorf("hsm: %s: %w", u, err)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("hsm: %s: no key pair with that object/id in token %s (otpgate keys generate --pkcs11 makes one)", u, tk.label)
	}
	out := make([]crypto.Signer, len(found))
	for i, s := range found {
		out[i] = s
	}
	return out, nil
}

// Usage says what a generated key may do in the token.
type Usage struct{ Sign, Decrypt bool }

// GenerateRSA makes an RSA key pair inside the token, labelled label with
// CKA_ID id. The private key is sensitive and not extractable: the token
// will use it but never hand it out, not even wrapped.
func (tk *Token) GenerateRSA(label string, id []byte, bits int, use Usage) (crypto.Signer, error) {
	pub, err := crypto11.NewAttributeSetWithIDAndLabel(id, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("hsm: %w", err)
	}
	priv := pub.Copy()
	for _, a := range []struct {
		t uint
		v bool
	}{
		{pkcs11.CKA_PRIVATE, true},
		{pkcs11.CKA_SENSITIVE, true},
		{pkcs11.CKA_EXTRACTABLE, false},
		{pkcs11.CKA_SIGN, use.Sign},
		{pkcs11.CKA_DECRYPT, use.Decrypt},
	} {
		if err := priv.Set(a.t, a.v); err != nil {
			return nil, fmt.Errorf("hsm: %w", err)
		}
	}
	if err := pub.Set(pkcs11.CKA_VERIFY, use.Sign); err != nil {
		return nil, fmt.Errorf("hsm: %w", err)
	}
	if err := pub.Set(pkcs11.CKA_ENCRYPT, use.Decrypt); err != nil {
		return nil, fmt.Errorf("hsm: %w", err)
	}
	s, err := tk.ctx.GenerateRSAKeyPairWithAttributes(pub, priv, bits)
	if err != nil {
		return nil, fmt.Errorf("hsm: generate RSA-%d %q in token %s: %w", bits, label, tk.label, err)
	}
	return s, nil
}

// Delete removes a key pair of this token (from GenerateRSA or KeyPairs),
// its private and public objects both. It undoes a generation that failed
// half way, so that no key nobody has the public part of stays under a
// label.
func (tk *Token) Delete(s crypto.Signer) error {
	d, ok := s.(interface{ Delete() error })
	if !ok {
		return fmt.Errorf("hsm: delete: %T is not a key pair of a token", s)
	}
	if err := d.Delete(); err != nil {
		return fmt.Errorf("hsm: delete a key pair from token %s: %w", tk.label, err)
	}
	return nil
}

// Protection is what the token says about a private key's exposure.
type Protection struct {
	Sensitive        bool // CKA_SENSITIVE: its value cannot be read
	Extractable      bool // CKA_EXTRACTABLE: it may be exported wrapped
	AlwaysSensitive  bool // CKA_ALWAYS_SENSITIVE: never was readable
	NeverExtractable bool // CKA_NEVER_EXTRACTABLE: never was exportable
	Local            bool // CKA_LOCAL: generated inside the token
}

// Protection reads the protection attributes of the private key of s, a
// key pair from KeyPairs or GenerateRSA.
func (tk *Token) Protection(s crypto.Signer) (Protection, error) {
	types := []uint{pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_ALWAYS_SENSITIVE, pkcs11.CKA_NEVER_EXTRACTABLE, pkcs11.CKA_LOCAL}
	attrs, err := tk.ctx.GetAttributes(s, types)
	if err != nil {
		return Protection{}, fmt.Errorf("hsm: %w", err)
	}
	b := func(t uint) bool {
		a := attrs[t]
		return a != nil && len(a.Value) == 1 && a.Value[0] != 0
	}
	return Protection{Sensitive: b(pkcs11.CKA_SENSITIVE), Extractable: b(pkcs11.CKA_EXTRACTABLE),
		AlwaysSensitive: b(pkcs11.CKA_ALWAYS_SENSITIVE), NeverExtractable: b(pkcs11.CKA_NEVER_EXTRACTABLE),
		Local: b(pkcs11.CKA_LOCAL)}, nil
}

// ReadPrivateExponent asks the token for the private exponent of s's
// private key (an RSA key pair from KeyPairs or GenerateRSA). A token that
// protects the key refuses with CKR_ATTRIBUTE_SENSITIVE, which the error
// wraps. It exists to prove, in tests, that the key cannot be read out.
func (tk *Token) ReadPrivateExponent(s crypto.Signer) ([]byte, error) {
	a, err := tk.ctx.GetAttribute(s, pkcs11.CKA_PRIVATE_EXPONENT)
	if err != nil {
		return nil, fmt.Errorf("hsm: read CKA_PRIVATE_EXPONENT: %w", err)
	}
	if a == nil {
		return nil, nil
	}
	return a.Value, nil
}

// ErrSensitive is the token's refusal to reveal a sensitive attribute.
var ErrSensitive error = pkcs11.Error(pkcs11.CKR_ATTRIBUTE_SENSITIVE)
