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
//   - Open wants an integrity-protected message (SEIPD v1 with MDC, or v2
//     with AEAD) encrypted to a public key of ours, with no passphrase
//     alternative, and at least one valid signature by an active Google
//     signing key. Other signatures (unknown signers, even bad ones) are
//     ignored.
//   - Algorithms come from explicit allow-lists (Options), as in JOSE:
//     by default AES-128/192/256 (SEIPD v1, or v2 with OCB, EAX or GCM),
//     SHA-256/384/512 signatures, RSA keys of 2048 bits or more, ZIP or ZLIB
//     compression. CAST5, 3DES, IDEA, SHA-1, short RSA keys, DSA and
//     ElGamal cannot be allowed at all. Keys of a disallowed kind are refused
//     by New; messages are checked after go-crypto has parsed them (the
//     cipher that was actually used, the digest and the signer of the
//     signature that verified), whatever go-crypto itself accepts.
//   - The work an unauthenticated body causes is bounded before any
//     private-key operation (see ExtraRecipients and MaxSignatures in
//     open.go): at most one RSA decryption per key of ours, whatever the
//     body holds, and no decompression beyond Options.MaxPlaintext.
//     Decryption is done here, packet by packet, rather than by go-crypto's
//     ReadMessage, whose loops cannot be bounded from outside; ReadMessage
//     verifies the signatures of the decrypted, decompressed message.
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
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
)

// ContentType is the Content-Type of PGP-protected bodies (SPEC §5).
const ContentType = "application/octet-stream; charset=utf-8"

// DefaultMaxPlaintext bounds what a request may decrypt and decompress to:
// the server's default body limit (SPEC §2). The server caps the encrypted
// body, but an OpenPGP message may be compressed, so without this a small
// body could inflate without limit. The server passes its --max-body-bytes.
const DefaultMaxPlaintext = 64 << 10

// ErrNoKey is returned by Seal (wrapped, with details) when no active key is
// left to sign with or to encrypt to. The server cannot answer Google then;
// Check reports the same condition at start-up.
var ErrNoKey = errors.New("pgp: no active key")

// Options tune a Codec. The zero value is ready to use.
type Options struct {
	// Now is the clock that decides which keys are active. Nil means time.Now.
	Now func() time.Time
	// MaxPlaintext bounds the decrypted request: the decompressed packets
	// of a compressed message and the literal data. Zero means
	// DefaultMaxPlaintext.
	MaxPlaintext int64

	// Allow-lists of what requests may use, by name (case does not
	// matter); nil means the Default list of the same name. Responses are
	// always AES-256 and SHA-384 (SPEC §5), whatever these say.
	Ciphers       []string // symmetric ciphers: AES128, AES192, AES256
	AEADModes     []string // SEIPD v2 modes: OCB, EAX, GCM; or None
	Digests       []string // signature hashes: SHA256, SHA384, SHA512, SHA3-256, SHA3-512
	Compressions  []string // ZIP, ZLIB, BZIP2; or None (uncompressed is always accepted)
	KeyAlgorithms []string // every key and subkey, ours and Google's, and every signer: RSA, ECDSA, ECDH, EdDSA, Ed25519, X25519, Ed448, X448
	// MinRSABits is the smallest RSA key accepted anywhere: ours, Google's
	// and signers. Zero means MinRSABits (2048); less is refused.
	MinRSABits int
	// HiddenRecipients accepts session keys whose recipient key ID is 0
	// (gpg --hidden-recipient); each is tried against our keys not yet
	// tried. Off by default: Google names its recipients.
	HiddenRecipients bool
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
	policy       *policy
	// maxRecipients bounds the session-key packets Open reads: one per
	// encryption key of ours and ExtraRecipients.
	maxRecipients int
	cfg           *packet.Config
	// verifyCfg is cfg for verifying decrypted messages (see verify).
	verifyCfg *packet.Config
}

var _ envelope.Codec = (*Codec)(nil)

// New builds a Codec from our private keys and Google's public keys, parsed
// once here (see LoadKeys). It checks the options and what cannot change
// with time: our keys carry unencrypted secret material and list SHA-384
// among their preferred hashes, Google's carry none, every key and subkey is
// of an accepted algorithm (RSA by default) and RSA keys have at least
// Options.MinRSABits, and no key is on both sides. Keys that are expired today are kept, so that Keys can
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
	var err error
	if c.policy, err = newPolicy(opts); err != nil {
		return nil, err
	}
	c.cfg = &packet.Config{
		DefaultHash:            crypto.SHA384,
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
		Time:                   c.now,
		// Keep signatures plain: no random salt notation that some
		// verifiers might not expect. RSA-PKCS#1 v1.5 needs no salt.
		NonDeterministicSignaturesViaNotation: packet.BoolPointer(false),
	}
	c.policy.configure(c.cfg)
	// Open decrypts by itself and hands go-crypto the decrypted message,
	// which go-crypto then sees as unencrypted: it checks intended
	// recipients only in encrypted ones, so checkSignatures does it.
	vcfg := *c.cfg
	vcfg.CheckIntendedRecipients = packet.BoolPointer(false)
	c.verifyCfg = &vcfg
	if len(ours) == 0 {
		return nil, errors.New("pgp: no key of ours given")
	}
	if len(google) == 0 {
		return nil, errors.New("pgp: no key of Google's given")
	}

	seen := make(map[string]string) // fingerprint → owner
	for _, e := range ours {
		if err := checkEntity(e, true, c.policy, c.cfg); err != nil {
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
		if err := checkEntity(e, false, c.policy, c.cfg); err != nil {
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
	for _, e := range c.ours {
		c.maxRecipients += len(decryptionKeys(e, time.Time{}, c.cfg))
	}
	c.maxRecipients += ExtraRecipients
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
