package pgp

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Owners of a key, as KeyInfo.Owner reports them.
const (
	OwnerOurs   = "ours"
	OwnerGoogle = "google"
)

// ExpiryWarning is how long before its expiry a key counts as expiring soon
// (issue 3: reported at start, in /metrics and by `otpgate keys list`).
const ExpiryWarning = 30 * 24 * time.Hour

// MinRSABits is the smallest RSA modulus accepted anywhere (SPEC §5);
// Options.MinRSABits may raise it.
const MinRSABits = 2048

// maxKeyFile bounds a key file read into memory; real ones are a few KiB.
const maxKeyFile = 1 << 20

// LoadKeys reads our private key files and Google's public key files, each
// armored or binary and holding one or more keys. Private key files must not
// be accessible to group or others (mode 0600 or stricter). The result is
// meant for New; parsing happens here, once.
func LoadKeys(ourPrivateKeyFiles, googlePublicKeyFiles []string) (ours, google []*openpgp.Entity, err error) {
	for _, path := range ourPrivateKeyFiles {
		es, err := ReadKeyFile(path, true)
		if err != nil {
			return nil, nil, err
		}
		ours = append(ours, es...)
	}
	for _, path := range googlePublicKeyFiles {
		es, err := ReadKeyFile(path, false)
		if err != nil {
			return nil, nil, err
		}
		google = append(google, es...)
	}
	return ours, google, nil
}

// ReadKeyFile reads the keys of one file. With private set, every key must
// carry unencrypted secret material and the file must have mode 0600 (or
// stricter); without it, no key may carry secret material, so that a
// misplaced private key is noticed rather than silently used.
func ReadKeyFile(path string, private bool) ([]*openpgp.Entity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pgp: %w", err)
	}
	defer f.Close()
	if private {
		// Stat the open file, not the path, so the checked file is the
		// read one.
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("pgp: %w", err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return nil, fmt.Errorf("pgp: private key file %s has mode %04o: it must not be readable by group or others (chmod 600 %s)", path, perm, path)
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("pgp: %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("pgp: %s: larger than %d bytes, not a key file", path, maxKeyFile)
	}
	es, err := ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("pgp: %s: %w", path, err)
	}
	for _, e := range es {
		if err := checkSecrets(e, private); err != nil {
			return nil, fmt.Errorf("pgp: %s: %w", path, err)
		}
	}
	return es, nil
}

// ParseKeys parses armored or binary OpenPGP keys. Armored input may hold
// several blocks one after the other (as `cat a.asc b.asc` makes them).
func ParseKeys(data []byte) ([]*openpgp.Entity, error) {
	const begin = "-----BEGIN PGP "
	trimmed := bytes.TrimSpace(data)
	if !bytes.HasPrefix(trimmed, []byte(begin)) {
		es, err := openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("not an OpenPGP key: %w", err)
		}
		if len(es) == 0 {
			return nil, errors.New("no key found")
		}
		return es, nil
	}
	var out []*openpgp.Entity
	for len(trimmed) > 0 {
		next := bytes.Index(trimmed[1:], []byte(begin))
		block := trimmed
		if next >= 0 {
			block, trimmed = trimmed[:next+1], trimmed[next+1:]
		} else {
			trimmed = nil
		}
		b, err := armor.Decode(bytes.NewReader(block))
		if err != nil {
			return nil, fmt.Errorf("bad armor: %w", err)
		}
		if b.Type != openpgp.PublicKeyType && b.Type != openpgp.PrivateKeyType {
			return nil, fmt.Errorf("armored %q where a key was expected", b.Type)
		}
		es, err := openpgp.ReadKeyRing(b.Body)
		if err != nil {
			return nil, fmt.Errorf("not an OpenPGP key: %w", err)
		}
		out = append(out, es...)
	}
	if len(out) == 0 {
		return nil, errors.New("no key found")
	}
	return out, nil
}

