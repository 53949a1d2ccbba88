package jose

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
)

// writeFile writes a key file with the given mode, whatever the umask.
func writeFile(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func jwkOf(t *testing.T, k *Key) []byte {
	t.Helper()
	b, err := k.MarshalJWK()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withMember adds or replaces one member of a JWK's JSON.
func withMember(t *testing.T, jwk []byte, name string, value any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(jwk, &m); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(m, name)
	} else {
		m[name] = value
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	o1, o2, g1, g2 := key(t, "ours-1"), key(t, "ours-2"), key(t, "google-1"), key(t, "google-2")
	o1.Use, o1.Expires = UseEnc, time.Unix(1800000000, 0).UTC()
	g2.Algorithm, g2.Use = "PS256", UseSig
	ours := []string{
		writeFile(t, dir, "ours-1.jwk", jwkOf(t, o1), 0o600),
		writeFile(t, dir, "ours-2.jwk", jwkOf(t, o2), 0o400),
	}
	jwks, err := PublicJWKS(g1, g2)
	if err != nil {
		t.Fatal(err)
	}
	google := []string{writeFile(t, dir, "google.jwks", jwks, 0o644)}

	ks, err := LoadKeys(ours, google)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.Ours) != 2 || len(ks.Google) != 2 {
		t.Fatalf("loaded %d of ours and %d of Google's", len(ks.Ours), len(ks.Google))
	}
	for i, want := range []*Key{o1, o2, g1.Public(), g2.Public()} {
		got := append(ks.Ours, ks.Google...)[i]
		if got.ID != want.ID || got.Use != want.Use || got.Algorithm != want.Algorithm || !got.Expires.Equal(want.Expires) ||
			!got.PublicKey.Equal(want.PublicKey) || (got.PrivateKey == nil) != (want.PrivateKey == nil) ||
			got.PrivateKey != nil && !got.PrivateKey.Equal(want.PrivateKey) {
			t.Errorf("key %d: loaded %v, want %v", i, got, want)
		}
	}

	// Open and Seal never read the files again.
	for _, path := range append(ours, google...) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
	server, err := New(ks, Options{SignatureAlgorithms: []string{"RS256", "PS256"}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	p := parties{ours: []*Key{o2}, google: []*Key{g1}}
	if _, err := server.Open(p.request(t, payload)); err != nil {
		t.Error(err)
	}
	if _, err := server.Seal(payload); err != nil {
		t.Error(err)
	}
}

func TestLoadKeysRejects(t *testing.T) {
	dir := t.TempDir()
	ours, google := key(t, "ours-1"), key(t, "google-1")
	ourJWK, googleJWK := jwkOf(t, ours), jwkOf(t, google.Public())
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecJWK, err := gojose.JSONWebKey{Key: ec, KeyID: "ec"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	small := rsaKey(t, "small", 1024)
	smallJWK := jwkOf(t, &Key{ID: "small", PrivateKey: small, PublicKey: &small.PublicKey})
	symJWK, err := gojose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "sym"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	twice := []byte(fmt.Sprintf(`{"keys":[%s,%s]}`, ourJWK, ourJWK))

	for _, tc := range []struct {
		name   string
		ours   []byte
		mode   os.FileMode
		google []byte
		want   string
	}{
		{"private key readable by others", ourJWK, 0o644, googleJWK, "chmod 600"},
		{"private key readable by group", ourJWK, 0o640, googleJWK, "chmod 600"},
		{"public key as ours", googleJWK, 0o600, googleJWK, "is a public key"},
		{"private key as Google's", ourJWK, 0o600, ourJWK, "holds private key material"},
		{"no kid", withMember(t, ourJWK, "kid", nil), 0o600, googleJWK, `no "kid"`},
		{"EC key", ecJWK, 0o600, googleJWK, "only RSA"},
		{"symmetric key", symJWK, 0o600, googleJWK, "only RSA"},
		{"RSA-1024", smallJWK, 0o600, googleJWK, "RSA-1024 is too small"},
		{"unknown use", withMember(t, ourJWK, "use", "both"), 0o600, googleJWK, `"use" "both"`},
		{"unknown alg", withMember(t, ourJWK, "alg", "HS256"), 0o600, googleJWK, `"alg" "HS256"`},
		{"alg contradicting use", withMember(t, withMember(t, ourJWK, "alg", "RS256"), "use", "enc"), 0o600, googleJWK, "contradicts"},
		{"exp as a string", withMember(t, ourJWK, "exp", "2030-01-01"), 0o600, googleJWK, "NumericDate"},
		{"exp negative", withMember(t, ourJWK, "exp", -5), 0o600, googleJWK, `"exp"`},
		{"duplicate kid in a JWKS", twice, 0o600, googleJWK, `kid "ours-1" is used by two keys`},
		{"empty JWKS", []byte(`{"keys":[]}`), 0o600, googleJWK, "no keys"},
		{"not JSON", []byte("-----BEGIN RSA PRIVATE KEY-----"), 0o600, googleJWK, "not a JWK"},
		{"truncated JWK", ourJWK[:len(ourJWK)/2], 0o600, googleJWK, "not a JWK"},
		{"duplicate kid across files", ourJWK, 0o600, nil, `kid "ours-1" is used by two keys`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := t.TempDir()
			ourFiles := []string{writeFile(t, sub, "ours.jwk", tc.ours, tc.mode)}
			if tc.google == nil {
				ourFiles = append(ourFiles, writeFile(t, sub, "again.jwk", tc.ours, tc.mode))
				tc.google = googleJWK
			}
			googleFile := writeFile(t, sub, "google.jwk", tc.google, 0o644)
			_, err := LoadKeys(ourFiles, []string{googleFile})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadKeys: %v, want an error containing %q", err, tc.want)
			}
			if tc.want == "chmod 600" && !strings.Contains(err.Error(), ourFiles[0]) {
				t.Errorf("the error does not name the file: %v", err)
			}
		})
	}
	if _, err := LoadKeys([]string{filepath.Join(dir, "missing.jwk")}, nil); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestParseJWKsExp(t *testing.T) {
	jwk := jwkOf(t, key(t, "google-1").Public())
	for _, tc := range []struct {
		exp  any
		want time.Time
	}{
		{nil, time.Time{}},
		{1800000000, time.Unix(1800000000, 0)},
		{1800000000.5, time.Unix(1800000000, 5e8)},
	} {
		keys, err := ParseJWKs(withMember(t, jwk, "exp", tc.exp))
		if err != nil {
			t.Fatal(err)
		}
		if !keys[0].Expires.Equal(tc.want) {
			t.Errorf("exp %v: Expires %v, want %v", tc.exp, keys[0].Expires, tc.want)
		}
	}
	// "alg" alone implies "use".
	keys, err := ParseJWKs(withMember(t, jwk, "alg", "RSA-OAEP-256"))
	if err != nil || keys[0].Use != UseEnc {
		t.Errorf("alg RSA-OAEP-256 without use: %v, %v", keys, err)
	}
}

func TestGenerateWriteExport(t *testing.T) {
	dir := t.TempDir()
	k, err := GenerateKey("ours-2026", 2048, UseSig, 365*24*time.Hour, t0.Add(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if k.Bits() != 2048 || k.Use != UseSig || !k.Expires.Equal(t0.Add(365*24*time.Hour+time.Second)) {
		t.Errorf("generated %v", k)
	}
	// A key printed by mistake shows no key material.
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", *k, *k, *k, []*Key{k})} {
		if strings.Contains(s, k.PrivateKey.D.String()[:20]) || strings.Contains(s, k.PrivateKey.Primes[0].String()[:20]) ||
			!strings.Contains(s, `kid "ours-2026" (RSA-2048, sig, expires 2027-03-01T12:00:01Z)`) {
			t.Errorf("printed as %q", s)
		}
	}

	path := filepath.Join(dir, "ours-2026.jwk")
	if err := WritePrivateJWK(path, k); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("written with mode %04o", fi.Mode().Perm())
	}
	written, _ := os.ReadFile(path)
	other, err := GenerateKey("other", 0, UseBoth, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	if other.Bits() != DefaultRSABits || !other.Expires.IsZero() {
		t.Errorf("defaults: %v", other)
	}
	if err := WritePrivateJWK(path, other); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("second write: %v", err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, written) {
		t.Error("the existing key file was changed")
	}
	if err := WritePrivateJWK(filepath.Join(dir, "pub.jwk"), k.Public()); err == nil {
		t.Error("wrote a public key as a private key file")
	}

	jwks, err := PublicJWKS(k, other)
	if err != nil {
		t.Fatal(err)
	}
	for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
		if bytes.Contains(jwks, []byte(private)) {
			t.Errorf("the public JWKS holds %s", private)
		}
	}
	if _, err := PublicJWKS(k, k); err == nil {
		t.Error("exported two keys with one kid")
	}
	if _, err := PublicJWKS(); err == nil {
		t.Error("exported an empty JWKS")
	}

	// What we write, we load: our file as ours, the JWKS as Google would.
	ks, err := LoadKeys([]string{path}, []string{writeFile(t, dir, "pub.jwks", jwks, 0o644)})
	if err != nil {
		t.Fatal(err)
	}
	got := ks.Ours[0]
	if got.ID != k.ID || got.Use != k.Use || !got.Expires.Equal(k.Expires) || !got.PrivateKey.Equal(k.PrivateKey) {
		t.Errorf("loaded %v, wrote %v", got, k)
	}
	if len(ks.Google) != 2 || !ks.Google[0].PublicKey.Equal(k.PublicKey) || !ks.Google[0].Expires.Equal(k.Expires) {
		t.Errorf("JWKS loaded as %v", ks.Google)
	}

	for _, bad := range []struct {
		kid      string
		bits     int
		use      string
		lifetime time.Duration
	}{
		{"", 2048, "", 0},
		{"x", 1024, "", 0},
		{"x", 8192, "", 0},
		{"x", 2048, "signing", 0},
		{"x", 2048, "", -time.Hour},
	} {
		if _, err := GenerateKey(bad.kid, bad.bits, bad.use, bad.lifetime, t0); err == nil {
			t.Errorf("GenerateKey%+v succeeded", bad)
		}
	}
}
