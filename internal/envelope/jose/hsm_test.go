//go:build pkcs11

package jose

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/hsm"
	"github.com/otpgate/otpgate/internal/hsm/softhsmtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	softhsmtest.Cleanup()
	os.Exit(code)
}

// The node jose interoperability tests again, with our key in a real
// PKCS#11 token (SoftHSM2): JWE key decryption and JWS signing run in the
// token. One token and key pair for the package, made on first use.

type hsmFixture struct {
	token *hsm.Token
	uri   *hsm.URI
	key   *Key
}

var (
	hsmOnce sync.Once
	hsmFix  *hsmFixture
	hsmErr  error
)

func hsmKey(t testing.TB) *hsmFixture {
	t.Helper()
	softhsmtest.Require(t)
	hsmOnce.Do(func() { hsmFix, hsmErr = makeHSMFixture() })
	if hsmErr != nil {
		t.Fatal(hsmErr)
	}
	return hsmFix
}

func makeHSMFixture() (*hsmFixture, error) {
	st, err := softhsmtest.Init("jose-test")
	if err != nil {
		return nil, err
	}
	h := &hsmFixture{}
	if h.uri, err = hsm.ParseURI("pkcs11:token=jose-test;object=otpgate-jose"); err != nil {
		return nil, err
	}
	if h.token, err = hsm.NewTokens(st.Getenv).Open(h.uri); err != nil {
		return nil, err
	}
	if _, err := h.token.GenerateRSA("otpgate-jose", []byte("jose"), 2048, hsm.Usage{Sign: true, Decrypt: true}); err != nil {
		return nil, err
	}
	pairs, err := h.token.KeyPairs(h.uri)
	if err != nil {
		return nil, err
	}
	if len(pairs) != 1 {
		return nil, errors.New("want one key pair")
	}
	h.key, err = NewExternalKey("ours-hsm", UseBoth, "", time.Time{}, pairs[0])
	return h, err
}

// hsmInteropCases are interopCases with RSA-OAEP (SHA-1) where those use
// RSA-OAEP-256: SoftHSM 2.6 decrypts OAEP with SHA-1 only (hardware HSMs
// do both).
var hsmInteropCases = []interopCase{
	{"RSA1_5", "A128CBC-HS256", "RS256", false}, // what Google sends (SPEC §5)
	{"RSA1_5", "A128CBC-HS256", "RS256", true},
	{"RSA1_5", "A256CBC-HS512", "PS256", true},
	{"RSA-OAEP", "A256CBC-HS512", "PS256", false},
	{"RSA-OAEP", "A128GCM", "RS512", false},
}

func hsmParties(t *testing.T) parties {
	return parties{ours: []*Key{hsmKey(t).key}, google: []*Key{key(t, "google-1")}}
}

func TestHSMInteropNodeJoseSealsGoOpens(t *testing.T) {
	interopNodeSealsGoOpens(t, hsmParties(t), hsmInteropCases)
}

func TestHSMInteropGoSealsNodeJoseOpens(t *testing.T) {
	interopGoSealsNodeOpens(t, hsmParties(t), hsmInteropCases)
}

// TestHSMRoundTrip: Go playing Google and our token-backed server, both
// ways; an RSA1_5 key block the token cannot decrypt is refused as a wrong
// key would be.
func TestHSMRoundTrip(t *testing.T) {
	p := hsmParties(t)
	server := p.server(t, Options{})
	google := p.googleCodec(t, Options{})
	got, err := server.Open(p.request(t, payload))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	sealed, err := server.Seal(payload)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := google.Open(sealed); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("Google's Open = %q, %v", got, err)
	}
	// The encrypted key replaced by random bytes of the right length.
	parts := strings.Split(string(p.request(t, payload)), ".")
	parts[1] = strings.Repeat("A", len(parts[1]))
	_, err = server.Open([]byte(strings.Join(parts, ".")))
	wantErr(t, err, envelope.ErrUndecryptable)
}

// TestHSMKeyStaysInToken: the key is sensitive and was never extractable;
// the Key holds no private key and prints none.
func TestHSMKeyStaysInToken(t *testing.T) {
	h := hsmKey(t)
	pairs, err := h.token.KeyPairs(h.uri)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.token.Protection(pairs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !p.Sensitive || p.Extractable || !p.AlwaysSensitive || !p.NeverExtractable || !p.Local {
		t.Errorf("key pair protection %+v", p)
	}
	if v, err := h.token.ReadPrivateExponent(pairs[0]); !errors.Is(err, hsm.ErrSensitive) || len(v) != 0 {
		t.Errorf("the token gave out the private exponent (%d bytes, %v)", len(v), err)
	}
	if _, ok := pairs[0].(*rsa.PrivateKey); ok || h.key.PrivateKey != nil || !h.key.External() {
		t.Fatal("the process holds the private key")
	}
	jwk, err := h.key.MarshalJWK()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(jwk, []byte(`"d"`)) || !strings.Contains(h.key.String(), "in a token") {
		t.Errorf("JWK %s, String %s", jwk, h.key)
	}
	if err := WritePrivateJWK(t.TempDir()+"/k.json", h.key); err == nil {
		t.Error("a key in a token was written to a file")
	}
}

// TestWithSignerRefuses: a public JWK of another key, and a private JWK.
func TestWithSignerRefuses(t *testing.T) {
	h := hsmKey(t)
	pairs, err := h.token.KeyPairs(h.uri)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := key(t, "other").Public().WithSigner(pairs[0]); err == nil || !strings.Contains(err.Error(), "not the key pair") {
		t.Errorf("another key's JWK: %v", err)
	}
	if _, err := key(t, "other").WithSigner(pairs[0]); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("a private JWK: %v", err)
	}
}

// TestHSMConcurrent: requests at once share the token's sessions.
func TestHSMConcurrent(t *testing.T) {
	p := hsmParties(t)
	server, google := p.server(t, Options{}), p.googleCodec(t, Options{})
	req := p.request(t, payload)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Go(func() {
			for range 4 {
				got, err := server.Open(req)
				if err == nil && !bytes.Equal(got, payload) {
					err = errors.New("wrong plaintext")
				}
				if err == nil {
					var sealed []byte
					if sealed, err = server.Seal(payload); err == nil {
						_, err = google.Open(sealed)
					}
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

// BenchmarkHSM: Open and Seal with our key in SoftHSM2 against the same
// operations with a key in memory (both RSA-2048), to show what the token's
// round trip costs.
func BenchmarkHSM(b *testing.B) {
	softhsmtest.Require(b)
	hsmOnce.Do(func() { hsmFix, hsmErr = makeHSMFixture() })
	if hsmErr != nil {
		b.Fatal(hsmErr)
	}
	for _, bc := range []struct {
		name string
		ours *Key
	}{{"memory", key(b, "ours-1")}, {"softhsm", hsmFix.key}} {
		p := parties{ours: []*Key{bc.ours}, google: []*Key{key(b, "google-1")}}
		server := p.server(b, Options{})
		req := p.request(b, payload)
		b.Run("Open/"+bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := server.Open(req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Seal/"+bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := server.Seal(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
