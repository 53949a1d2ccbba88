// Package pgp is the OpenPGP envelope of SPEC §5: request bodies are
// base64url of a binary OpenPGP message that Google signed and then
// encrypted to us; response bodies are the same the other way round.
//
// It is built on github.com/ProtonMail/go-crypto/openpgp/v2 rather than the
// v1 API because v1's ReadMessage keeps a single signer: with several
// one-pass signatures it hashes for the last one only and matches one key
// ID, so a message signed by an unknown key and one of Google's may fail
// depending on the order of the signatures. v2 keeps a candidate per
// signature; this package accepts the message when any candidate verifies
// under an active key of Google's. Every Entity in this
// package's API is therefore a v2 Entity (import it as
// openpgp "github.com/ProtonMail/go-crypto/openpgp/v2").
//
// Policy, in one place:
//
//   - A key is active when it is neither expired nor revoked at Options.Now,
//     nor is its primary key. Only active keys decrypt, verify, sign or are
//     encrypted to. Our expired keys do not decrypt either: there is no grace
//     period, so "active" in `otpgate keys list` means exactly "in use".
//     Expiry is warned about 30 days ahead (KeyInfo.ExpiringSoon).
//   - Open wants an integrity-protected message (SEIPD with MDC, or AEAD)
//     encrypted to a public key of ours, with no passphrase alternative, and
//     at least one valid signature by an active Google signing key. Other
//     signatures (unknown signers, even bad ones) are ignored.
//   - Seal signs with SHA-384 by the newest active signing key of each of our
//     keys and encrypts with AES-256 (SEIPD v1 with MDC, which every
//     OpenPGP implementation reads, GnuPG 2.2 included; not AEAD) to every
//     active encryption key of every Google key. It never compresses:
//     responses echo caller data next to secrets.
//   - Sealed bodies use padded base64url (RFC 4648 §5 with "="): padding is
//     the RFC default and every decoder that tolerates missing padding also
//     takes it, while strict decoders (Python's urlsafe_b64decode, Go's
//     URLEncoding) reject unpadded input.
package pgp

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
)

// ContentType is the Content-Type of PGP-protected bodies (SPEC §5).
const ContentType = "application/octet-stream; charset=utf-8"

// DefaultMaxPlaintext bounds what a request may decompress to. The server
// caps the encrypted body (64 KiB by default) but an OpenPGP message may be
// compressed, so without this a small body could inflate without limit.
const DefaultMaxPlaintext = 1 << 20

// ErrNoKey is returned by Seal (wrapped, with details) when no active key is
// left to sign with or to encrypt to. The server cannot answer Google then;
// Check reports the same condition at start-up.
var ErrNoKey = errors.New("pgp: no active key")

// Options tune a Codec. The zero value is ready to use.
type Options struct {
	// Now is the clock that decides which keys are active. Nil means time.Now.
	Now func() time.Time
	// MaxPlaintext bounds the decrypted (and decompressed) request size.
	// Zero means DefaultMaxPlaintext.
	MaxPlaintext int64
}

// Codec is the PGP envelope.Codec. It holds parsed keys only and is safe for
// concurrent use: New settles every lazily-cached verification result of the
// key structures up front (see settle), so Open and Seal only read them.
type Codec struct {
	ours, google []*openpgp.Entity
	// oursByID and googleByID index every key (primary and subkey) by key ID.
	oursByID, googleByID map[uint64][]*openpgp.Entity
	googleFPR            map[string]bool

	now          func() time.Time
	maxPlaintext int64
	cfg          *packet.Config
}

var _ envelope.Codec = (*Codec)(nil)

