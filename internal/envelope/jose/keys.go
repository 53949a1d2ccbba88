package jose

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
)

// Key sizes. Google requires RSA keys of at least 2048 bits; go-jose refuses
// to parse moduli above 4096 bits (gojose.MaxRSAModulusBits), so a larger key
// could be generated here but never loaded again.
const (
	MinRSABits     = 2048
	DefaultRSABits = 3072
	MaxRSABits     = 4096
)

// ExpiryWarning is how long before its expiry a key counts as expiring soon,
// so that operators have a month to rotate it (issue 3: reported at start, in
// /metrics and in `otpgate keys list`).
const ExpiryWarning = 30 * 24 * time.Hour

// Owner values of KeyInfo.
const (
	OwnerOurs   = "ours"
	OwnerGoogle = "google"
)

// Values of Key.Use, as in the JWK "use" member (RFC 7517 §4.2).
const (
	UseSig  = "sig"
	UseEnc  = "enc"
	UseBoth = "" // no "use" member: the key may sign and encrypt
)

// maxKeyFileSize bounds what LoadKeys reads from one file: a JWKS of a few RSA
// keys is a few kilobytes, and a path pointing at a device or a log file must
// not be read whole.
const maxKeyFileSize = 1 << 20

// Key is one RSA key of either side with the JWK metadata that decides how it
// may be used.
//
// JWK has no standard expiry member, so this package reads and writes an
// optional "exp" member holding a NumericDate (seconds since the Unix epoch,
// as in JWT). It is our own convention: other JOSE libraries ignore it, and
// a key without it never expires.
type Key struct {
	// ID is the JWK "kid"; required, and unique among the keys of one side.
	ID string
	// Use is the JWK "use": UseSig, UseEnc or UseBoth. A JWK without "use"
	// but with an "alg" gets the use that its algorithm implies.
	Use string
	// Algorithm is the JWK "alg". When set, the key is used with that
	// algorithm only.
	Algorithm string
	// Expires is the "exp" member; zero when the key does not expire.
	Expires time.Time
	// PrivateKey is nil for a public key, and for a key held in a token.
	PrivateKey *rsa.PrivateKey
	// PublicKey is always set.
	PublicKey *rsa.PublicKey
	// external performs the private operations of a key held outside the
	// process (an HSM); see NewExternalKey. Nil otherwise.
	external crypto.Signer
}

// Bits is the size of the RSA modulus.
func (k *Key) Bits() int { return k.PublicKey.N.BitLen() }

// Public returns a copy of k without its private part.
func (k *Key) Public() *Key {
	p := *k
	p.PrivateKey, p.external = nil, nil
	return &p
}

// String describes the key without any key material, so that a Key printed by
// mistake (in a log line, in an error) leaks nothing.
func (k Key) String() string {
	s := fmt.Sprintf("kid %q (RSA-%d, %s", k.ID, k.Bits(), usage(k.Use))
	if k.external != nil {
		s += ", in a token"
	}
	if !k.Expires.IsZero() {
		s += ", expires " + k.Expires.UTC().Format(time.RFC3339)
	}
	return s + ")"
}

// GoString is String, so that %#v does not print the private key either.
func (k Key) GoString() string { return k.String() }

// MarshalJWK returns k as a JWK, including the private part when k has one,
// and the "exp" member when k expires. It is a method rather than MarshalJSON
// on purpose: json.Marshal of a struct holding a Key must not print a private
// key.
func (k *Key) MarshalJWK() ([]byte, error) {
	var material any = k.PublicKey
	if k.PrivateKey != nil {
		material = k.PrivateKey
	}
	raw, err := gojose.JSONWebKey{Key: material, KeyID: k.ID, Algorithm: k.Algorithm, Use: k.Use}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("jose: key %q: %w", k.ID, err)
	}
	if k.Expires.IsZero() {
		return raw, nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("jose: key %q: %w", k.ID, err)
	}
	members["exp"] = json.RawMessage(strconv.FormatInt(k.Expires.Unix(), 10))
	return json.Marshal(members)
}

// expired reports whether k may no longer sign, encrypt or be trusted. As for
// a JWT "exp", the key is expired at the instant itself.
func (k *Key) expired(now time.Time) bool {
	return !k.Expires.IsZero() && !now.Before(k.Expires)
}

