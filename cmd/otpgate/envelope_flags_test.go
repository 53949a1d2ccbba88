package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/alecthomas/kong"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/envelope/jose"
	"github.com/otpgate/otpgate/internal/envelope/pgp"
)

// TestEnvelopeFlags: the PGP allow-list flags reach pgp.New with their
// defaults, a weak or unknown choice stops serve before it listens, and
// --max-body-bytes bounds what a request may decrypt to in both schemes.
func TestEnvelopeFlags(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	ours, err := pgp.GenerateKey("ours", "", 2048, 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	google, err := pgp.GenerateKey("google", "", 2048, 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pgp.WritePrivateKey(path("ours.asc"), ours); err != nil {
		t.Fatal(err)
	}
	armored, err := pgp.ArmorPublicKey(google)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "google.pub.asc", string(armored))
	armored, err = pgp.ArmorPublicKey(ours)
	if err != nil {
		t.Fatal(err)
	}
	oursPublic, err := pgp.ParseKeys(armored)
	if err != nil {
		t.Fatal(err)
	}
	googleSide, err := pgp.New([]*openpgp.Entity{google}, oursPublic, pgp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	request := []byte(`{"requestHeader":{"requestId":"flags"},"padding":"` + strings.Repeat("x", 1000) + `"}`)
	sealed, err := googleSide.Seal(request)
	if err != nil {
		t.Fatal(err)
	}

	pgpKeys := []string{"--pgp-key", path("ours.asc"), "--pgp-google-key", path("google.pub.asc")}
	parse := func(args ...string) *envelopeFlags {
		t.Helper()
		var f struct {
			envelopeFlags `embed:""`
		}
		parser, err := kong.New(&f, kong.Exit(func(int) { t.Fatal("kong exited") }))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parser.Parse(args); err != nil {
			t.Fatalf("parse %v: %v", args, err)
		}
		return &f.envelopeFlags
	}

	for _, tc := range []struct {
		name string
		args []string
		want string // "" opens the request
	}{
		{"defaults", nil, ""},
		{"CAST5 cannot be allowed", []string{"--pgp-cipher", "AES256,CAST5"}, `cipher "CAST5" is not supported`},
		{"SHA-1 cannot be allowed", []string{"--pgp-digest", "SHA1"}, `digest "SHA1" is not supported`},
		{"RSA below 2048 cannot be allowed", []string{"--pgp-min-rsa-bits", "1024"}, "below 2048"},
		{"a minimum above our keys", []string{"--pgp-min-rsa-bits", "3072"}, "at least 3072"},
		{"curve keys only", []string{"--pgp-key-algo", "Ed25519,X25519"}, "not an accepted algorithm"},
		{"every list narrowed", []string{"--pgp-cipher", "AES256", "--pgp-aead-mode", "none", "--pgp-digest", "SHA384",
			"--pgp-compression", "none", "--pgp-hidden-recipient", "--pgp-min-rsa-bits", "2048", "--pgp-key-algo", "RSA"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := parse(append(pgpKeys, tc.args...)...)
			c, _, err := f.codec("pgp", time.Now, 65536)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("codec: %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, err := c.Open(sealed); err != nil || !bytes.Equal(got, request) {
				t.Fatalf("Open: %v", err)
			}
		})
	}

	t.Run("PGP plaintext over --max-body-bytes", func(t *testing.T) {
		c, _, err := parse(pgpKeys...).codec("pgp", time.Now, 500)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Open(sealed); !errors.Is(err, envelope.ErrUndecryptable) || !strings.Contains(err.Error(), "exceeds 500 bytes") {
			t.Fatalf("Open: %v", err)
		}
	})

	t.Run("JOSE plaintext over --max-body-bytes", func(t *testing.T) {
		ourJWK, err := jose.GenerateKey("ours-1", 2048, jose.UseBoth, 0, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		googleJWK, err := jose.GenerateKey("google-1", 2048, jose.UseBoth, 0, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if err := jose.WritePrivateJWK(path("ours.jwk"), ourJWK); err != nil {
			t.Fatal(err)
		}
		pub, err := jose.PublicJWKS(googleJWK)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, "google.jwks", string(pub))
		side, err := jose.New(&jose.KeySet{Ours: []*jose.Key{googleJWK}, Google: []*jose.Key{ourJWK.Public()}}, jose.Options{Compress: true})
		if err != nil {
			t.Fatal(err)
		}
		zipped, err := side.Seal(request)
		if err != nil {
			t.Fatal(err)
		}
		f := parse("--jose-key", path("ours.jwk"), "--jose-google-key", path("google.jwks"))
		for _, maxBody := range []int64{65536, 1000} {
			c, _, err := f.codec("jose", time.Now, maxBody)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Open(zipped)
			if maxBody > int64(len(zipped))*2 && (err != nil || !bytes.Equal(got, request)) {
				t.Errorf("--max-body-bytes %d: Open: %v", maxBody, err)
			}
			if maxBody == 1000 && !errors.Is(err, envelope.ErrUndecryptable) {
				t.Errorf("--max-body-bytes %d: a %d-byte body inflating past it: %v", maxBody, len(zipped), err)
			}
		}
	})
}
