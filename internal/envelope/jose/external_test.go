package jose

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
)

// opaqueRSA hides an *rsa.PrivateKey behind crypto.Signer and
// crypto.Decrypter, as a token's key is: go-jose cannot see through it.
type opaqueRSA struct{ k *rsa.PrivateKey }

func (o opaqueRSA) Public() crypto.PublicKey { return &o.k.PublicKey }
func (o opaqueRSA) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.k.Sign(r, d, opts)
}
func (o opaqueRSA) Decrypt(r io.Reader, c []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return o.k.Decrypt(r, c, opts)
}

type signOnly struct{ k *rsa.PrivateKey }

func (o signOnly) Public() crypto.PublicKey { return &o.k.PublicKey }
func (o signOnly) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.k.Sign(r, d, opts)
}

// TestExternalKey: a key whose private operations go through
// crypto.Signer/crypto.Decrypter (as an HSM's do) opens and seals every
// algorithm pairing, in every build (hsm_test.go does it with a real token).
func TestExternalKey(t *testing.T) {
	priv := rsaKey(t, "external", 2048)
	ext, err := NewExternalKey("ext", UseBoth, "", time.Time{}, opaqueRSA{priv})
	if err != nil {
		t.Fatal(err)
	}
	p := parties{ours: []*Key{ext}, google: []*Key{key(t, "google-1")}}
	for _, c := range []interopCase{
		{"RSA1_5", "A128CBC-HS256", "RS256", false},
		{"RSA1_5", "A256GCM", "RS384", true},
		{"RSA-OAEP", "A192CBC-HS384", "PS384", false},
		{"RSA-OAEP-256", "A256CBC-HS512", "PS512", false},
	} {
		t.Run(c.String(), func(t *testing.T) {
			opts := allowAll(c.keyAlg, c.enc, c.sigAlg, c.zip)
			opts.KeyAlgorithms = append(opts.KeyAlgorithms, "RSA-OAEP")
			server, google := p.server(t, opts), p.googleCodec(t, opts)
			req, err := google.Seal(payload)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := server.Open(req); err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("server Open = %q, %v", got, err)
			}
			resp, err := server.Seal(payload)
			if err != nil {
				t.Fatal(err)
			}
			if h := header(t, string(resp)); h["kid"] != "google-1" {
				t.Errorf("JWE header %v", h)
			}
			if got, err := google.Open(resp); err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("Google's Open = %q, %v", got, err)
			}
			// A key block that does not decrypt fails like a wrong key.
			parts := strings.Split(string(req), ".")
			parts[1] = strings.Repeat("A", len(parts[1]))
			_, err = server.Open([]byte(strings.Join(parts, ".")))
			wantErr(t, err, envelope.ErrUndecryptable)
		})
	}

	if _, err := NewExternalKey("s", UseBoth, "", time.Time{}, signOnly{priv}); err == nil || !strings.Contains(err.Error(), "cannot decrypt") {
		t.Errorf("a key that cannot decrypt, for use sig+enc: %v", err)
	}
	if _, err := NewExternalKey("s", UseSig, "", time.Time{}, signOnly{priv}); err != nil {
		t.Errorf("a signing-only key: %v", err)
	}
	if _, err := NewExternalKey("", UseSig, "", time.Time{}, signOnly{priv}); err == nil {
		t.Error("a key without kid")
	}
	if ks := (&KeySet{Ours: []*Key{ext}, Google: publics([]*Key{key(t, "google-1")})}); ks.validate() != nil {
		t.Errorf("validate refuses an external key: %v", ks.validate())
	}
	if ext.Public().External() {
		t.Error("Public keeps the token's key")
	}
}