// canUse reports whether k may serve purpose (UseSig or UseEnc) with alg.
func (k *Key) canUse(purpose, alg string) bool {
	return (k.Use == UseBoth || k.Use == purpose) && (k.Algorithm == "" || k.Algorithm == alg)
}

func usage(use string) string {
	if use == UseBoth {
		return "sig+enc"
	}
	return use
}

// KeySet holds the keys of both sides: ours (private) and Google's (public).
// A KeySet is read once, at start; Codec never goes back to the files.
type KeySet struct {
	Ours   []*Key
	Google []*Key
}

// LoadKeys reads our private keys and Google's public keys. Each file holds
// one JWK or a JWK Set ({"keys": [...]}). Our key files must not be readable
// by group or others (chmod 600), every key needs a "kid" unique on its side,
// and only RSA keys of 2048 to 4096 bits are accepted. A Google file holding
// private key material is refused: it is most likely one of our own keys
// given in the wrong place.
func LoadKeys(ourPrivateJWKFiles, googlePublicJWKFiles []string) (*KeySet, error) {
	ks := &KeySet{}
	for _, path := range ourPrivateJWKFiles {
		keys, err := loadFile(path, true)
		if err != nil {
			return nil, err
		}
		ks.Ours = append(ks.Ours, keys...)
	}
	for _, path := range googlePublicJWKFiles {
		keys, err := loadFile(path, false)
		if err != nil {
			return nil, err
		}
		ks.Google = append(ks.Google, keys...)
	}
	if err := ks.validate(); err != nil {
		return nil, err
	}
	return ks, nil
}

