//go:build pkcs11

package pgp

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/hsm"
	"github.com/otpgate/otpgate/internal/hsm/softhsmtest"
)

// The PGP interoperability tests again, with our key pair in a real PKCS#11
// token (SoftHSM2): GnuPG plays Google as in the file-key tests, and every
// RSA operation of ours (decrypting the session key, signing) runs in the
// token. One token and one key for the package, made on first use.

type hsmFixture struct {
	tokens *hsm.Tokens
	token  *hsm.Token
	uri    *hsm.URI
	ours   *openpgp.Entity // as the server loads it: public block + token
	fpr    string
}

var (
	hsmOnce sync.Once
	hsmFix  *hsmFixture
	hsmErr  error
)

func hsmFixtures(t *testing.T) (*fixture, *hsmFixture) {
	t.Helper()
	f := fixtures(t)
	softhsmtest.Require(t)
	hsmOnce.Do(func() { hsmFix, hsmErr = makeHSMFixture(f) })
	if hsmErr != nil {
		t.Fatal(hsmErr)
	}
	return f, hsmFix
}

func makeHSMFixture(f *fixture) (*hsmFixture, error) {
	st, err := softhsmtest.Init("pgp-test")
	if err != nil {
		return nil, err
	}
	h := &hsmFixture{tokens: hsm.NewTokens(st.Getenv)}
	if h.uri, err = hsm.ParseURI("pkcs11:token=" + st.Label + ";object=otpgate-pgp"); err != nil {
		return nil, err
	}
	if h.token, err = h.tokens.Open(h.uri); err != nil {
		return nil, err
	}
	// What `otpgate keys generate --pkcs11` does: two key pairs under one
	// label, the primary (signs) and the encryption subkey (decrypts).
	signer, err := h.token.GenerateRSA("otpgate-pgp", []byte("sign"), 2048, hsm.Usage{Sign: true})
	if err != nil {
		return nil, err
	}
	decrypter, err := h.token.GenerateRSA("otpgate-pgp", []byte("encrypt"), 2048, hsm.Usage{Decrypt: true})
	if err != nil {
		return nil, err
	}
	generated, err := GenerateExternalKey("otpgate HSM", "ops@otpgate.test", 0, time.Time{}, signer, decrypter.(crypto.Decrypter))
	if err != nil {
		return nil, err
	}
	pub, err := ArmorPublicKey(generated)
	if err != nil {
		return nil, err
	}
	// What `otpgate serve --pgp-key pkcs11:…` does: the public block from
	// its file, the private operations from the token's key pairs.
	es, err := ParseKeys(pub)
	if err != nil || len(es) != 1 {
		return nil, fmt.Errorf("parse own public key: %v (%d)", err, len(es))
	}
	pairs, err := h.token.KeyPairs(h.uri)
	if err != nil {
		return nil, err
	}
	if len(pairs) != 2 {
		return nil, fmt.Errorf("token holds %d key pairs under the label, want 2", len(pairs))
	}
	if err := AttachSigners(es[0], pairs); err != nil {
		return nil, err
	}
	h.ours = es[0]
	h.fpr = fmt.Sprintf("%X", h.ours.PrimaryKey.Fingerprint)
	// GnuPG (Google) learns our public key, and must find its
	// token-made self-signatures good.
	if err := f.gpg.importKey(pub); err != nil {
		return nil, err
	}
	out, _, err := f.gpg.run(nil, "--with-colons", "--check-signatures", h.fpr)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(out, []byte("sig:!:")) || bytes.Contains(out, []byte("sig:-:")) {
		return nil, fmt.Errorf("gpg does not find the token-made self-signatures good:\n%s", out)
	}
	return h, nil
}