// checkSecrets: our keys must be usable without a passphrase (the server
// has nobody to ask); Google's must be public only.
func checkSecrets(e *openpgp.Entity, private bool) error {
	id := e.PrimaryKey.KeyIdString()
	if !private {
		if e.PrivateKey != nil {
			return fmt.Errorf("key %s holds secret material; Google's key files must hold public keys only", id)
		}
		return nil
	}
	if e.PrivateKey == nil {
		return fmt.Errorf("key %s is a public key; our key files must hold private keys", id)
	}
	keys := []*packet.PrivateKey{e.PrivateKey}
	for _, sk := range e.Subkeys {
		keys = append(keys, sk.PrivateKey)
	}
	usable := false
	for _, k := range keys {
		if k == nil || k.Dummy() {
			continue
		}
		if k.Encrypted {
			return fmt.Errorf("private key %s is protected by a passphrase, which the server cannot enter: remove it (gpg --passwd %s, empty passphrase), export again with gpg --export-secret-keys and keep the file at mode 0600", id, id)
		}
		usable = true
	}
	if !usable {
		return fmt.Errorf("key %s holds no usable secret key (only stubs)", id)
	}
	return nil
}

// checkEntity is New's time-independent validation of one key.
func checkEntity(e *openpgp.Entity, ours bool, p *policy, cfg *packet.Config) error {
	if e == nil || e.PrimaryKey == nil {
		return errors.New("pgp: nil key")
	}
	if err := checkSecrets(e, ours); err != nil {
		return fmt.Errorf("pgp: %w", err)
	}
	pks := []*packet.PublicKey{e.PrimaryKey}
	for _, sk := range e.Subkeys {
		pks = append(pks, sk.PublicKey)
	}
	for _, pk := range pks {
		if err := p.checkKey(pk); err != nil {
			return fmt.Errorf("pgp: key %s: %w", e.PrimaryKey.KeyIdString(), err)
		}
	}
	if ours {
		// Signing hashes are chosen from the signer's own preferences;
		// without SHA-384 there go-crypto would sign with SHA-256.
		if _, ok := e.SigningKey(time.Time{}, cfg); ok {
			sig, err := e.PrimarySelfSignature(time.Time{}, cfg)
			if err != nil {
				return fmt.Errorf("pgp: key %s: %w", e.PrimaryKey.KeyIdString(), err)
			}
			if !slices.Contains(sig.PreferredHash, hashID(crypto.SHA384)) {
				return fmt.Errorf("pgp: key %s does not list SHA-384 among its preferred hashes; Google requires SHA-384 signatures (gpg --edit-key %s setpref 'SHA512 SHA384 SHA256 AES256 AES192 AES ZLIB ZIP Uncompressed', or generate a new key)", e.PrimaryKey.KeyIdString(), e.PrimaryKey.KeyIdString())
			}
		}
	}
	return nil
}

func hashID(h crypto.Hash) uint8 {
	// RFC 4880 §9.4 IDs of the hashes we name.
	switch h {
	case crypto.SHA256:
		return 8
	case crypto.SHA384:
		return 9
	case crypto.SHA512:
		return 10
	}
	return 0
}

// settle verifies, once, every self-signature, binding and revocation of e
// whose result go-crypto would otherwise compute and cache lazily, by
// writing VerifiableSignature.Valid, the first time a key is looked at for
// some date. Those writes would race between concurrent Open and Seal calls.
// The library's own functions are run first at the zero date (no expiry
// checks, which it applies afresh on every call); whatever they skip (older
// signatures shadowed by newer ones) is verified directly, with the same
// checks.
func settle(e *openpgp.Entity, cfg *packet.Config) {
	var zero time.Time
	_, _ = e.VerifyPrimaryKey(zero, cfg)
	for i := range e.Subkeys {
		_, _ = e.Subkeys[i].Verify(zero, cfg)
	}

	pk := e.PrimaryKey
	for _, s := range e.Revocations {
		settleSig(s, pk.VerifyRevocationSignature, false, cfg)
	}
	for _, s := range e.DirectSignatures {
		settleSig(s, pk.VerifyDirectKeySignature, true, cfg)
	}
	for _, id := range e.Identities {
		verify := func(sig *packet.Signature) error { return pk.VerifyUserIdSignature(id.Name, pk, sig) }
		for _, s := range id.SelfCertifications {
			settleSig(s, verify, true, cfg)
		}
		for _, s := range id.Revocations {
			settleSig(s, verify, true, cfg)
		}
	}
	for i := range e.Subkeys {
		sk := &e.Subkeys[i]
		for _, s := range sk.Bindings {
			settleSig(s, func(sig *packet.Signature) error { return pk.VerifyKeySignature(sk.PublicKey, sig) }, true, cfg)
		}
		for _, s := range sk.Revocations {
			settleSig(s, func(sig *packet.Signature) error { return pk.VerifySubkeyRevocationSignature(sig, sk.PublicKey) }, false, cfg)
		}
	}
}

