// Package jose is the JWE + JWS envelope of SPEC §5: a body is a JWS compact
// serialisation signed by the sender, encrypted as the payload of a JWE
// compact serialisation to the receiver, with Content-Type
// "application/jose; charset=utf-8".
//
// Algorithms come from explicit allow-lists (Options), never from what a
// message's header asks for: a header naming anything else ("none", "dir",
// HS256 with a public key as the HMAC secret, …) is refused before any key is
// touched.
//
// Keys are picked by "kid", on both layers and both sides:
//
//   - Open decrypts with our key named by the JWE "kid" and verifies with
//     Google's key named by the JWS "kid". A message without a "kid" is tried
//     against each candidate key in turn; this costs one RSA operation per key
//     and there are only a few (two during a rotation). RSA1_5 decryption with
//     a wrong key fails on the authentication tag like any tampering does
//     (go-jose substitutes a random CEK, RFC 7516 §11.5), so trying several
//     keys opens no padding oracle.
//   - Seal has one signer and one recipient, since the compact serialisation
//     has room for no more. Among the keys that are not expired it takes the
//     newest: the one with the latest "exp"; a key without "exp" counts as
//     older than any key with one; between equals, the one listed last in the
//     configuration, where a rotation appends the new key.
//
// Expiry (our "exp" convention, see Key): an expired key never signs, never
// receives, and Google's expired keys no longer verify. Our expired keys do
// still decrypt: a sender may encrypt to our old key for a while after a
// rotation, and expiry is not revocation; remove a compromised key from the
// configuration instead.
//
// Compression: Open accepts "zip":"DEF" always, and refuses a JWE whose
// plaintext, decompressed, exceeds Options.MaxPlaintext (64 KiB, the
// server's body limit, by default) as undecryptable. go-jose itself bounds
// inflation only at max(250 kB, 10 × the compressed size), up to about
// 480 kB under a 64 KiB body; that much inflating costs less than the RSA
// decryption before it, so the bound is checked on the result. Seal compresses only with
// Options.Compress, off by default: every JWE reader must handle uncompressed
// content while "zip" is optional, our bodies are a few hundred bytes, and
// not compressing avoids the length side channel of compress-then-encrypt.
package jose

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/otpgate/otpgate/internal/envelope"
)

// ContentType is the Content-Type of JOSE bodies (SPEC §5).
const ContentType = "application/jose; charset=utf-8"

// DefaultMaxPlaintext bounds the decrypted, decompressed JWE plaintext: the
// server's default body limit (SPEC §2).
const DefaultMaxPlaintext = 64 << 10

// ErrNoUsableKey is returned by New for a key set that cannot serve, and by
// Seal once no key may sign or receive any more: all of ours that can sign,
// or all of Google's that can receive, have expired. The server cannot
// answer Google until keys are rotated.
var ErrNoUsableKey = errors.New("jose: no usable key")

// The algorithms this package can be configured to allow. RSA only, since
// Google's keys and ours are RSA; symmetric ("dir", HS256) and "none" are
// absent on purpose and cannot be configured.
var (
	supportedKeyAlgorithms = []string{
		string(gojose.RSA1_5), string(gojose.RSA_OAEP), string(gojose.RSA_OAEP_256),
	}
	supportedContentEncryptions = []string{
		string(gojose.A128CBC_HS256), string(gojose.A192CBC_HS384), string(gojose.A256CBC_HS512),
		string(gojose.A128GCM), string(gojose.A192GCM), string(gojose.A256GCM),
	}
	supportedSignatureAlgorithms = []string{
		string(gojose.RS256), string(gojose.RS384), string(gojose.RS512),
		string(gojose.PS256), string(gojose.PS384), string(gojose.PS512),
	}
)

// Options configures a Codec. Each list is an allow-list for Open, and its
// first entry is what Seal uses. Empty lists take the defaults of SPEC §5:
// RSA1_5, A128CBC-HS256 and RS256; A256CBC-HS512, RSA-OAEP-256 and PS256 are
// accepted only when listed.
type Options struct {
	KeyAlgorithms       []string // JWE "alg"; default [RSA1_5]
	ContentEncryptions  []string // JWE "enc"; default [A128CBC-HS256]
	SignatureAlgorithms []string // JWS "alg"; default [RS256]
	// Compress makes Seal set "zip":"DEF". Open accepts compressed
	// messages either way.
	Compress bool
	// MaxPlaintext bounds the JWE plaintext (the nested JWS), decompressed;
	// default DefaultMaxPlaintext. The server passes its --max-body-bytes.
	MaxPlaintext int64
	// Now is the clock for key expiry; default time.Now.
	Now func() time.Time
}

