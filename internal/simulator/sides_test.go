package simulator_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope/pgp"
	"github.com/otpgate/otpgate/internal/simulator"
)

// The scheme follows the flags, and contradictory flags are refused with
// the flags named.
func TestKeyFilesScheme(t *testing.T) {
	pgpKeys := simulator.SchemeKeyFiles{Google: []string{"g.asc"}, Integrator: []string{"i.pub.asc"}}
	joseKeys := simulator.SchemeKeyFiles{Google: []string{"g.jwk"}, Integrator: []string{"i.pub.jwks"}}
	for _, tc := range []struct {
		name   string
		keys   simulator.KeyFiles
		scheme string // "" when refused
		err    string
	}{
		{"pgp keys", simulator.KeyFiles{PGP: pgpKeys}, "pgp", ""},
		{"jose keys", simulator.KeyFiles{JOSE: joseKeys}, "jose", ""},
		{"plaintext", simulator.KeyFiles{InsecurePlaintext: true}, "plaintext", ""},
		{"--envelope plaintext", simulator.KeyFiles{Envelope: "plaintext"}, "plaintext", ""},
		{"nothing", simulator.KeyFiles{}, "", "--insecure-plaintext for a deployment"},
		{"both schemes", simulator.KeyFiles{PGP: pgpKeys, JOSE: joseKeys}, "", "give the keys of one scheme"},
		{"plaintext and keys", simulator.KeyFiles{InsecurePlaintext: true, PGP: pgpKeys}, "", "plaintext and keys exclude each other"},
		{"plaintext against --envelope", simulator.KeyFiles{InsecurePlaintext: true, Envelope: "jose"}, "", "contradict"},
		{"the other scheme's keys", simulator.KeyFiles{Envelope: "pgp", JOSE: joseKeys}, "", "--envelope pgp was given with the other scheme's keys"},
	} {
		scheme, err := tc.keys.Scheme()
		if scheme != tc.scheme || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %q, %v; want %q and an error naming %q", tc.name, scheme, err, tc.scheme, tc.err)
		}
	}
}

// pgpFiles writes a private key file and its public part for each name.
func pgpFiles(t *testing.T, names ...string) map[string][2]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string][2]string{}
	for _, name := range names {
		e, err := pgp.GenerateKey(name, "", 2048, 365*24*time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		priv, pub := filepath.Join(dir, name+".asc"), filepath.Join(dir, name+".pub.asc")
		if err := pgp.WritePrivateKey(priv, e); err != nil {
			t.Fatal(err)
		}
		armored, err := pgp.ArmorPublicKey(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pub, armored, 0o644); err != nil {
			t.Fatal(err)
		}
		out[name] = [2]string{priv, pub}
	}
	return out
}