// settleSig mirrors go-crypto's lazy check: the cryptographic verification
// plus, where the library adds them, its hash and critical-notation rules.
func settleSig(s *packet.VerifiableSignature, verify func(*packet.Signature) error, details bool, cfg *packet.Config) {
	if s.Valid != nil {
		return
	}
	err := verify(s.Packet)
	if err == nil && details {
		if cfg.RejectHashAlgorithm(s.Packet.Hash) {
			err = errors.New("rejected hash")
		}
		for _, n := range s.Packet.Notations {
			if n.IsCritical && !cfg.KnownNotation(n.Name) {
				err = errors.New("unknown critical notation")
			}
		}
	}
	ok := err == nil
	s.Valid = &ok
}

// KeyInfo describes one key or subkey for operators (`otpgate keys list`,
// start-up log, metrics).
type KeyInfo struct {
	Owner        string // OwnerOurs or OwnerGoogle
	Fingerprint  string // upper-case hex, the identifier to compare with Google
	KeyID        string // last 16 hex digits of the fingerprint
	PrimaryKeyID string // KeyID of the primary key; equal to KeyID on primary rows
	Primary      bool   // false for subkeys
	UserID       string // the primary user ID of the key the row belongs to
	Algorithm    string // e.g. "RSA-3072"
	Usage        string // "sign", "encrypt", "sign+encrypt", "certify" or "none"
	Created      time.Time
	// Expires is when the key stops being usable, its primary key's expiry
	// included; zero means never.
	Expires time.Time
	Revoked bool
	// Active is true when the key is in use now: bound, not expired nor
	// revoked (nor is its primary key), with a sign or encrypt usage, and,
	// for our keys, with its secret material at hand.
	Active bool
	// ExpiringSoon is true for active keys that expire within ExpiryWarning.
	ExpiringSoon bool
}

// Keys lists our keys, then Google's, each primary key followed by its
// subkeys, evaluated at Options.Now.
func (c *Codec) Keys() []KeyInfo {
	now := c.cfg.Now()
	var out []KeyInfo
	for _, e := range c.ours {
		out = append(out, describe(e, OwnerOurs, now, c.cfg)...)
	}
	for _, e := range c.google {
		out = append(out, describe(e, OwnerGoogle, now, c.cfg)...)
	}
	return out
}

// DescribeKeys lists keys that are not (or not yet) part of a Codec, for
// `otpgate keys list` on arbitrary files, evaluated at now. Like New it
// settles the keys' cached verification results, so call it before sharing
// freshly parsed keys between goroutines, not while another goroutine is
// reading unsettled ones.
func DescribeKeys(es []*openpgp.Entity, owner string, now time.Time) []KeyInfo {
	cfg := &packet.Config{Time: func() time.Time { return now }}
	var out []KeyInfo
	for _, e := range es {
		settle(e, cfg)
		out = append(out, describe(e, owner, now, cfg)...)
	}
	return out
}

func describe(e *openpgp.Entity, owner string, now time.Time, cfg *packet.Config) []KeyInfo {
	var zero time.Time
	primarySig, _ := e.PrimarySelfSignature(zero, cfg)
	_, primaryErr := e.VerifyPrimaryKey(now, cfg)
	uid := ""
	if _, ident := e.PrimaryIdentity(zero, cfg); ident != nil {
		uid = ident.Name
	}
	secret := func(k *packet.PrivateKey) bool { return owner != OwnerOurs || hasSecret(k) }

	primaryExpires := expiry(e.PrimaryKey, primarySig)
	row := KeyInfo{
		Owner:        owner,
		Fingerprint:  fmt.Sprintf("%X", e.PrimaryKey.Fingerprint),
		KeyID:        e.PrimaryKey.KeyIdString(),
		PrimaryKeyID: e.PrimaryKey.KeyIdString(),
		Primary:      true,
		UserID:       uid,
		Algorithm:    algorithm(e.PrimaryKey),
		Usage:        usage(primarySig, e.PrimaryKey),
		Created:      e.PrimaryKey.CreationTime,
		Expires:      primaryExpires,
		Revoked:      e.Revoked(now),
	}
	row.Active = primaryErr == nil && (row.Usage == "sign" || row.Usage == "encrypt" || row.Usage == "sign+encrypt") && secret(e.PrivateKey)
	row.ExpiringSoon = expiringSoon(row, now)
	out := []KeyInfo{row}

	for i := range e.Subkeys {
		sk := &e.Subkeys[i]
		sig, _ := sk.LatestValidBindingSignature(zero, cfg)
		_, skErr := sk.Verify(now, cfg)
		r := KeyInfo{
			Owner:        owner,
			Fingerprint:  fmt.Sprintf("%X", sk.PublicKey.Fingerprint),
			KeyID:        sk.PublicKey.KeyIdString(),
			PrimaryKeyID: row.KeyID,
			UserID:       uid,
			Algorithm:    algorithm(sk.PublicKey),
			Usage:        usage(sig, sk.PublicKey),
			Created:      sk.PublicKey.CreationTime,
			Expires:      earliest(expiry(sk.PublicKey, sig), primaryExpires),
			Revoked:      row.Revoked || sk.Revoked(sig, now),
		}
		r.Active = primaryErr == nil && skErr == nil && sig != nil && r.Usage != "none" && r.Usage != "certify" && secret(sk.PrivateKey)
		r.ExpiringSoon = expiringSoon(r, now)
		out = append(out, r)
	}
	return out
}