// New builds a Codec from our private keys and Google's public keys, parsed
// once here (see LoadKeys). It checks what cannot change with time: our keys
// carry unencrypted secret material and list SHA-384 among their preferred
// hashes, Google's carry none, RSA keys have at least 2048 bits, and no key
// is on both sides. Keys that are expired today are kept, so that Keys can
// show them; Check says whether enough of them are active to serve.
func New(ours, google []*openpgp.Entity, opts Options) (*Codec, error) {
	c := &Codec{
		oursByID:     make(map[uint64][]*openpgp.Entity),
		googleByID:   make(map[uint64][]*openpgp.Entity),
		googleFPR:    make(map[string]bool),
		now:          opts.Now,
		maxPlaintext: opts.MaxPlaintext,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.maxPlaintext <= 0 {
		c.maxPlaintext = DefaultMaxPlaintext
	}
	limit := c.maxPlaintext
	c.cfg = &packet.Config{
		DefaultHash:            crypto.SHA384,
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
		Time:                   c.now,
		// Keep signatures plain: no random salt notation that some
		// verifiers might not expect. RSA-PKCS#1 v1.5 needs no salt.
		NonDeterministicSignaturesViaNotation: packet.BoolPointer(false),
		MaxDecompressedMessageSize:            &limit,
	}
	if len(ours) == 0 {
		return nil, errors.New("pgp: no key of ours given")
	}
	if len(google) == 0 {
		return nil, errors.New("pgp: no key of Google's given")
	}

	seen := make(map[string]string) // fingerprint → owner
	for _, e := range ours {
		if err := checkEntity(e, true, c.cfg); err != nil {
			return nil, err
		}
		fpr := string(e.PrimaryKey.Fingerprint)
		if seen[fpr] != "" {
			continue // the same key listed twice: use it once
		}
		seen[fpr] = OwnerOurs
		settle(e, c.cfg)
		c.ours = append(c.ours, e)
		index(c.oursByID, e)
	}
	for _, e := range google {
		if err := checkEntity(e, false, c.cfg); err != nil {
			return nil, err
		}
		fpr := string(e.PrimaryKey.Fingerprint)
		switch seen[fpr] {
		case OwnerGoogle:
			continue
		case OwnerOurs:
			return nil, fmt.Errorf("pgp: key %X is configured both as ours and as Google's", e.PrimaryKey.Fingerprint)
		}
		seen[fpr] = OwnerGoogle
		settle(e, c.cfg)
		c.google = append(c.google, e)
		c.googleFPR[fpr] = true
		index(c.googleByID, e)
	}
	return c, nil
}

func index(m map[uint64][]*openpgp.Entity, e *openpgp.Entity) {
	m[e.PrimaryKey.KeyId] = append(m[e.PrimaryKey.KeyId], e)
	for _, sk := range e.Subkeys {
		m[sk.PublicKey.KeyId] = append(m[sk.PublicKey.KeyId], e)
	}
}

// Name is "pgp".
func (c *Codec) Name() string { return "pgp" }

// ContentType is application/octet-stream; charset=utf-8.
func (c *Codec) ContentType() string { return ContentType }

// Open decodes, decrypts and verifies a request body. Failures wrap
// envelope.ErrUndecryptable (not base64url, not OpenPGP, not for an active
// key of ours, not integrity protected, tampered, too large) or
// envelope.ErrBadSignature (decrypted fine, but no valid signature by an
// active Google key).
func (c *Codec) Open(body []byte) ([]byte, error) {
	b64, err := unpad(body)
	if err != nil {
		return nil, undecryptable(err)
	}
	now := c.cfg.Now()
	dec := base64.NewDecoder(base64.RawURLEncoding, bytes.NewReader(b64))
	md, err := openpgp.ReadMessage(dec, keyring{c, now}, nil, c.cfg)
	if errors.Is(err, pgperrors.ErrKeyIncorrect) {
		// The usual rotation mistake; say which keys Google used.
		ids := recipientIDs(b64)
		if len(ids) == 0 {
			return nil, undecryptable(errors.New("not encrypted to a public key"))
		}
		return nil, undecryptable(fmt.Errorf("encrypted to %s, none of them an active key of ours", strings.Join(ids, ", ")))
	}
	if err != nil {
		return nil, undecryptable(err)
	}
	switch {
	case !md.IsEncrypted:
		return nil, undecryptable(errors.New("message is not encrypted"))
	case md.IsSymmetricallyEncrypted:
		// Whoever knows the passphrase could have written it; refuse
		// rather than rely on the signature alone.
		return nil, undecryptable(errors.New("message is (also) encrypted with a passphrase"))
	case !c.isActiveDecryptionKey(md.DecryptedWith, now):
		// Only reachable for wildcard (hidden) recipients, which bypass
		// the key ring's filter.
		return nil, undecryptable(errors.New("decrypted with an inactive key"))
	}

	// The whole literal body must be read before any signature or MDC
	// result is known; only then is anything of it trusted.
	buf := bytes.NewBuffer(make([]byte, 0, min(int64(len(b64))*3/4, c.maxPlaintext)))
	n, err := io.Copy(buf, io.LimitReader(md.UnverifiedBody, c.maxPlaintext+1))
	switch {
	case err != nil:
		// MDC or AEAD failure, corrupt packets, base64 error, size limit.
		return nil, undecryptable(err)
	case n > c.maxPlaintext:
		return nil, undecryptable(fmt.Errorf("plaintext exceeds %d bytes", c.maxPlaintext))
	case !md.IsVerified && md.IsSigned:
		return nil, undecryptable(errors.New("message ended before its signatures"))
	}
	// Nothing may follow the message: trailing bytes mean a malformed or
	// spliced body, and draining also surfaces a base64 error at the end.
	if extra, err := io.Copy(io.Discard, dec); err != nil || extra != 0 {
		if err == nil {
			err = fmt.Errorf("%d bytes after the OpenPGP message", extra)
		}
		return nil, undecryptable(err)
	}

	if err := c.checkSignatures(md, now); err != nil {
		return nil, fmt.Errorf("%w: %v", envelope.ErrBadSignature, err)
	}
	return buf.Bytes(), nil
}

// checkSignatures accepts the message if any signature candidate is valid
// and was made by an active signing key of one of Google's keys. go-crypto
// checks each candidate against the key valid when the signature was made;
// the extra check at now refuses keys that have since expired or been
// revoked, and the fingerprint check refuses our own keys.
func (c *Codec) checkSignatures(md *openpgp.MessageDetails, now time.Time) error {
	if !md.IsSigned || len(md.SignatureCandidates) == 0 {
		return errors.New("message is not signed")
	}
	var reasons []error
	for _, cand := range md.SignatureCandidates {
		switch {
		case cand.SignedByEntity == nil || !c.googleFPR[string(cand.SignedByEntity.PrimaryKey.Fingerprint)]:
			reasons = append(reasons, fmt.Errorf("signature by unknown key %016X", cand.IssuerKeyId))
		case cand.SignatureError != nil:
			reasons = append(reasons, fmt.Errorf("signature by %016X: %w", cand.IssuerKeyId, cand.SignatureError))
		case cand.SignedBy == nil:
			reasons = append(reasons, fmt.Errorf("signature by %016X: no signing key", cand.IssuerKeyId))
		default:
			if _, ok := cand.SignedByEntity.SigningKeyById(now, cand.SignedBy.PublicKey.KeyId, c.cfg); !ok {
				reasons = append(reasons, fmt.Errorf("signature by %016X: key is expired or revoked", cand.IssuerKeyId))
				continue
			}
			return nil
		}
	}
	return errors.Join(reasons...)
}

// recipientIDs lists the key IDs a message is encrypted to, for errors.
func recipientIDs(b64 []byte) []string {
	r := packet.NewReader(base64.NewDecoder(base64.RawURLEncoding, bytes.NewReader(b64)))
	var ids []string
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		ek, ok := p.(*packet.EncryptedKey)
		if !ok {
			break
		}
		if ek.KeyId == 0 {
			ids = append(ids, "a hidden recipient")
		} else {
			ids = append(ids, fmt.Sprintf("%016X", ek.KeyId))
		}
	}
	return ids
}