// Codec implements envelope.Codec with JWE + JWS. It is immutable after New
// and safe for concurrent use; Open and Seal never touch the key files.
type Codec struct {
	keys     KeySet
	keyAlgs  []gojose.KeyAlgorithm
	encs     []gojose.ContentEncryption
	sigAlgs  []gojose.SignatureAlgorithm
	compress bool
	now      func() time.Time
	maxPlain int64
}

var _ envelope.Codec = (*Codec)(nil)

// New checks opts and keys and returns a Codec. It refuses a key set that
// could not serve right now: with no key of ours to decrypt with, no active
// key of ours to sign with, or no active key of Google's to verify with or to
// encrypt to (each compatible with the configured algorithms), the server
// could not answer a single request.
func New(keys *KeySet, opts Options) (*Codec, error) {
	c := &Codec{compress: opts.Compress, now: opts.Now, maxPlain: opts.MaxPlaintext}
	if c.now == nil {
		c.now = time.Now
	}
	if c.maxPlain <= 0 {
		c.maxPlain = DefaultMaxPlaintext
	}
	var err error
	if c.keyAlgs, err = allowList[gojose.KeyAlgorithm]("key algorithm", opts.KeyAlgorithms, supportedKeyAlgorithms, gojose.RSA1_5); err != nil {
		return nil, err
	}
	if c.encs, err = allowList[gojose.ContentEncryption]("content encryption", opts.ContentEncryptions, supportedContentEncryptions, gojose.A128CBC_HS256); err != nil {
		return nil, err
	}
	if c.sigAlgs, err = allowList[gojose.SignatureAlgorithm]("signature algorithm", opts.SignatureAlgorithms, supportedSignatureAlgorithms, gojose.RS256); err != nil {
		return nil, err
	}
	if keys == nil {
		return nil, errors.New("jose: no keys")
	}
	if err := keys.validate(); err != nil {
		return nil, err
	}
	// Copy the keys so that the Codec stays immutable whatever the caller
	// does with its KeySet afterwards.
	c.keys.Ours = make([]*Key, len(keys.Ours))
	for i, k := range keys.Ours {
		c.keys.Ours[i] = new(*k)
	}
	c.keys.Google = make([]*Key, len(keys.Google))
	for i, k := range keys.Google {
		c.keys.Google[i] = k.Public() // we never need, so never keep, a private part of Google's
	}

	now := c.now()
	anyAlg := func(purpose string, algs []string) func(*Key) bool {
		return func(k *Key) bool {
			return slices.ContainsFunc(algs, func(a string) bool { return k.canUse(purpose, a) })
		}
	}
	active := func(ok func(*Key) bool) func(*Key) bool {
		return func(k *Key) bool { return ok(k) && !k.expired(now) }
	}
	for _, need := range []struct {
		keys []*Key
		ok   func(*Key) bool
		what string
	}{
		{c.keys.Ours, anyAlg(UseEnc, names(c.keyAlgs)), "no key of ours can decrypt with " + join(c.keyAlgs)},
		{c.keys.Ours, active(anyAlg(UseSig, names(c.sigAlgs[:1]))), "no active key of ours can sign with " + string(c.sigAlgs[0])},
		{c.keys.Google, active(anyAlg(UseSig, names(c.sigAlgs))), "no active key of Google's can verify " + join(c.sigAlgs)},
		{c.keys.Google, active(anyAlg(UseEnc, names(c.keyAlgs[:1]))), "no active key of Google's can receive " + string(c.keyAlgs[0])},
	} {
		if !slices.ContainsFunc(need.keys, need.ok) {
			return nil, fmt.Errorf("%w: %s", ErrNoUsableKey, need.what)
		}
	}
	return c, nil
}

