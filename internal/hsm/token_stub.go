//go:build !pkcs11

package hsm

import "crypto"

// Built reports whether this binary can talk to a PKCS#11 module.
const Built = false

// Tokens is, in a build without PKCS#11, a placeholder whose Open explains
// how to get a build with it.
type Tokens struct{}

// Token is never returned in a build without PKCS#11.
type Token struct{}

// Usage says what a generated key may do in the token.
type Usage struct{ Sign, Decrypt bool }

// NewTokens returns a Tokens whose Open fails with ErrNotBuilt.
func NewTokens(func(string) string) *Tokens { return &Tokens{} }

// Open fails: this build has no PKCS#11.
func (*Tokens) Open(*URI) (*Token, error) { return nil, ErrNotBuilt }

// Len is 0: no token opens in this build.
func (*Tokens) Len() int { return 0 }

// Close does nothing.
func (*Tokens) Close() error { return nil }

// KeyPairs fails: this build has no PKCS#11.
func (*Token) KeyPairs(*URI) ([]crypto.Signer, error) { return nil, ErrNotBuilt }

// GenerateRSA fails: this build has no PKCS#11.
func (*Token) GenerateRSA(string, []byte, int, Usage) (crypto.Signer, error) {
	return nil, ErrNotBuilt
}

// Delete fails: this build has no PKCS#11.
func (*Token) Delete(crypto.Signer) error { return ErrNotBuilt }
