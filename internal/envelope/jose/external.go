package jose

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
)

// Keys held elsewhere (an HSM through PKCS#11). go-jose cannot see their
// private half, so it gets them as a gojose.OpaqueSigner (JWS) and a
// gojose.OpaqueKeyDecrypter (JWE), which hand the RSA operation to a
// crypto.Signer / crypto.Decrypter.

// NewExternalKey makes one of our keys whose private operations run in s,
// an RSA crypto.Signer that, for a key that may encrypt, is also a
// crypto.Decrypter. kid, use, alg and expires are as in Key.
func NewExternalKey(kid, use, alg string, expires time.Time, s crypto.Signer) (*Key, error) {
	pub, ok := s.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("jose: key %q: only RSA keys are supported, not %T", kid, s.Public())
	}
	k := &Key{ID: kid, Use: use, Algorithm: alg, Expires: expires, PublicKey: pub}
	if k.ID == "" {
		return nil, errors.New("jose: a key needs a kid")
	}
	if bits := k.Bits(); bits < MinRSABits || bits > MaxRSABits {
		return nil, fmt.Errorf("jose: key %q: RSA-%d is outside %d to %d bits", k.ID, bits, MinRSABits, MaxRSABits)
	}
	if err := checkUse(k); err != nil {
		return nil, fmt.Errorf("jose: key %q: %w", k.ID, err)
	}
	return k.WithSigner(s)
}

// WithSigner returns a copy of k, a public key (as read from the JWK file
// written beside a token's key), whose private operations run in s. s must
// hold the same RSA public key, and be a crypto.Decrypter if k may encrypt.
func (k *Key) WithSigner(s crypto.Signer) (*Key, error) {
	if k.PrivateKey != nil {
		return nil, fmt.Errorf("jose: key %q already holds its private key; give the public JWK of a key held in a token", k.ID)
	}
	if pub, ok := s.Public().(*rsa.PublicKey); !ok || !pub.Equal(k.PublicKey) {
		return nil, fmt.Errorf("jose: key %q: the public JWK is not the key pair in the token (is it the file written for that token object?)", k.ID)
	}
	if _, ok := s.(crypto.Decrypter); !ok && k.Use != UseSig {
		return nil, fmt.Errorf("jose: key %q: its key in the token cannot decrypt; mark it \"use\": \"sig\" or use a key that can", k.ID)
	}
	c := *k
	c.external = s
	return &c, nil
}

// External reports whether k's private half is held outside the process.
func (k *Key) External() bool { return k.external != nil }

// signingKey is what gojose.NewSigner takes for k.
func (k *Key) signingKey() any {
	if k.external != nil {
		return opaqueSigner{k}
	}
	return gojose.JSONWebKey{Key: k.PrivateKey, KeyID: k.ID}
}

// decryptionKey is what JSONWebEncryption.Decrypt takes for k.
func (k *Key) decryptionKey() any {
	if k.external != nil {
		return opaqueDecrypter{k}
	}
	return k.PrivateKey
}

type opaqueSigner struct{ k *Key }

func (o opaqueSigner) Public() *gojose.JSONWebKey {
	return &gojose.JSONWebKey{Key: o.k.PublicKey, KeyID: o.k.ID, Algorithm: o.k.Algorithm, Use: o.k.Use}
}

func (o opaqueSigner) Algs() []gojose.SignatureAlgorithm {
	return []gojose.SignatureAlgorithm{gojose.RS256, gojose.RS384, gojose.RS512, gojose.PS256, gojose.PS384, gojose.PS512}
}

func (o opaqueSigner) SignPayload(payload []byte, alg gojose.SignatureAlgorithm) ([]byte, error) {
	var h crypto.Hash
	switch alg {
	case gojose.RS256, gojose.PS256:
		h = crypto.SHA256
	case gojose.RS384, gojose.PS384:
		h = crypto.SHA384
	case gojose.RS512, gojose.PS512:
		h = crypto.SHA512
	default:
		return nil, gojose.ErrUnsupportedAlgorithm
	}
	d := h.New()
	d.Write(payload)
	var opts crypto.SignerOpts = h
	if alg == gojose.PS256 || alg == gojose.PS384 || alg == gojose.PS512 {
		// RFC 7518 §3.5: the salt is as long as the hash.
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	sig, err := o.k.external.Sign(rand.Reader, d.Sum(nil), opts)
	if err != nil {
		return nil, fmt.Errorf("jose: key %q: signing in the token: %w", o.k.ID, err)
	}
	return sig, nil
}

type opaqueDecrypter struct{ k *Key }

// cekSize is the content key length of each content encryption.
var cekSize = map[string]int{
	string(gojose.A128CBC_HS256): 32, string(gojose.A192CBC_HS384): 48, string(gojose.A256CBC_HS512): 64,
	string(gojose.A128GCM): 16, string(gojose.A192GCM): 24, string(gojose.A256GCM): 32,
}

func (o opaqueDecrypter) DecryptKey(encryptedKey []byte, header gojose.Header) ([]byte, error) {
	d := o.k.external.(crypto.Decrypter) // WithSigner checked it for keys that decrypt
	switch gojose.KeyAlgorithm(header.Algorithm) {
	case gojose.RSA1_5:
		enc, _ := header.ExtraHeaders["enc"].(string)
		size, ok := cekSize[enc]
		if !ok {
			return nil, fmt.Errorf("jose: unsupported content encryption %q", enc)
		}
		if len(encryptedKey) != (o.k.Bits()+7)/8 {
			return nil, gojose.ErrCryptoFailure
		}
		// As go-jose does with a key it holds (RFC 3218 §2.3.2): a key
		// that does not decrypt, or not to the right length, becomes a
		// random one, so that a wrong padding fails like a wrong key
		// would, later, at the content's authentication tag. What
		// remains is how long the token takes to refuse, which is the
		// token's to keep constant.
		random := make([]byte, size)
		if _, err := io.ReadFull(rand.Reader, random); err != nil {
			return nil, err
		}
		cek, err := d.Decrypt(rand.Reader, encryptedKey, nil)
		if err != nil || len(cek) != size {
			return random, nil
		}
		return cek, nil
	case gojose.RSA_OAEP:
		return d.Decrypt(rand.Reader, encryptedKey, &rsa.OAEPOptions{Hash: crypto.SHA1})
	case gojose.RSA_OAEP_256:
		return d.Decrypt(rand.Reader, encryptedKey, &rsa.OAEPOptions{Hash: crypto.SHA256})
	}
	return nil, gojose.ErrUnsupportedAlgorithm
}