func loadFile(path string, private bool) ([]*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("jose: %w", err)
	}
	defer f.Close()
	if private {
		// Stat the open file, not the path, so that the mode checked is the
		// mode of what is read.
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("jose: %w", err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return nil, fmt.Errorf("jose: private key file %s has mode %04o, which lets other users read it; run: chmod 600 %s", path, perm, path)
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("jose: %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("jose: %s: larger than %d bytes, not a JWK file", path, maxKeyFileSize)
	}
	keys, err := ParseJWKs(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	for _, k := range keys {
		switch {
		case private && k.PrivateKey == nil:
			return nil, fmt.Errorf("jose: %s: key %q is a public key; our key files must hold our private keys", path, k.ID)
		case !private && k.PrivateKey != nil:
			return nil, fmt.Errorf("jose: %s: key %q holds private key material; Google's key files must hold only Google's public keys", path, k.ID)
		}
	}
	return keys, nil
}

// ParseJWKs parses one JWK or a JWK Set and checks every key: a "kid", RSA of
// MinRSABits to MaxRSABits, a known "use" and "alg" that agree, a numeric
// "exp" if any, and no "kid" twice. The CLI uses it to check a file before
// importing it.
func ParseJWKs(data []byte) ([]*Key, error) {
	var set struct {
		Keys json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jose: not a JWK or JWK Set: %w", err)
	}
	raws := []json.RawMessage{data}
	if set.Keys != nil {
		if err := json.Unmarshal(set.Keys, &raws); err != nil {
			return nil, fmt.Errorf("jose: JWK Set: \"keys\" is not an array: %w", err)
		}
		if len(raws) == 0 {
			return nil, errors.New("jose: JWK Set holds no keys")
		}
	}
	keys := make([]*Key, 0, len(raws))
	for i, raw := range raws {
		k, err := parseJWK(raw)
		if err != nil {
			return nil, fmt.Errorf("jose: key %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	if err := uniqueIDs(keys); err != nil {
		return nil, err
	}
	return keys, nil
}

func parseJWK(raw []byte) (*Key, error) {
	var jwk gojose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	var extra struct {
		Exp *float64 `json:"exp"`
	}
	if err := json.Unmarshal(raw, &extra); err != nil {
		return nil, fmt.Errorf("\"exp\" must be a NumericDate (seconds since 1970, a JSON number): %w", err)
	}
	k := &Key{ID: jwk.KeyID, Use: jwk.Use, Algorithm: jwk.Algorithm}
	if k.ID == "" {
		return nil, errors.New("no \"kid\": every key needs one, since messages pick their key by kid")
	}
	switch key := jwk.Key.(type) {
	case *rsa.PrivateKey:
		key.Precompute()
		k.PrivateKey, k.PublicKey = key, &key.PublicKey
	case *rsa.PublicKey:
		k.PublicKey = key
	default:
		return nil, fmt.Errorf("key %q: only RSA keys are supported, not %T", k.ID, jwk.Key)
	}
	if bits := k.Bits(); bits < MinRSABits {
		return nil, fmt.Errorf("key %q: RSA-%d is too small, at least %d bits are required", k.ID, bits, MinRSABits)
	}
	if err := checkUse(k); err != nil {
		return nil, fmt.Errorf("key %q: %w", k.ID, err)
	}
	if extra.Exp != nil {
		if *extra.Exp <= 0 {
			return nil, fmt.Errorf("key %q: \"exp\" %v is not a time after 1970", k.ID, *extra.Exp)
		}
		sec, frac := math.Modf(*extra.Exp)
		k.Expires = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	return k, nil
}

// checkUse validates "use" and "alg" and, when only "alg" is given, derives
// the use from it so that the rest of the package has one field to look at.
func checkUse(k *Key) error {
	algUse := UseBoth
	switch {
	case k.Algorithm == "":
	case slices.Contains(supportedSignatureAlgorithms, k.Algorithm):
		algUse = UseSig
	case slices.Contains(supportedKeyAlgorithms, k.Algorithm):
		algUse = UseEnc
	default:
		return fmt.Errorf("\"alg\" %q is not one this server supports", k.Algorithm)
	}
	switch k.Use {
	case UseBoth:
		k.Use = algUse
	case UseSig, UseEnc:
		if algUse != UseBoth && algUse != k.Use {
			return fmt.Errorf("\"alg\" %q contradicts \"use\" %q", k.Algorithm, k.Use)
		}
	default:
		return fmt.Errorf("\"use\" %q is neither \"sig\" nor \"enc\"", k.Use)
	}
	return nil
}

func uniqueIDs(keys []*Key) error {
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[k.ID] {
			return fmt.Errorf("jose: kid %q is used by two keys; kids pick keys and must be unique", k.ID)
		}
		seen[k.ID] = true
	}
	return nil
}

// validate checks a KeySet built in memory as thoroughly as LoadKeys checks
// files.
func (ks *KeySet) validate() error {
	for _, s := range []struct {
		side string
		keys []*Key
	}{{OwnerOurs, ks.Ours}, {OwnerGoogle, ks.Google}} {
		side, keys := s.side, s.keys
		for _, k := range keys {
			if k == nil || k.PublicKey == nil {
				return fmt.Errorf("jose: a key of %s has no public key", side)
			}
			if side == OwnerOurs && k.PrivateKey == nil && k.external == nil {
				return fmt.Errorf("jose: our key %q has no private key", k.ID)
			}
			if k.ID == "" {
				return fmt.Errorf("jose: a key of %s has no kid", side)
			}
			if bits := k.Bits(); bits < MinRSABits || bits > MaxRSABits {
				return fmt.Errorf("jose: key %q: RSA-%d is outside %d to %d bits", k.ID, bits, MinRSABits, MaxRSABits)
			}
			if k.Use != UseBoth && k.Use != UseSig && k.Use != UseEnc {
				return fmt.Errorf("jose: key %q: use %q is neither %q nor %q", k.ID, k.Use, UseSig, UseEnc)
			}
			if k.Algorithm != "" && !slices.Contains(supportedKeyAlgorithms, k.Algorithm) && !slices.Contains(supportedSignatureAlgorithms, k.Algorithm) {
				return fmt.Errorf("jose: key %q: alg %q is not one this server supports", k.ID, k.Algorithm)
			}
		}
		if err := uniqueIDs(keys); err != nil {
			return fmt.Errorf("%w (%s keys)", err, side)
		}
	}
	return nil
}

// KeyInfo describes one key for operators (`otpgate keys list`, the start-up
// log, /metrics). It never holds key material.
type KeyInfo struct {
	ID        string    // the kid
	Owner     string    // OwnerOurs or OwnerGoogle
	Algorithm string    // "RSA-3072"
	Usage     string    // "sig", "enc" or "sig+enc"
	Expires   time.Time // zero when the key does not expire
	// Active: not past its expiry, so it may sign, encrypt, and (Google's)
	// verify. Our expired keys still decrypt; see Codec.Open.
	Active bool
	// ExpiringSoon: active, but expiring within ExpiryWarning.
	ExpiringSoon bool
}

// Info describes every key, ours first, each side in configuration order.
func (ks *KeySet) Info(now time.Time) []KeyInfo {
	infos := make([]KeyInfo, 0, len(ks.Ours)+len(ks.Google))
	add := func(owner string, keys []*Key) {
		for _, k := range keys {
			active := !k.expired(now)
			infos = append(infos, KeyInfo{
				ID:           k.ID,
				Owner:        owner,
				Algorithm:    fmt.Sprintf("RSA-%d", k.Bits()),
				Usage:        usage(k.Use),
				Expires:      k.Expires,
				Active:       active,
				ExpiringSoon: active && !k.Expires.IsZero() && k.Expires.Sub(now) <= ExpiryWarning,
			})
		}
	}
	add(OwnerOurs, ks.Ours)
	add(OwnerGoogle, ks.Google)
	return infos
}

// GenerateKey makes a new RSA key of ours. bits 0 means DefaultRSABits; use is
// UseSig, UseEnc or UseBoth; lifetime 0 means no expiry, otherwise the key
// expires at now+lifetime, rounded down to the second as "exp" is written.
func GenerateKey(kid string, bits int, use string, lifetime time.Duration, now time.Time) (*Key, error) {
	if kid == "" {
		return nil, errors.New("jose: a key needs a kid")
	}
	if bits == 0 {
		bits = DefaultRSABits
	}
	if bits < MinRSABits || bits > MaxRSABits {
		return nil, fmt.Errorf("jose: RSA-%d: key size must be %d to %d bits", bits, MinRSABits, MaxRSABits)
	}
	if use != UseBoth && use != UseSig && use != UseEnc {
		return nil, fmt.Errorf("jose: use %q is neither %q, %q nor empty", use, UseSig, UseEnc)
	}
	if lifetime < 0 {
		return nil, fmt.Errorf("jose: negative key lifetime %v", lifetime)
	}
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("jose: generating RSA-%d: %w", bits, err)
	}
	priv.Precompute()
	k := &Key{ID: kid, Use: use, PrivateKey: priv, PublicKey: &priv.PublicKey}
	if lifetime > 0 {
		k.Expires = time.Unix(now.Add(lifetime).Unix(), 0).UTC()
	}
	return k, nil
}

// WritePrivateJWK writes k, private part included, to a new file of mode 0600.
// It never overwrites: an existing file at path, probably an older key, is an
// error.
func WritePrivateJWK(path string, k *Key) (err error) {
	if k.PrivateKey == nil {
		return fmt.Errorf("jose: key %q has no private part to write", k.ID)
	}
	jwk, err := k.MarshalJWK()
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, jwk, "", "  "); err != nil {
		return fmt.Errorf("jose: %w", err)
	}
	out.WriteByte('\n')
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("jose: %s already exists; refusing to overwrite a key file", path)
		}
		return fmt.Errorf("jose: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path) // a half-written key is worse than none
			err = fmt.Errorf("jose: writing %s: %w", path, err)
		}
	}()
	if _, err = f.Write(out.Bytes()); err != nil {
		return err
	}
	return f.Sync()
}

// PublicJWKS returns the public parts of keys as an indented JWK Set, the
// form in which Google receives our keys.
func PublicJWKS(keys ...*Key) ([]byte, error) {
	if len(keys) == 0 {
		return nil, errors.New("jose: no keys to export")
	}
	if err := uniqueIDs(keys); err != nil {
		return nil, err
	}
	set := struct {
		Keys []json.RawMessage `json:"keys"`
	}{}
	for _, k := range keys {
		jwk, err := k.Public().MarshalJWK()
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, jwk)
	}
	out, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("jose: %w", err)
	}
	return append(out, '\n'), nil
}