// allowList validates configured algorithm names against what this package
// supports. Names are case-sensitive, as in JOSE.
func allowList[T ~string](what string, configured, supported []string, def T) ([]T, error) {
	if len(configured) == 0 {
		return []T{def}, nil
	}
	out := make([]T, 0, len(configured))
	for _, name := range configured {
		if !slices.Contains(supported, name) {
			return nil, fmt.Errorf("jose: %s %q is not supported; choose from %s", what, name, strings.Join(supported, ", "))
		}
		if !slices.Contains(out, T(name)) {
			out = append(out, T(name))
		}
	}
	return out, nil
}

func names[T ~string](algs []T) []string {
	out := make([]string, len(algs))
	for i, a := range algs {
		out[i] = string(a)
	}
	return out
}

func join[T ~string](algs []T) string { return strings.Join(names(algs), ", ") }

// Name is "jose".
func (c *Codec) Name() string { return "jose" }

// ContentType is "application/jose; charset=utf-8".
func (c *Codec) ContentType() string { return ContentType }

// Keys describes both sides' keys as of now.
func (c *Codec) Keys() []KeyInfo { return c.keys.Info(c.now()) }

// Open decrypts a JWE compact serialisation with one of our keys, then
// verifies the JWS compact serialisation inside it with one of Google's keys,
// and returns the JWS payload. Leading and trailing whitespace (a trailing
// newline) is ignored. Errors wrap envelope.ErrUndecryptable for anything
// wrong with the JWE layer and envelope.ErrBadSignature for anything wrong
// with the JWS layer; the rest of the message says what, without secrets.
func (c *Codec) Open(body []byte) ([]byte, error) {
	jwe, err := gojose.ParseEncryptedCompact(string(bytes.TrimSpace(body)), c.keyAlgs, c.encs)
	if err != nil {
		return nil, fmt.Errorf("%w: not a JWE compact serialisation with an allowed algorithm: %v", envelope.ErrUndecryptable, err)
	}
	inner, err := c.decrypt(jwe)
	if err != nil {
		return nil, err
	}
	jws, err := gojose.ParseSignedCompact(string(inner), c.sigAlgs)
	if err != nil {
		return nil, fmt.Errorf("%w: the JWE does not hold a JWS compact serialisation with an allowed algorithm: %v", envelope.ErrBadSignature, err)
	}
	return c.verify(jws)
}

func (c *Codec) decrypt(jwe *gojose.JSONWebEncryption) ([]byte, error) {
	alg, kid := jwe.Header.Algorithm, jwe.Header.KeyID
	// ParseEncryptedCompact has checked alg against the allow-list; check
	// again here so that this function is safe on its own.
	if !slices.Contains(c.keyAlgs, gojose.KeyAlgorithm(alg)) {
		return nil, fmt.Errorf("%w: JWE alg %q is not allowed", envelope.ErrUndecryptable, alg)
	}
	candidates, err := pick(c.keys.Ours, kid, UseEnc, alg, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("%w: JWE: %v", envelope.ErrUndecryptable, err)
	}
	var last error
	for _, k := range candidates {
		plaintext, err := jwe.Decrypt(k.decryptionKey())
		if err == nil {
			if n := int64(len(plaintext)); n > c.maxPlain {
				return nil, fmt.Errorf("%w: JWE plaintext of %d bytes (decompressed) exceeds %d", envelope.ErrUndecryptable, n, c.maxPlain)
			}
			return plaintext, nil
		}
		last = fmt.Errorf("with key %q: %v", k.ID, err)
	}
	return nil, fmt.Errorf("%w: JWE alg %s: %v", envelope.ErrUndecryptable, alg, last)
}

func (c *Codec) verify(jws *gojose.JSONWebSignature) ([]byte, error) {
	// A compact serialisation has exactly one signature, in a protected header.
	h := jws.Signatures[0].Protected
	alg, kid := h.Algorithm, h.KeyID
	if !slices.Contains(c.sigAlgs, gojose.SignatureAlgorithm(alg)) {
		return nil, fmt.Errorf("%w: JWS alg %q is not allowed", envelope.ErrBadSignature, alg)
	}
	candidates, err := pick(c.keys.Google, kid, UseSig, alg, c.now())
	if err != nil {
		return nil, fmt.Errorf("%w: JWS: %v", envelope.ErrBadSignature, err)
	}
	var last error
	for _, k := range candidates {
		// The key passed is an *rsa.PublicKey, never the header's "jwk" nor
		// anything that could serve as an HMAC secret.
		payload, err := jws.Verify(k.PublicKey)
		if err == nil {
			return payload, nil
		}
		last = fmt.Errorf("with key %q: %v", k.ID, err)
	}
	return nil, fmt.Errorf("%w: JWS alg %s: %v", envelope.ErrBadSignature, alg, last)
}

