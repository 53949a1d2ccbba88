package jose

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/otpgate/otpgate/internal/envelope"
)

func TestCodecIdentity(t *testing.T) {
	c := newParties(t).server(t, Options{})
	var _ envelope.Codec = c
	if c.Name() != "jose" || c.ContentType() != "application/jose; charset=utf-8" {
		t.Errorf("Name %q, ContentType %q", c.Name(), c.ContentType())
	}
}

// TestRoundTrip seals as Google and opens as us, and the other way round, with
// every combination of the algorithms SPEC §5 asks for.
func TestRoundTrip(t *testing.T) {
	p := newParties(t)
	for _, keyAlg := range []string{"RSA1_5", "RSA-OAEP-256"} {
		for _, enc := range []string{"A128CBC-HS256", "A256CBC-HS512"} {
			for _, sigAlg := range []string{"RS256", "PS256"} {
				for _, zip := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/%s/zip=%v", keyAlg, enc, sigAlg, zip)
					t.Run(name, func(t *testing.T) {
						opts := allowAll(keyAlg, enc, sigAlg, zip)
						google, server := p.googleCodec(t, opts), p.server(t, opts)
						for _, dir := range []struct {
							name           string
							from, to       *Codec
							recipient, key *Key
						}{
							{"google to us", google, server, p.ours[0], p.google[0]},
							{"us to google", server, google, p.google[0], p.ours[0]},
						} {
							body, err := dir.from.Seal(payload)
							if err != nil {
								t.Fatalf("%s: Seal: %v", dir.name, err)
							}
							checkHeaders(t, body, dir.recipient, dir.key, keyAlg, enc, sigAlg, zip)
							got, err := dir.to.Open(body)
							if err != nil {
								t.Fatalf("%s: Open: %v", dir.name, err)
							}
							if !bytes.Equal(got, payload) {
								t.Fatalf("%s: Open returned %q, want %q", dir.name, got, payload)
							}
						}
					})
				}
			}
		}
	}
}

// checkHeaders opens body with go-jose directly and checks what Seal put in
// both headers.
func checkHeaders(t *testing.T, body []byte, recipient, signer *Key, keyAlg, enc, sigAlg string, zip bool) {
	t.Helper()
	h := header(t, string(body))
	want := map[string]any{"alg": keyAlg, "enc": enc, "kid": recipient.ID}
	if zip {
		want["zip"] = "DEF"
	}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Errorf("JWE header %v, want %v", h, want)
	}
	jwe, err := gojose.ParseEncryptedCompact(string(body), []gojose.KeyAlgorithm{gojose.KeyAlgorithm(keyAlg)}, []gojose.ContentEncryption{gojose.ContentEncryption(enc)})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := jwe.Decrypt(recipient.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if h, want := header(t, string(inner)), map[string]any{"alg": sigAlg, "kid": signer.ID}; fmt.Sprint(h) != fmt.Sprint(want) {
		t.Errorf("JWS header %v, want %v", h, want)
	}
}

// TestDefaults: out of the box, only RSA1_5, A128CBC-HS256 and RS256 pass.
func TestDefaults(t *testing.T) {
	p := newParties(t)
	server := p.server(t, Options{})
	body, err := p.googleCodec(t, Options{}).Seal(payload)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := server.Open(body); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("default Open: %q, %v", got, err)
	}
	if h := header(t, string(body)); h["alg"] != "RSA1_5" || h["enc"] != "A128CBC-HS256" || h["zip"] != nil {
		t.Errorf("default Seal header %v", h)
	}
	for _, tc := range []struct {
		opts Options
		want error
	}{
		{Options{KeyAlgorithms: []string{"RSA-OAEP-256"}}, envelope.ErrUndecryptable},
		{Options{ContentEncryptions: []string{"A256CBC-HS512"}}, envelope.ErrUndecryptable},
		{Options{SignatureAlgorithms: []string{"PS256"}}, envelope.ErrBadSignature},
	} {
		body, err := p.googleCodec(t, tc.opts).Seal(payload)
		if err != nil {
			t.Fatal(err)
		}
		_, err = server.Open(body)
		wantErr(t, err, tc.want)
	}
}

