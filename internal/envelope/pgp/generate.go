package pgp

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Defaults of GenerateKey (issue 3: RSA ≥ 2048, default 3072, one year).
const (
	DefaultRSABits     = 3072
	MaxRSABits         = 8192
	DefaultKeyLifetime = 365 * 24 * time.Hour
)

// GenerateKey makes a key for Google's rules: an RSA primary key that
// certifies and signs, and a separate RSA encryption subkey, both created at
// now and expiring after lifetime. Its preferences list SHA-384 and AES-256
// first and no compression, and it advertises no AEAD, which GnuPG 2.2 and
// Google do not read. bits 0 means DefaultRSABits, lifetime 0 means
// DefaultKeyLifetime, a zero now means time.Now.
func GenerateKey(name, email string, bits int, lifetime time.Duration, now time.Time) (*openpgp.Entity, error) {
	if bits == 0 {
		bits = DefaultRSABits
	}
	if bits < MinRSABits || bits > MaxRSABits {
		return nil, fmt.Errorf("pgp: RSA key size %d outside %d..%d", bits, MinRSABits, MaxRSABits)
	}
	cfg, err := keyConfig(lifetime, now)
	if err != nil {
		return nil, err
	}
	cfg.Algorithm, cfg.RSABits = packet.PubKeyAlgoRSA, bits
	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgp: generate key: %w", err)
	}
	// NewEntity binds its encryption subkey without an expiry of its own
	// (the primary's bounds it). Give it the same lifetime explicitly so
	// every tool shows it, and re-sign the binding.
	if len(e.Subkeys) != 1 {
		return nil, errors.New("pgp: generate key: expected one encryption subkey")
	}
	sk := &e.Subkeys[0]
	binding := sk.Bindings[0].Packet
	lifetimeSecs := cfg.KeyLifetimeSecs
	binding.KeyLifetimeSecs = &lifetimeSecs
	if err := binding.SignKey(sk.PublicKey, e.PrivateKey, cfg); err != nil {
		return nil, fmt.Errorf("pgp: generate key: %w", err)
	}
	sk.Bindings[0].Valid = nil
	return e, nil
}

// keyConfig is the configuration both GenerateKey and GenerateExternalKey
// make a key with, so that a key in a token gets the same preferences as one
// in a file: created at now (zero: time.Now), expiring after lifetime (0:
// DefaultKeyLifetime), SHA-384 and AES-256 preferred, no compression, no
// AEAD advertised.
func keyConfig(lifetime time.Duration, now time.Time) (*packet.Config, error) {
	if lifetime == 0 {
		lifetime = DefaultKeyLifetime
	}
	secs := lifetime / time.Second
	if secs < 1 || secs > math.MaxUint32 {
		return nil, fmt.Errorf("pgp: key lifetime %v outside 1s..136y", lifetime)
	}
	if now.IsZero() {
		now = time.Now()
	}
	return &packet.Config{
		DefaultHash:                           crypto.SHA384,
		DefaultCipher:                         packet.CipherAES256,
		DefaultCompressionAlgo:                packet.CompressionNone,
		KeyLifetimeSecs:                       uint32(secs),
		Time:                                  func() time.Time { return now },
		NonDeterministicSignaturesViaNotation: packet.BoolPointer(false),
	}, nil
}

// WritePrivateKey writes e's private key, armored, to a new file of mode
// 0600. It never overwrites: an existing path is an error, so a key is never
// lost to a mistyped command.
func WritePrivateKey(path string, e *openpgp.Entity) error {
	if e == nil || e.PrivateKey == nil {
		return errors.New("pgp: no private key to write")
	}
	data, err := armorPrivate(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("pgp: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("pgp: write %s: %w", path, err)
	}
	return nil
}

// ArmorPublicKey returns e's public key, armored: what to hand to Google.
func ArmorPublicKey(e *openpgp.Entity) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, fmt.Errorf("pgp: %w", err)
	}
	if err := e.Serialize(w); err != nil {
		return nil, fmt.Errorf("pgp: serialize public key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("pgp: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// armorPrivate is WritePrivateKey's encoding. It is kept off the exported
// API so that a private key only ever leaves the process into a 0600 file.
func armorPrivate(e *openpgp.Entity) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, fmt.Errorf("pgp: %w", err)
	}
	// WithoutSigning: the self-signatures are already made; re-signing
	// would re-date them to the wall clock.
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		return nil, fmt.Errorf("pgp: serialize private key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("pgp: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