// pick returns the keys that may serve purpose with alg: the one named kid, or
// every fitting key when kid is empty. A zero now means expiry does not
// matter (our keys decrypting). It fails, saying why, when no key fits.
func pick(keys []*Key, kid, purpose, alg string, now time.Time) ([]*Key, error) {
	fits := func(k *Key) error {
		switch {
		case !k.canUse(purpose, alg):
			return fmt.Errorf("key %q (%s, alg %q) may not be used for %s with %s", k.ID, usage(k.Use), k.Algorithm, purpose, alg)
		case !now.IsZero() && k.expired(now):
			return fmt.Errorf("key %q expired at %s", k.ID, k.Expires.UTC().Format(time.RFC3339))
		}
		return nil
	}
	if kid != "" {
		i := slices.IndexFunc(keys, func(k *Key) bool { return k.ID == kid })
		if i < 0 {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		if err := fits(keys[i]); err != nil {
			return nil, err
		}
		return keys[i : i+1], nil
	}
	var out []*Key
	for _, k := range keys {
		if fits(k) == nil {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no kid, and no key fits %s with %s", purpose, alg)
	}
	return out, nil
}

// Seal signs plaintext with our newest active signing key and encrypts the
// JWS to Google's newest active encryption key, with the first algorithm of
// each allow-list, "kid" set on both layers and "zip":"DEF" when
// Options.Compress is set. It fails with ErrNoUsableKey when a side has no
// active key left.
func (c *Codec) Seal(plaintext []byte) ([]byte, error) {
	now := c.now()
	sigAlg, keyAlg, enc := c.sigAlgs[0], c.keyAlgs[0], c.encs[0]
	signer := newest(c.keys.Ours, UseSig, string(sigAlg), now)
	if signer == nil {
		return nil, fmt.Errorf("%w: none of our keys can sign with %s any more: all are expired", ErrNoUsableKey, sigAlg)
	}
	recipient := newest(c.keys.Google, UseEnc, string(keyAlg), now)
	if recipient == nil {
		return nil, fmt.Errorf("%w: none of Google's keys can receive %s any more: all are expired", ErrNoUsableKey, keyAlg)
	}

	s, err := gojose.NewSigner(gojose.SigningKey{
		Algorithm: sigAlg,
		Key:       signer.signingKey(),
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("jose: signing with key %q: %w", signer.ID, err)
	}
	jws, err := s.Sign(plaintext)
	if err != nil {
		return nil, fmt.Errorf("jose: signing with key %q: %w", signer.ID, err)
	}
	inner, err := jws.CompactSerialize()
	if err != nil {
		return nil, fmt.Errorf("jose: %w", err)
	}

	var eopts gojose.EncrypterOptions
	if c.compress {
		eopts.Compression = gojose.DEFLATE
	}
	e, err := gojose.NewEncrypter(enc, gojose.Recipient{Algorithm: keyAlg, Key: recipient.PublicKey, KeyID: recipient.ID}, &eopts)
	if err != nil {
		return nil, fmt.Errorf("jose: encrypting to key %q: %w", recipient.ID, err)
	}
	jwe, err := e.Encrypt([]byte(inner))
	if err != nil {
		return nil, fmt.Errorf("jose: encrypting to key %q: %w", recipient.ID, err)
	}
	out, err := jwe.CompactSerialize()
	if err != nil {
		return nil, fmt.Errorf("jose: %w", err)
	}
	return []byte(out), nil
}

// newest returns the active key for purpose and alg that Seal should use (see
// the package documentation), or nil.
func newest(keys []*Key, purpose, alg string, now time.Time) *Key {
	var best *Key
	for _, k := range keys {
		if k.canUse(purpose, alg) && !k.expired(now) && (best == nil || !older(k, best)) {
			best = k
		}
	}
	return best
}

// older reports whether a is older than b by "exp": a key without "exp"
// is older than any key with one. Equals are not older, so that the key
// listed later wins.
func older(a, b *Key) bool {
	switch {
	case a.Expires.IsZero():
		return !b.Expires.IsZero()
	case b.Expires.IsZero():
		return false
	default:
		return a.Expires.Before(b.Expires)
	}
}