func expiringSoon(k KeyInfo, now time.Time) bool {
	return k.Active && !k.Expires.IsZero() && k.Expires.Sub(now) <= ExpiryWarning
}

func expiry(pk *packet.PublicKey, sig *packet.Signature) time.Time {
	if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return time.Time{}
	}
	return pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

func usage(sig *packet.Signature, pk *packet.PublicKey) string {
	if sig == nil {
		return "none"
	}
	s, e := canSign(sig, pk), canEncrypt(sig, pk)
	switch {
	case s && e:
		return "sign+encrypt"
	case s:
		return "sign"
	case e:
		return "encrypt"
	case sig.FlagsValid && sig.FlagCertify:
		return "certify"
	}
	return "none"
}

func algorithm(pk *packet.PublicKey) string {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		bits, _ := pk.BitLength()
		return fmt.Sprintf("RSA-%d", bits)
	case packet.PubKeyAlgoECDSA, packet.PubKeyAlgoECDH, packet.PubKeyAlgoEdDSA:
		curve, _ := pk.Curve()
		return fmt.Sprintf("%s-%s", algoNames[pk.PubKeyAlgo], curve)
	}
	if n, ok := algoNames[pk.PubKeyAlgo]; ok {
		return n
	}
	return fmt.Sprintf("algo-%d", pk.PubKeyAlgo)
}

var algoNames = map[packet.PublicKeyAlgorithm]string{
	packet.PubKeyAlgoECDSA:   "ECDSA",
	packet.PubKeyAlgoECDH:    "ECDH",
	packet.PubKeyAlgoEdDSA:   "EdDSA",
	packet.PubKeyAlgoX25519:  "X25519",
	packet.PubKeyAlgoX448:    "X448",
	packet.PubKeyAlgoEd25519: "Ed25519",
	packet.PubKeyAlgoEd448:   "Ed448",
	packet.PubKeyAlgoDSA:     "DSA",
	packet.PubKeyAlgoElGamal: "ElGamal",
}

// Check reports whether the Codec can serve now: at least one of our keys
// decrypts and one signs, and at least one of Google's keys verifies and one
// can be encrypted to. The server calls it at start and refuses to run on
// error.
func (c *Codec) Check() error {
	now := c.cfg.Now()
	var errs []error
	var decrypt int
	for _, e := range c.ours {
		decrypt += len(decryptionKeys(e, now, c.cfg))
	}
	if decrypt == 0 {
		errs = append(errs, errors.New("no key of ours can decrypt (expired, revoked, or no encryption subkey)"))
	}
	if len(c.signers(now)) == 0 {
		errs = append(errs, errors.New("no key of ours can sign (expired, revoked, or no signing key)"))
	}
	verify := 0
	for _, e := range c.google {
		if _, ok := e.SigningKey(now, c.cfg); ok {
			verify++
		}
	}
	if verify == 0 {
		errs = append(errs, errors.New("no key of Google's can verify signatures (expired, revoked, or no signing key)"))
	}
	if len(c.recipientKeys(now)) == 0 {
		errs = append(errs, errors.New("no key of Google's can be encrypted to (expired, revoked, or no encryption subkey)"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrNoKey, errors.Join(errs...))
	}
	return nil
}