func undecryptable(err error) error {
	return fmt.Errorf("%w: %v", envelope.ErrUndecryptable, err)
}

// unpad trims trailing whitespace and "=" padding so that one raw decoder
// takes padded and unpadded input alike. Padding, when present, must be
// correct: at most two characters, making the length a multiple of 4.
func unpad(body []byte) ([]byte, error) {
	body = bytes.TrimRight(body, " \t\r\n")
	raw := bytes.TrimRight(body, "=")
	if pad := len(body) - len(raw); pad > 0 && (pad > 2 || len(body)%4 != 0) {
		return nil, errors.New("malformed base64 padding")
	}
	if len(raw) == 0 {
		return nil, errors.New("empty body")
	}
	return raw, nil
}

// Seal signs plaintext with each of our active signing keys (SHA-384) and
// encrypts it with AES-256 to each active encryption key of Google's, then
// encodes it as padded base64url. It fails, wrapping ErrNoKey, when there is
// no key to sign with or to encrypt to.
func (c *Codec) Seal(plaintext []byte) ([]byte, error) {
	now := c.cfg.Now()
	recipients := c.recipientKeys(now)
	if len(recipients) == 0 {
		return nil, fmt.Errorf("%w: none of Google's keys has an active encryption key", ErrNoKey)
	}
	signers := c.signers(now)
	if len(signers) == 0 {
		return nil, fmt.Errorf("%w: none of our keys has an active signing key", ErrNoKey)
	}

	// Built from packets rather than with openpgp.Encrypt, which would let
	// the recipients' algorithm preferences pick the cipher (down to
	// AES-128, or AEAD that GnuPG 2.2 cannot read). SPEC §5 fixes AES-256.
	sessionKey := make([]byte, packet.CipherAES256.KeySize())
	if _, err := io.ReadFull(c.cfg.Random(), sessionKey); err != nil {
		return nil, fmt.Errorf("pgp: session key: %w", err)
	}
	defer clear(sessionKey)

	out := bytes.NewBuffer(make([]byte, 0, base64.URLEncoding.EncodedLen(sealOverhead(len(plaintext), len(recipients), len(signers)))))
	enc := base64.NewEncoder(base64.URLEncoding, out)
	for _, k := range recipients {
		if err := packet.SerializeEncryptedKeyAEAD(enc, k.PublicKey, packet.CipherAES256, false, sessionKey, c.cfg); err != nil {
			return nil, fmt.Errorf("pgp: encrypt session key to %016X: %w", k.PublicKey.KeyId, err)
		}
	}
	data, err := packet.SerializeSymmetricallyEncrypted(enc, packet.CipherAES256, false, packet.CipherSuite{}, sessionKey, c.cfg)
	if err != nil {
		return nil, fmt.Errorf("pgp: encrypt: %w", err)
	}
	// SignWithParams writes one-pass signature, literal data and signature
	// packets into the encrypted stream; its Close leaves data open.
	lit, err := openpgp.SignWithParams(data, signers, &openpgp.SignParams{Config: c.cfg})
	if err != nil {
		return nil, fmt.Errorf("pgp: sign: %w", err)
	}
	if _, err := lit.Write(plaintext); err != nil {
		return nil, fmt.Errorf("pgp: sign: %w", err)
	}
	if err := lit.Close(); err != nil {
		return nil, fmt.Errorf("pgp: sign: %w", err)
	}
	if err := data.Close(); err != nil { // writes the MDC
		return nil, fmt.Errorf("pgp: encrypt: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("pgp: encode: %w", err)
	}
	return out.Bytes(), nil
}

// sealOverhead estimates the binary message size, to size the output once.
func sealOverhead(n, recipients, signers int) int {
	return n + recipients*(16+512) + signers*(32+16+600) + 64
}

// keyring is the openpgp.KeyRing that ReadMessage sees during one Open. It
// returns Google's keys for any ID (they only verify: they hold no secret
// material) and ours only for IDs of keys that may decrypt at now, so that
// an expired key of ours is never picked while an active one is listed too.
type keyring struct {
	c   *Codec
	now time.Time
}

func (r keyring) EntitiesById(id uint64) []*openpgp.Entity {
	// Google's first: ReadMessage takes the first entity for a signer.
	out := append([]*openpgp.Entity(nil), r.c.googleByID[id]...)
	if id == 0 { // hidden recipient: any of ours may be it
		return append(out, r.c.ours...)
	}
	for _, e := range r.c.oursByID[id] {
		for _, k := range decryptionKeys(e, r.now, r.c.cfg) {
			if k.PublicKey.KeyId == id {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

func (r keyring) KeysById(id uint64) []openpgp.Key {
	var keys []openpgp.Key
	for _, e := range r.EntitiesById(id) {
		keys = append(keys, openpgp.EntityList{e}.KeysById(id)...)
	}
	return keys
}

func (c *Codec) isActiveDecryptionKey(k openpgp.Key, now time.Time) bool {
	if k.Entity == nil || k.PublicKey == nil {
		return false
	}
	if !contains(c.ours, k.Entity) {
		return false
	}
	for _, a := range decryptionKeys(k.Entity, now, c.cfg) {
		if a.PublicKey == k.PublicKey {
			return true
		}
	}
	return false
}

func contains(list []*openpgp.Entity, e *openpgp.Entity) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}

// recipientKeys are all active encryption keys of all of Google's keys.
func (c *Codec) recipientKeys(now time.Time) []openpgp.Key {
	var keys []openpgp.Key
	for _, e := range c.google {
		keys = append(keys, encryptionKeys(e, now, c.cfg)...)
	}
	return keys
}

// signers are those of our keys that have an active signing key with its
// secret material at hand.
func (c *Codec) signers(now time.Time) []*openpgp.Entity {
	var out []*openpgp.Entity
	for _, e := range c.ours {
		if k, ok := e.SigningKey(now, c.cfg); ok && hasSecret(k.PrivateKey) {
			out = append(out, e)
		}
	}
	return out
}

// decryptionKeys are the active encryption keys of e for which we hold the
// secret material.
func decryptionKeys(e *openpgp.Entity, now time.Time, cfg *packet.Config) []openpgp.Key {
	keys := encryptionKeys(e, now, cfg)
	out := keys[:0]
	for _, k := range keys {
		if hasSecret(k.PrivateKey) {
			out = append(out, k)
		}
	}
	return out
}

// encryptionKeys returns every key of e that may be encrypted to at now:
// primary key valid, the (sub)key itself bound, not expired nor revoked, and
// flagged for encryption. Unlike Entity.EncryptionKey, which picks the newest
// subkey only, it returns all of them (SPEC §5: "each encryption (sub)key").
func encryptionKeys(e *openpgp.Entity, now time.Time, cfg *packet.Config) []openpgp.Key {
	primarySig, err := e.VerifyPrimaryKey(now, cfg)
	if err != nil {
		return nil
	}
	var keys []openpgp.Key
	for i := range e.Subkeys {
		sk := &e.Subkeys[i]
		sig, err := sk.Verify(now, cfg)
		if err != nil || !canEncrypt(sig, sk.PublicKey) {
			continue
		}
		keys = append(keys, openpgp.Key{Entity: e, PrimarySelfSignature: primarySig, PublicKey: sk.PublicKey, PrivateKey: sk.PrivateKey, SelfSignature: sig})
	}
	if canEncrypt(primarySig, e.PrimaryKey) {
		keys = append(keys, openpgp.Key{Entity: e, PrimarySelfSignature: primarySig, PublicKey: e.PrimaryKey, PrivateKey: e.PrivateKey, SelfSignature: primarySig})
	}
	return keys
}

func canEncrypt(sig *packet.Signature, pk *packet.PublicKey) bool {
	return pk.PubKeyAlgo.CanEncrypt() && sig.FlagsValid && (sig.FlagEncryptCommunications || sig.FlagEncryptStorage)
}

func canSign(sig *packet.Signature, pk *packet.PublicKey) bool {
	return pk.PubKeyAlgo.CanSign() && sig.FlagsValid && sig.FlagSign
}

func hasSecret(k *packet.PrivateKey) bool {
	return k != nil && !k.Dummy() && !k.Encrypted
}