// TestHSMOpenGnuPG: requests GnuPG makes for our key in the token.
func TestHSMOpenGnuPG(t *testing.T) {
	f, h := hsmFixtures(t)
	c := newCodec(t, []*openpgp.Entity{h.ours}, []*openpgp.Entity{f.gA}, nil)
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"SHA-256", []string{"--digest-algo", "SHA256"}},
		{"SHA-384", []string{"--digest-algo", "SHA384"}},
		{"SHA-512 ZLIB", []string{"--digest-algo", "SHA512", "--compress-algo", "zlib"}},
		{"AES-128", []string{"--cipher-algo", "AES"}},
		{"to stranger and us", []string{"-r", f.fprStranger}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Open(f.request(t, request, h.fpr, f.fprGA, tc.extra...))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, request) {
				t.Fatalf("Open = %q", got)
			}
		})
	}
	// A request for another key of ours is still refused.
	if _, err := c.Open(f.request(t, request, f.fprOurB, f.fprGA)); err == nil {
		t.Fatal("a request to a key not in the codec was opened")
	}
}

// TestHSMSealGnuPG: GnuPG verifies what the token signed.
func TestHSMSealGnuPG(t *testing.T) {
	f, h := hsmFixtures(t)
	c := newCodec(t, []*openpgp.Entity{h.ours}, []*openpgp.Entity{f.gA}, nil)
	body, err := c.Seal(response)
	if err != nil {
		t.Fatal(err)
	}
	wantGPGVerified(t, f.gpg, body, h.ours)
}

// TestHSMKeyStaysInToken: the key pairs are sensitive and never
// extractable, generated in the token, and the process holds handles, not
// key material: the private key cannot be written to a file either.
func TestHSMKeyStaysInToken(t *testing.T) {
	_, h := hsmFixtures(t)
	pairs, err := h.token.KeyPairs(h.uri)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range pairs {
		p, err := h.token.Protection(s)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Sensitive || p.Extractable || !p.AlwaysSensitive || !p.NeverExtractable || !p.Local {
			t.Errorf("key pair protection %+v", p)
		}
		if v, err := h.token.ReadPrivateExponent(s); !errors.Is(err, hsm.ErrSensitive) || len(v) != 0 {
			t.Errorf("the token gave out the private exponent (%d bytes, %v)", len(v), err)
		}
	}
	keys := []any{h.ours.PrivateKey.PrivateKey}
	for _, sk := range h.ours.Subkeys {
		keys = append(keys, sk.PrivateKey.PrivateKey)
	}
	for _, k := range keys {
		if _, ok := k.(*rsa.PrivateKey); ok {
			t.Fatal("the entity holds an RSA private key")
		}
	}
	if err := WritePrivateKey(filepath.Join(t.TempDir(), "k.asc"), h.ours); err == nil {
		t.Fatal("a key held in the token was written to a file")
	}
}

// TestAttachSignersRefuses: a public key that is not the token's, and a
// private key file given where the token's public key belongs.
func TestAttachSignersRefuses(t *testing.T) {
	f, h := hsmFixtures(t)
	pairs, err := h.token.KeyPairs(h.uri)
	if err != nil {
		t.Fatal(err)
	}
	if err := AttachSigners(public(t, f.ourB), pairs); err == nil || !strings.Contains(err.Error(), "none of its keys") {
		t.Errorf("someone else's public key: %v", err)
	}
	if err := AttachSigners(f.ourB, pairs); err == nil || !strings.Contains(err.Error(), "secret material") {
		t.Errorf("a private key: %v", err)
	}
}

// TestHSMConcurrent: requests at once share the token's sessions.
func TestHSMConcurrent(t *testing.T) {
	f, h := hsmFixtures(t)
	c := newCodec(t, []*openpgp.Entity{h.ours}, []*openpgp.Entity{f.gA}, nil)
	body := f.request(t, request, h.fpr, f.fprGA)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Go(func() {
			for range 4 {
				got, err := c.Open(body)
				if err == nil && !bytes.Equal(got, request) {
					err = errors.New("wrong plaintext")
				}
				if err == nil {
					_, err = c.Seal(response)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