// Google's side says which flag holds the wrong kind of key, and the probes
// refuse keys that are Google's side's own; the preflight names the flag
// that fixes a target of another scheme; the skip reasons name the missing
// probe flags.
func TestGoogleSide(t *testing.T) {
	k := pgpFiles(t, "google", "ours", "impostor", "stranger")
	priv, pub := func(n string) []string { return []string{k[n][0]} }, func(n string) []string { return []string{k[n][1]} }

	for _, tc := range []struct {
		name string
		keys simulator.SchemeKeyFiles
		err  string
	}{
		{"a public key as Google's", simulator.SchemeKeyFiles{Google: pub("google"), Integrator: pub("ours")},
			"--google-pgp-key " + k["google"][1] + " is a public key"},
		{"a private key as the deployment's", simulator.SchemeKeyFiles{Google: priv("google"), Integrator: priv("ours")},
			"--integrator-pgp-key " + k["ours"][0] + " holds a private key"},
		{"no deployment key", simulator.SchemeKeyFiles{Google: priv("google")}, "needs --google-pgp-key and --integrator-pgp-key"},
	} {
		if _, err := (simulator.KeyFiles{PGP: tc.keys}).GoogleSide(); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.err)
		}
	}

	for _, tc := range []struct {
		name     string
		impostor []string
		stranger []string
		err      string
	}{
		{"Google's own key as the impostor", priv("google"), nil, "--impostor-pgp-key holds a key of --google-pgp-key"},
		{"the deployment's key as the stranger", nil, pub("ours"), "--stranger-pgp-key holds a key of --integrator-pgp-key"},
	} {
		side, err := simulator.KeyFiles{PGP: simulator.SchemeKeyFiles{Google: priv("google"), Integrator: pub("ours"),
			Impostor: tc.impostor, Stranger: tc.stranger}}.GoogleSide()
		if err != nil {
			t.Fatal(err)
		}
		if err := side.Probes(); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.err)
		}
	}
	otherScheme := simulator.KeyFiles{PGP: simulator.SchemeKeyFiles{Google: priv("google"), Integrator: pub("ours")},
		JOSE: simulator.SchemeKeyFiles{Impostor: []string{"x.jwk"}}}
	if side, err := otherScheme.GoogleSide(); err != nil {
		t.Fatal(err)
	} else if err := side.Probes(); err == nil || !strings.Contains(err.Error(), "are for a jose target; this one speaks pgp") {
		t.Errorf("JOSE probes for a PGP target: %v", err)
	}

	side, err := simulator.KeyFiles{PGP: simulator.SchemeKeyFiles{Google: priv("google"), Integrator: pub("ours"),
		Impostor: priv("impostor"), Stranger: pub("stranger")}}.GoogleSide()
	if err != nil {
		t.Fatal(err)
	}
	if err := side.Probes(); err != nil || side.Impostor == nil || side.Misdirected == nil {
		t.Fatalf("probes: %v, impostor %v, misdirected %v", err, side.Impostor, side.Misdirected)
	}

	// A plaintext target, played with PGP keys.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write([]byte(`{}`))
	}))
	defer plain.Close()
	c, err := side.Client(plain.URL, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := side.Preflight(context.Background(), c, nil); err == nil || !strings.Contains(err.Error(), "simulate it with --insecure-plaintext") {
		t.Errorf("preflight against a plaintext target: %v", err)
	}

	// Without probe keys, the skipped envelope scenarios name the flags.
	bare, err := simulator.KeyFiles{PGP: simulator.SchemeKeyFiles{Google: priv("google"), Integrator: pub("ours")}}.GoogleSide()
	if err != nil {
		t.Fatal(err)
	}
	rep := &simulator.Report{Results: []simulator.Result{
		{Name: "envelope/bad-signature", Status: simulator.Skip, Detail: "x"},
		{Name: "envelope/wrong-encryption-key", Status: simulator.Skip, Detail: "x"},
		{Name: "sendOtp/success-by-phone", Status: simulator.Skip, Detail: "untouched"},
	}}
	bare.ExplainSkips(rep)
	for i, want := range []string{"give --impostor-pgp-key FILE", "give --stranger-pgp-key FILE", "untouched"} {
		if !strings.Contains(rep.Results[i].Detail, want) {
			t.Errorf("%s: %q, want it to say %q", rep.Results[i].Name, rep.Results[i].Detail, want)
		}
	}
}

// The preflight echo goes to a surface the target serves.
func TestPreflightOnAServedSurface(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	side, err := simulator.KeyFiles{InsecurePlaintext: true}.GoogleSide()
	if err != nil {
		t.Fatal(err)
	}
	c, err := side.Client(srv.URL, "P", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, surfaces := range [][]string{nil, {"korea-e-wallets", "india-cards"}, {"india-cards"}} {
		if err := side.Preflight(context.Background(), c, surfaces); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"/v1/echo", "/korea-e-wallets-v1/echo", "/v2/echo"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("preflight echoes went to %v, want %v", paths, want)
	}
}
