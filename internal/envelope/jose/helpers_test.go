package jose

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/otpgate/otpgate/internal/envelope"
)

// A sendOtp request of about 300 bytes, the size of a real body.
var payload = []byte(`{"requestHeader":{"protocolVersion":{"major":1,"minor":0,"revision":0},` +
	`"requestId":"G1MQ0YERJ0Q7LPM","requestTimestamp":"1481899949606","userLocale":"pt-BR"},` +
	`"smsMatchingToken":"aBcD3fGh1jK","accountPhoneNumber":"+15555555555",` +
	`"associationId":"0123456789abcdef","otpContext":{"association":{}},"clientMessage":"é✓"}`)

// t0 is the tests' "now"; keys expire relative to it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var rsaKeys struct {
	sync.Mutex
	m map[string]*rsa.PrivateKey
}

// rsaKey returns the RSA key called name, generated once per test binary:
// key generation dominates the run time otherwise.
func rsaKey(tb testing.TB, name string, bits int) *rsa.PrivateKey {
	tb.Helper()
	rsaKeys.Lock()
	defer rsaKeys.Unlock()
	id := fmt.Sprintf("%s/%d", name, bits)
	if k, ok := rsaKeys.m[id]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		tb.Fatal(err)
	}
	k.Precompute()
	if rsaKeys.m == nil {
		rsaKeys.m = map[string]*rsa.PrivateKey{}
	}
	rsaKeys.m[id] = k
	return k
}

// key returns a fresh private Key with a cached RSA-2048 key named after kid.
func key(tb testing.TB, kid string) *Key {
	tb.Helper()
	priv := rsaKey(tb, kid, 2048)
	return &Key{ID: kid, PrivateKey: priv, PublicKey: &priv.PublicKey}
}

func publics(keys []*Key) []*Key {
	out := make([]*Key, len(keys))
	for i, k := range keys {
		out[i] = k.Public()
	}
	return out
}

// parties holds the private keys of both sides, so that a test can build our
// server's Codec and a Codec playing Google with the roles swapped.
type parties struct {
	ours, google []*Key
}

func newParties(tb testing.TB) parties {
	return parties{ours: []*Key{key(tb, "ours-1")}, google: []*Key{key(tb, "google-1")}}
}

// server is our Codec: our private keys, Google's public keys.
func (p parties) server(tb testing.TB, opts Options) *Codec {
	tb.Helper()
	c, err := New(&KeySet{Ours: p.ours, Google: publics(p.google)}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// google is a Codec playing Google: Google's private keys, our public keys.
func (p parties) googleCodec(tb testing.TB, opts Options) *Codec {
	tb.Helper()
	c, err := New(&KeySet{Ours: p.google, Google: publics(p.ours)}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// allowAll accepts every algorithm the tests use, in the order given first.
func allowAll(keyAlg, enc, sigAlg string, compress bool) Options {
	return Options{
		KeyAlgorithms:       []string{keyAlg, "RSA1_5", "RSA-OAEP-256"},
		ContentEncryptions:  []string{enc, "A128CBC-HS256", "A256CBC-HS512"},
		SignatureAlgorithms: []string{sigAlg, "RS256", "PS256"},
		Compress:            compress,
		Now:                 func() time.Time { return t0 },
	}
}

func at(now time.Time) Options { return Options{Now: func() time.Time { return now }} }

// sign makes a JWS compact serialisation with go-jose directly, so that tests
// can choose what Seal never would. key is an *rsa.PrivateKey or an HMAC
// secret.
func sign(tb testing.TB, payload []byte, alg string, key any, kid string, opts *gojose.SignerOptions) string {
	tb.Helper()
	if kid != "" {
		key = gojose.JSONWebKey{Key: key, KeyID: kid}
	}
	s, err := gojose.NewSigner(gojose.SigningKey{Algorithm: gojose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// encrypt makes a JWE compact serialisation with go-jose directly. key is an
// *rsa.PublicKey or a symmetric key for "dir".
func encrypt(tb testing.TB, plaintext []byte, alg, enc string, key any, kid string, zip bool) []byte {
	tb.Helper()
	var opts gojose.EncrypterOptions
	if zip {
		opts.Compression = gojose.DEFLATE
	}
	e, err := gojose.NewEncrypter(gojose.ContentEncryption(enc),
		gojose.Recipient{Algorithm: gojose.KeyAlgorithm(alg), Key: key, KeyID: kid}, &opts)
	if err != nil {
		tb.Fatal(err)
	}
	jwe, err := e.Encrypt(plaintext)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := jwe.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(out)
}

// request builds what Google sends by default: RS256 by google-1, RSA1_5 and
// A128CBC-HS256 to ours-1.
func (p parties) request(tb testing.TB, body []byte) []byte {
	tb.Helper()
	jws := sign(tb, body, "RS256", p.google[0].PrivateKey, p.google[0].ID, nil)
	return encrypt(tb, []byte(jws), "RSA1_5", "A128CBC-HS256", p.ours[0].PublicKey, p.ours[0].ID, false)
}

// header decodes the protected header of a compact serialisation.
func header(tb testing.TB, compact string) map[string]any {
	tb.Helper()
	b64, _, _ := strings.Cut(compact, ".")
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		tb.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		tb.Fatal(err)
	}
	return h
}

// withHeader replaces the protected header of a compact serialisation.
func withHeader(tb testing.TB, compact string, h map[string]any) string {
	tb.Helper()
	raw, err := json.Marshal(h)
	if err != nil {
		tb.Fatal(err)
	}
	_, rest, _ := strings.Cut(compact, ".")
	return base64.RawURLEncoding.EncodeToString(raw) + "." + rest
}

// flip flips one bit in the middle of part i of a compact serialisation.
func flip(tb testing.TB, compact string, i int) string {
	tb.Helper()
	parts := strings.Split(compact, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil || len(b) == 0 {
		tb.Fatalf("part %d: %v", i, err)
	}
	b[len(b)/2] ^= 0x10
	parts[i] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// wantErr fails unless err wraps want and not the other error of Open.
func wantErr(tb testing.TB, err, want error) {
	tb.Helper()
	other := envelope.ErrBadSignature
	if want == envelope.ErrBadSignature {
		other = envelope.ErrUndecryptable
	}
	if !errors.Is(err, want) || errors.Is(err, other) {
		tb.Fatalf("got error %v, want one wrapping %q", err, want)
	}
}