func TestOpenRejects(t *testing.T) {
	p := newParties(t)
	server := p.server(t, Options{})
	ours, google := p.ours[0], p.google[0]
	attacker := key(t, "attacker")
	good := string(p.request(t, payload))
	jws := sign(t, payload, "RS256", google.PrivateKey, google.ID, nil)
	// wrap puts an inner message into a JWE that is right in every way.
	wrap := func(inner string) []byte {
		return encrypt(t, []byte(inner), "RSA1_5", "A128CBC-HS256", ours.PublicKey, ours.ID, false)
	}
	garbage := make([]byte, 300)
	rand.Read(garbage)
	jweJSON := func() []byte {
		jwe, err := gojose.ParseEncryptedCompact(good, []gojose.KeyAlgorithm{gojose.RSA1_5}, []gojose.ContentEncryption{gojose.A128CBC_HS256})
		if err != nil {
			t.Fatal(err)
		}
		return []byte(jwe.FullSerialize())
	}
	jwsJSON := func() string {
		s, err := gojose.ParseSignedCompact(jws, []gojose.SignatureAlgorithm{gojose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		return s.FullSerialize()
	}
	jweHeader := header(t, good)
	jweHeaderWith := func(k string, v any) map[string]any {
		h := map[string]any{}
		for k, v := range jweHeader {
			h[k] = v
		}
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	// An all-zero payload deflates about a thousandfold: far past go-jose's
	// bound of max(250 kB, 10 × compressed size).
	bomb := encrypt(t, make([]byte, 4<<20), "RSA1_5", "A128CBC-HS256", ours.PublicKey, ours.ID, true)

	undecryptable := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"whitespace", []byte(" \n")},
		{"garbage", garbage},
		{"plain JSON (never read as plaintext)", payload},
		{"truncated in the middle", []byte(good[:len(good)/2])},
		{"truncated tag", []byte(good[:len(good)-4])},
		{"a sixth part", []byte(good + ".AAAA")},
		{"a part not base64url", []byte(strings.Replace(good, ".", ".*", 1))},
		{"JWE alg none", []byte(withHeader(t, good, jweHeaderWith("alg", "none")))},
		{"JWE alg HS256", []byte(withHeader(t, good, jweHeaderWith("alg", "HS256")))},
		{"JWE without alg", []byte(withHeader(t, good, jweHeaderWith("alg", nil)))},
		{"JWE without enc", []byte(withHeader(t, good, jweHeaderWith("enc", nil)))},
		{"JWE alg dir", encrypt(t, []byte(jws), "dir", "A128CBC-HS256", ours.PublicKey.N.Bytes()[:32], ours.ID, false)},
		{"JWE alg A128KW", encrypt(t, []byte(jws), "A128KW", "A128CBC-HS256", ours.PublicKey.N.Bytes()[:16], ours.ID, false)},
		{"JWE alg RSA-OAEP, not allowed", encrypt(t, []byte(jws), "RSA-OAEP", "A128CBC-HS256", ours.PublicKey, ours.ID, false)},
		{"JWE alg RSA-OAEP-256, not configured", encrypt(t, []byte(jws), "RSA-OAEP-256", "A128CBC-HS256", ours.PublicKey, ours.ID, false)},
		{"JWE enc A256GCM, not allowed", encrypt(t, []byte(jws), "RSA1_5", "A256GCM", ours.PublicKey, ours.ID, false)},
		{"JWE enc A256CBC-HS512, not configured", encrypt(t, []byte(jws), "RSA1_5", "A256CBC-HS512", ours.PublicKey, ours.ID, false)},
		{"JWE unknown kid", encrypt(t, []byte(jws), "RSA1_5", "A128CBC-HS256", ours.PublicKey, "ours-9", false)},
		{"JWE to another key under our kid", encrypt(t, []byte(jws), "RSA1_5", "A128CBC-HS256", attacker.PublicKey, ours.ID, false)},
		{"JWE to another key without kid", encrypt(t, []byte(jws), "RSA1_5", "A128CBC-HS256", attacker.PublicKey, "", false)},
		{"JWE RSA-OAEP-256 under an RSA1_5 header", []byte(withHeader(t, string(encrypt(t, []byte(jws), "RSA-OAEP-256", "A128CBC-HS256", ours.PublicKey, ours.ID, false)), jweHeader))},
		{"tampered encrypted key", []byte(flip(t, good, 1))},
		{"tampered IV", []byte(flip(t, good, 2))},
		{"tampered ciphertext", []byte(flip(t, good, 3))},
		{"tampered tag", []byte(flip(t, good, 4))},
		{"tampered header", []byte(withHeader(t, good, jweHeaderWith("cty", "JWT")))},
		{"a plain JWS without JWE", []byte(jws)},
		{"JWE JSON serialisation", jweJSON()},
		{"decompression bomb", bomb},
	}
	for _, tc := range undecryptable {
		t.Run(tc.name, func(t *testing.T) {
			got, err := server.Open(tc.body)
			if got != nil {
				t.Errorf("Open returned %q", got)
			}
			wantErr(t, err, envelope.ErrUndecryptable)
			t.Log(err)
		})
	}

	pem1 := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(google.PublicKey))})
	pem2 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(google.PublicKey)})
	jwk := must(google.Public().MarshalJWK())
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"google-1"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(payload) + "."
	hsAsRS := sign(t, payload, "HS256", pem1, google.ID, nil)
	hsAsRS = withHeader(t, hsAsRS, map[string]any{"alg": "RS256", "kid": google.ID})
	jwsHeaderWithout := withHeader(t, jws, map[string]any{"kid": google.ID})

	badSignature := []struct {
		name  string
		inner string
	}{
		{"JWE payload is JSON, not a JWS", string(payload)},
		{"JWE payload is empty", ""},
		{"JWE payload is a JWE", good},
		{"JWS alg none", none},
		{"JWS without alg", jwsHeaderWithout},
		{"JWS HS256 keyed with Google's public key (PEM, PKIX)", sign(t, payload, "HS256", pem1, google.ID, nil)},
		{"JWS HS256 keyed with Google's public key (PEM, PKCS#1)", sign(t, payload, "HS256", pem2, google.ID, nil)},
		{"JWS HS256 keyed with Google's public key (DER)", sign(t, payload, "HS256", must(x509.MarshalPKIXPublicKey(google.PublicKey)), google.ID, nil)},
		{"JWS HS256 keyed with Google's public key (JWK)", sign(t, payload, "HS256", jwk, google.ID, nil)},
		{"JWS HS256 keyed with Google's public key (modulus)", sign(t, payload, "HS256", google.PublicKey.N.Bytes(), google.ID, nil)},
		{"JWS HMAC keyed with Google's public key under an RS256 header", hsAsRS},
		{"JWS PS256, not configured", sign(t, payload, "PS256", google.PrivateKey, google.ID, nil)},
		{"JWS RS512, not allowed", sign(t, payload, "RS512", google.PrivateKey, google.ID, nil)},
		{"JWS unknown kid", sign(t, payload, "RS256", google.PrivateKey, "google-9", nil)},
		{"JWS by another key under Google's kid", sign(t, payload, "RS256", attacker.PrivateKey, google.ID, nil)},
		{"JWS by another key without kid", sign(t, payload, "RS256", attacker.PrivateKey, "", nil)},
		{"JWS by another key embedded as jwk", sign(t, payload, "RS256", attacker.PrivateKey, attacker.ID, &gojose.SignerOptions{EmbedJWK: true})},
		{"JWS by another key embedded as jwk, with Google's kid", sign(t, payload, "RS256", attacker.PrivateKey, attacker.ID,
			(&gojose.SignerOptions{EmbedJWK: true}).WithHeader("kid", google.ID))},
		{"JWS by our own key", sign(t, payload, "RS256", ours.PrivateKey, ours.ID, nil)},
		{"tampered signature", flip(t, jws, 2)},
		{"tampered payload", flip(t, jws, 1)},
		{"tampered JWS header", withHeader(t, jws, map[string]any{"alg": "RS256", "kid": google.ID, "typ": "JWT"})},
		{"truncated JWS", jws[:len(jws)-10]},
		{"JWS JSON serialisation", jwsJSON()},
	}
	for _, tc := range badSignature {
		t.Run(tc.name, func(t *testing.T) {
			got, err := server.Open(wrap(tc.inner))
			if got != nil {
				t.Errorf("Open returned %q", got)
			}
			wantErr(t, err, envelope.ErrBadSignature)
			t.Log(err)
		})
	}

	// The cases above must fail for what they test, not for something this
	// file gets wrong: the same construction with nothing wrong passes.
	for _, body := range [][]byte{[]byte(good), []byte(" " + good + "\r\n"), wrap(jws)} {
		if got, err := server.Open(body); err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("control: Open = %q, %v", got, err)
		}
	}
	small := encrypt(t, []byte(jws), "RSA1_5", "A128CBC-HS256", ours.PublicKey, ours.ID, true)
	if got, err := server.Open(small); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("control with zip: Open = %q, %v", got, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestWithoutKid: a message without kid is tried against each fitting key.
func TestWithoutKid(t *testing.T) {
	p := parties{
		ours:   []*Key{key(t, "ours-1"), key(t, "ours-2")},
		google: []*Key{key(t, "google-1"), key(t, "google-2")},
	}
	server := p.server(t, Options{})
	for _, o := range p.ours {
		for _, g := range p.google {
			jws := sign(t, payload, "RS256", g.PrivateKey, "", nil)
			body := encrypt(t, []byte(jws), "RSA1_5", "A128CBC-HS256", o.PublicKey, "", false)
			if got, err := server.Open(body); err != nil || !bytes.Equal(got, payload) {
				t.Errorf("to %s from %s without kids: %q, %v", o.ID, g.ID, got, err)
			}
		}
	}
}

// TestRotation: during a rotation both old and new keys of both sides work,
// picked by kid; afterwards the old ones are refused with the right error.
func TestRotation(t *testing.T) {
	old := parties{ours: []*Key{key(t, "ours-1")}, google: []*Key{key(t, "google-1")}}
	next := parties{ours: []*Key{key(t, "ours-2")}, google: []*Key{key(t, "google-2")}}
	old.ours[0].Expires, old.google[0].Expires = t0.Add(10*24*time.Hour), t0.Add(10*24*time.Hour)
	next.ours[0].Expires, next.google[0].Expires = t0.Add(365*24*time.Hour), t0.Add(365*24*time.Hour)
	both := parties{
		ours:   []*Key{next.ours[0], old.ours[0]}, // listed newest first: exp decides, not order
		google: []*Key{next.google[0], old.google[0]},
	}
	server := both.server(t, at(t0))

	for _, from := range []parties{old, next} {
		for _, ours := range both.ours {
			req := parties{ours: []*Key{ours}, google: from.google}.request(t, payload)
			if got, err := server.Open(req); err != nil || !bytes.Equal(got, payload) {
				t.Errorf("during rotation, signed by %s to %s: %q, %v", from.google[0].ID, ours.ID, got, err)
			}
		}
	}

	// Seal takes the newest of each side: Google's holder of google-2 reads it.
	body, err := server.Seal(payload)
	if err != nil {
		t.Fatal(err)
	}
	checkHeaders(t, body, next.google[0], next.ours[0], "RSA1_5", "A128CBC-HS256", "RS256", false)
	if _, err := next.googleCodec(t, at(t0)).Open(body); err != nil {
		t.Errorf("the holder of the new Google key cannot read our response: %v", err)
	}
	if _, err := old.googleCodec(t, at(t0)).Open(body); !errors.Is(err, envelope.ErrUndecryptable) {
		t.Errorf("a response to the new key opened with the old one: %v", err)
	}

	after := next.server(t, at(t0))
	_, err = after.Open(parties{ours: old.ours, google: next.google}.request(t, payload))
	wantErr(t, err, envelope.ErrUndecryptable)
	_, err = after.Open(parties{ours: next.ours, google: old.google}.request(t, payload))
	wantErr(t, err, envelope.ErrBadSignature)
	if got, err := after.Open(next.request(t, payload)); err != nil || !bytes.Equal(got, payload) {
		t.Errorf("after rotation, new keys: %q, %v", got, err)
	}
}

func TestSealPicksNewestActiveKey(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		name    string
		expires []time.Duration // per key; 0 means no exp
		now     time.Duration
		want    int // index of the key Seal must use; -1: ErrNoUsableKey
	}{
		{"one key", []time.Duration{0}, 0, 0},
		{"latest exp wins", []time.Duration{100 * day, 300 * day, 200 * day}, 0, 1},
		{"a dated key beats an undated one", []time.Duration{0, 100 * day}, 0, 1},
		{"a dated key beats an undated one listed later", []time.Duration{100 * day, 0}, 0, 0},
		{"between equals, the later listed", []time.Duration{100 * day, 100 * day}, 0, 1},
		{"between undated keys, the later listed", []time.Duration{0, 0}, 0, 1},
		{"expired keys are skipped", []time.Duration{0, 10 * day}, 20 * day, 0},
		{"expired at the instant itself", []time.Duration{0, 10 * day}, 10 * day, 0},
		{"all expired", []time.Duration{5 * day, 10 * day}, 20 * day, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := make([]*Key, len(tc.expires))
			for i, d := range tc.expires {
				keys[i] = key(t, fmt.Sprintf("k-%d", i))
				if d != 0 {
					keys[i].Expires = t0.Add(d)
				}
			}
			// Construct at t0, when every key is active, then move the clock.
			now := t0
			clock := Options{Now: func() time.Time { return now }}
			for _, side := range []string{"ours", "google"} {
				p := parties{ours: []*Key{key(t, "ours-1")}, google: []*Key{key(t, "google-1")}}
				if side == "ours" {
					p.ours = keys
				} else {
					p.google = keys
				}
				server := p.server(t, clock)
				now = t0.Add(tc.now)
				body, err := server.Seal(payload)
				now = t0
				if tc.want < 0 {
					if !errors.Is(err, ErrNoUsableKey) {
						t.Fatalf("%s: Seal with every key expired: %v", side, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", side, err)
				}
				if side == "google" {
					if kid := header(t, string(body))["kid"]; kid != keys[tc.want].ID {
						t.Errorf("encrypted to %v, want %s", kid, keys[tc.want].ID)
					}
				} else {
					checkHeaders(t, body, p.google[0], keys[tc.want], "RSA1_5", "A128CBC-HS256", "RS256", false)
				}
			}
		})
	}
}

// TestExpiry: Google's expired keys no longer verify or receive; ours no
// longer sign but still decrypt; New refuses a key set that cannot serve.
func TestExpiry(t *testing.T) {
	p := newParties(t)
	p.ours[0].Expires = t0.Add(time.Hour)
	p.google[0].Expires = t0.Add(time.Hour)
	now := t0
	server := p.server(t, Options{Now: func() time.Time { return now }})
	req := p.request(t, payload)
	if _, err := server.Open(req); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	if _, err := server.Seal(payload); err != nil {
		t.Fatalf("before expiry: %v", err)
	}

	now = t0.Add(2 * time.Hour)
	_, err := server.Open(req)
	wantErr(t, err, envelope.ErrBadSignature)
	if !strings.Contains(err.Error(), "expired") {
		t.Errorf("the error does not say the key expired: %v", err)
	}
	if _, err := server.Seal(payload); !errors.Is(err, ErrNoUsableKey) {
		t.Errorf("Seal with expired keys: %v", err)
	}

	// Our expired key still decrypts what is signed by an active Google key.
	fresh := key(t, "google-2")
	p2 := parties{ours: p.ours, google: []*Key{fresh}}
	server2 := parties{ours: append(p.ours, key(t, "ours-2")), google: []*Key{fresh}}.server(t, at(now))
	if _, err := server2.Open(p2.request(t, payload)); err != nil {
		t.Errorf("our expired key no longer decrypts: %v", err)
	}

	for _, tc := range []struct {
		name string
		ks   KeySet
	}{
		{"Google's keys expired", KeySet{Ours: []*Key{key(t, "ours-2")}, Google: publics(p.google)}},
		{"our only key expired", KeySet{Ours: p.ours, Google: []*Key{fresh.Public()}}},
		{"no keys of ours", KeySet{Google: []*Key{fresh.Public()}}},
		{"no keys of Google's", KeySet{Ours: []*Key{key(t, "ours-2")}}},
	} {
		if _, err := New(&tc.ks, at(now)); !errors.Is(err, ErrNoUsableKey) {
			t.Errorf("%s: New: %v, want ErrNoUsableKey", tc.name, err)
		}
	}
}

// TestKeyRestrictions: "use" and "alg" of a JWK are respected.
func TestKeyRestrictions(t *testing.T) {
	p := parties{
		ours:   []*Key{key(t, "ours-1"), key(t, "ours-sig")},
		google: []*Key{key(t, "google-1"), key(t, "google-enc"), key(t, "google-rs256")},
	}
	p.ours[0].Use, p.ours[1].Use = UseEnc, UseSig
	p.google[1].Use = UseEnc
	p.google[2].Algorithm, p.google[2].Use = "RS256", UseSig
	server := p.server(t, allowAll("RSA1_5", "A128CBC-HS256", "RS256", false))
	ours, sigOnly := p.ours[0], p.ours[1]

	jws := sign(t, payload, "RS256", p.google[0].PrivateKey, p.google[0].ID, nil)
	_, err := server.Open(encrypt(t, []byte(jws), "RSA1_5", "A128CBC-HS256", sigOnly.PublicKey, sigOnly.ID, false))
	wantErr(t, err, envelope.ErrUndecryptable)

	wrap := func(inner string) []byte {
		return encrypt(t, []byte(inner), "RSA1_5", "A128CBC-HS256", ours.PublicKey, ours.ID, false)
	}
	_, err = server.Open(wrap(sign(t, payload, "RS256", p.google[1].PrivateKey, p.google[1].ID, nil)))
	wantErr(t, err, envelope.ErrBadSignature)
	_, err = server.Open(wrap(sign(t, payload, "PS256", p.google[2].PrivateKey, p.google[2].ID, nil)))
	wantErr(t, err, envelope.ErrBadSignature)
	if _, err := server.Open(wrap(sign(t, payload, "RS256", p.google[2].PrivateKey, p.google[2].ID, nil))); err != nil {
		t.Errorf("RS256 by the RS256 key: %v", err)
	}

	// Seal signs with the sig key, encrypts to the enc key.
	body, err := server.Seal(payload)
	if err != nil {
		t.Fatal(err)
	}
	checkHeaders(t, body, p.google[1], sigOnly, "RSA1_5", "A128CBC-HS256", "RS256", false)
}

func TestNewRejects(t *testing.T) {
	p := newParties(t)
	good := KeySet{Ours: p.ours, Google: publics(p.google)}
	for _, tc := range []struct {
		name string
		ks   KeySet
		opts Options
		want string
	}{
		{"key algorithm none", good, Options{KeyAlgorithms: []string{"none"}}, `key algorithm "none"`},
		{"key algorithm dir", good, Options{KeyAlgorithms: []string{"RSA1_5", "dir"}}, `key algorithm "dir"`},
		{"key algorithm lower case", good, Options{KeyAlgorithms: []string{"rsa1_5"}}, `key algorithm "rsa1_5"`},
		{"content encryption as key algorithm", good, Options{KeyAlgorithms: []string{"A128CBC-HS256"}}, "not supported"},
		{"content encryption unknown", good, Options{ContentEncryptions: []string{"A128CBC"}}, `content encryption "A128CBC"`},
		{"signature algorithm none", good, Options{SignatureAlgorithms: []string{"none"}}, `signature algorithm "none"`},
		{"signature algorithm HS256", good, Options{SignatureAlgorithms: []string{"HS256"}}, `signature algorithm "HS256"`},
		{"signature algorithm ES256", good, Options{SignatureAlgorithms: []string{"ES256"}}, `signature algorithm "ES256"`},
		{"our key without private part", KeySet{Ours: publics(p.ours), Google: good.Google}, Options{}, "no private key"},
		{"our key without kid", KeySet{Ours: []*Key{{PrivateKey: p.ours[0].PrivateKey, PublicKey: p.ours[0].PublicKey}}, Google: good.Google}, Options{}, "no kid"},
		{"duplicate kid", KeySet{Ours: []*Key{p.ours[0], key(t, "ours-1")}, Google: good.Google}, Options{}, `kid "ours-1" is used by two keys`},
		{"bad use", KeySet{Ours: []*Key{{ID: "x", Use: "encryption", PrivateKey: p.ours[0].PrivateKey, PublicKey: p.ours[0].PublicKey}}, Google: good.Google}, Options{}, "use"},
		{"unsupported alg", KeySet{Ours: []*Key{{ID: "x", Algorithm: "HS256", PrivateKey: p.ours[0].PrivateKey, PublicKey: p.ours[0].PublicKey}}, Google: good.Google}, Options{}, `alg "HS256"`},
		{"small key", KeySet{Ours: []*Key{{ID: "x", PrivateKey: rsaKey(t, "small", 1024), PublicKey: &rsaKey(t, "small", 1024).PublicKey}}, Google: good.Google}, Options{}, "RSA-1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(&tc.ks, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

// TestNewCopiesKeys: the Codec keeps its own copy of the keys, and only the
// public half of Google's even when handed a private one.
func TestNewCopiesKeys(t *testing.T) {
	p := newParties(t)
	c, err := New(&KeySet{Ours: p.ours, Google: p.google}, at(t0))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range c.keys.Google {
		if k.PrivateKey != nil {
			t.Errorf("Google key %s kept its private part", k.ID)
		}
	}
	if p.google[0].PrivateKey == nil {
		t.Error("New modified the caller's key")
	}
	p.ours[0].Expires, p.google[0].Expires = t0.Add(-time.Hour), t0.Add(-time.Hour)
	if _, err := c.Seal(payload); err != nil {
		t.Errorf("changing the caller's keys changed the Codec: %v", err)
	}
}

func TestKeysInfo(t *testing.T) {
	p := parties{
		ours:   []*Key{key(t, "ours-1"), key(t, "ours-2")},
		google: []*Key{key(t, "google-1"), key(t, "google-2")},
	}
	p.ours[0].Use = UseSig
	p.ours[0].Expires = t0.Add(-time.Hour)
	p.ours[1].Expires = t0.Add(29 * 24 * time.Hour)
	p.google[0].Use = UseEnc
	p.google[1].Expires = t0.Add(31 * 24 * time.Hour)
	c := p.server(t, at(t0))
	got, err := json.Marshal(c.Keys())
	if err != nil {
		t.Fatal(err)
	}
	want := `[` +
		`{"ID":"ours-1","Owner":"ours","Algorithm":"RSA-2048","Usage":"sig","Expires":"2026-03-01T11:00:00Z","Active":false,"ExpiringSoon":false},` +
		`{"ID":"ours-2","Owner":"ours","Algorithm":"RSA-2048","Usage":"sig+enc","Expires":"2026-03-30T12:00:00Z","Active":true,"ExpiringSoon":true},` +
		`{"ID":"google-1","Owner":"google","Algorithm":"RSA-2048","Usage":"enc","Expires":"0001-01-01T00:00:00Z","Active":true,"ExpiringSoon":false},` +
		`{"ID":"google-2","Owner":"google","Algorithm":"RSA-2048","Usage":"sig+enc","Expires":"2026-04-01T12:00:00Z","Active":true,"ExpiringSoon":false}]`
	if string(got) != want {
		t.Errorf("Keys() =\n%s\nwant\n%s", got, want)
	}
}

// TestConcurrentUse exercises one Codec from many goroutines under -race.
func TestConcurrentUse(t *testing.T) {
	p := newParties(t)
	server, google := p.server(t, Options{}), p.googleCodec(t, Options{Compress: true})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			body, err := google.Seal(payload)
			if err == nil {
				_, err = server.Open(body)
			}
			if err == nil {
				body, err = server.Seal(payload)
			}
			if err == nil {
				_, err = google.Open(body)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
