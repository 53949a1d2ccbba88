package pgp

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/hsm/softhsmtest"
)

// The fixtures are made once per test binary, lazily so that a benchmark-only
// run does not pay for them: GnuPG plays Google (and two strangers), Go
// plays us. RSA-2048 everywhere, for speed.

func TestMain(m *testing.M) {
	code := m.Run()
	for _, g := range homes {
		g.close()
	}
	softhsmtest.Cleanup() // the token of the HSM tests (-tags pkcs11)
	os.Exit(code)
}

var (
	homesMu sync.Mutex
	homes   []*gpgHome
)

// gpgHome is a throw-away GNUPGHOME. It lives under /tmp with a short name
// because gpg-agent's socket path must fit in a sockaddr_un (108 bytes),
// which t.TempDir paths can exceed.
type gpgHome struct{ dir string }

func newGPGHome() (*gpgHome, error) {
	if _, err := exec.LookPath("gpg"); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gpg")
	if err != nil {
		return nil, err
	}
	g := &gpgHome{dir: dir}
	homesMu.Lock()
	homes = append(homes, g)
	homesMu.Unlock()
	// Create the trust database, which --trust-model always will not do
	// and some commands (--show-keys) need.
	init := exec.Command("gpg", "--homedir", dir, "--batch", "--list-keys")
	if out, err := init.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gpg init: %v\n%s", err, out)
	}
	return g, nil
}

func (g *gpgHome) close() {
	cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.dir)
	_ = cmd.Run()
	_ = os.RemoveAll(g.dir)
}

// run runs gpg non-interactively; stdout is returned, stderr (which carries
// the --status-fd 2 lines) goes with the error or is returned too.
func (g *gpgHome) run(stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	base := []string{"--homedir", g.dir, "--batch", "--no-tty", "--yes",
		"--pinentry-mode", "loopback", "--passphrase", "",
		"--trust-model", "always", "--no-auto-key-locate"}
	cmd := exec.Command("gpg", append(base, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.dir, "LC_ALL=C")
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), errb.Bytes(), fmt.Errorf("gpg %s: %v\n%s", strings.Join(args, " "), err, errb.Bytes())
	}
	return out.Bytes(), errb.Bytes(), nil
}

// genKey makes an RSA-2048 sign+certify primary key with a separate RSA-2048
// encryption subkey, both expiring in a year, and returns the fingerprint.
func (g *gpgHome) genKey(uid string) (string, error) {
	if _, _, err := g.run(nil, "--quick-gen-key", uid, "rsa2048", "sign,cert", "1y"); err != nil {
		return "", err
	}
	out, _, err := g.run(nil, "--with-colons", "--list-keys", "="+uid)
	if err != nil {
		return "", err
	}
	fpr := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Split(sc.Text(), ":"); f[0] == "fpr" {
			fpr = f[9]
			break
		}
	}
	if fpr == "" {
		return "", fmt.Errorf("no fingerprint for %s", uid)
	}
	if _, _, err := g.run(nil, "--quick-add-key", fpr, "rsa2048", "encr", "1y"); err != nil {
		return "", err
	}
	return fpr, nil
}

func (g *gpgHome) export(fpr string, secret bool) ([]*openpgp.Entity, error) {
	cmd := "--export"
	if secret {
		cmd = "--export-secret-keys"
	}
	out, _, err := g.run(nil, cmd, fpr)
	if err != nil {
		return nil, err
	}
	return ParseKeys(out)
}

func (g *gpgHome) importKey(armored []byte) error {
	_, _, err := g.run(armored, "--import")
	return err
}

// fixture is the shared cast.
type fixture struct {
	gpg *gpgHome // holds the secret keys of every gpg-made key

	// Ours, made by GenerateKey: A and B for rotation (3 years), Short
	// expires a day after creation.
	ourA, ourB, ourShort *openpgp.Entity

	// Google's: public keys as the server loads them, private ones to play
	// Google in Go where gpg cannot (tampered signatures, revoked keys).
	gA, gB, gRevoked              *openpgp.Entity
	gAPriv, gBPriv, gRevokedPriv  *openpgp.Entity
	fprGA, fprGB, fprUnknown      string
	fprStranger                   string
	fprOurA, fprOurB, fprOurShort string
	created                       time.Time
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

// fixtures returns the shared fixture, skipping the test when gpg is missing.
func fixtures(t testing.TB) *fixture {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		// CI must prove interoperability, so there a missing gpg fails.
		if os.Getenv("CI") != "" {
			t.Fatal("gpg not installed: .ci/run installs gnupg")
		}
		t.Skip("gpg not installed")
	}
	fixOnce.Do(func() { fix, fixErr = makeFixture() })
	if fixErr != nil {
		t.Fatalf("fixtures: %v", fixErr)
	}
	return fix
}

func makeFixture() (*fixture, error) {
	f := &fixture{created: time.Now()}
	g, err := newGPGHome()
	if err != nil {
		return nil, err
	}
	f.gpg = g

	// Our keys, in Go.
	type gen struct {
		dst      **openpgp.Entity
		name     string
		lifetime time.Duration
	}
	for _, k := range []gen{
		{&f.ourA, "otpgate A", 3 * 365 * 24 * time.Hour},
		{&f.ourB, "otpgate B", 3 * 365 * 24 * time.Hour},
		{&f.ourShort, "otpgate short", 24 * time.Hour},
	} {
		e, err := GenerateKey(k.name, "ops@otpgate.test", 2048, k.lifetime, time.Time{})
		if err != nil {
			return nil, err
		}
		*k.dst = e
	}
	f.fprOurA = fmt.Sprintf("%X", f.ourA.PrimaryKey.Fingerprint)
	f.fprOurB = fmt.Sprintf("%X", f.ourB.PrimaryKey.Fingerprint)
	f.fprOurShort = fmt.Sprintf("%X", f.ourShort.PrimaryKey.Fingerprint)
	for _, e := range []*openpgp.Entity{f.ourA, f.ourB, f.ourShort} {
		pub, err := ArmorPublicKey(e)
		if err != nil {
			return nil, err
		}
		if err := g.importKey(pub); err != nil {
			return nil, err
		}
	}
	// Our key A's secret too, to show that a request signed by ourselves
	// is refused.
	secA, err := armorPrivate(f.ourA)
	if err != nil {
		return nil, err
	}
	if err := g.importKey(secA); err != nil {
		return nil, err
	}

	// Google's keys and two strangers, in gpg.
	for _, k := range []struct {
		dst *string
		uid string
	}{
		{&f.fprGA, "Google A <a@google.test>"},
		{&f.fprGB, "Google B <b@google.test>"},
		{&f.fprUnknown, "Unknown <unknown@example.test>"},
		{&f.fprStranger, "Stranger <stranger@example.test>"},
	} {
		if *k.dst, err = g.genKey(k.uid); err != nil {
			return nil, err
		}
	}
	one := func(fpr string, secret bool) (*openpgp.Entity, error) {
		es, err := g.export(fpr, secret)
		if err != nil {
			return nil, err
		}
		if len(es) != 1 {
			return nil, fmt.Errorf("export %s: %d keys", fpr, len(es))
		}
		return es[0], nil
	}
	for _, k := range []struct {
		dst    **openpgp.Entity
		fpr    string
		secret bool
	}{
		{&f.gA, f.fprGA, false}, {&f.gAPriv, f.fprGA, true},
		{&f.gB, f.fprGB, false}, {&f.gBPriv, f.fprGB, true},
	} {
		if *k.dst, err = one(k.fpr, k.secret); err != nil {
			return nil, err
		}
	}

	// A Google key that is revoked after its secret was copied: gpg keeps
	// a revocation certificate for each new key, guarded by a ':'.
	fprR, err := g.genKey("Google Revoked <r@google.test>")
	if err != nil {
		return nil, err
	}
	if f.gRevokedPriv, err = one(fprR, true); err != nil {
		return nil, err
	}
	rev, err := os.ReadFile(g.dir + "/openpgp-revocs.d/" + fprR + ".rev")
	if err != nil {
		return nil, err
	}
	rev = bytes.Replace(rev, []byte(":-----BEGIN"), []byte("-----BEGIN"), 1)
	if err := g.importKey(rev); err != nil {
		return nil, err
	}
	if f.gRevoked, err = one(fprR, false); err != nil {
		return nil, err
	}
	return f, nil
}

// public strips an entity of ours down to what Google would hold.
func public(t testing.TB, e *openpgp.Entity) *openpgp.Entity {
	t.Helper()
	pub, err := ArmorPublicKey(e)
	if err != nil {
		t.Fatal(err)
	}
	es, err := ParseKeys(pub)
	if err != nil || len(es) != 1 {
		t.Fatalf("public: %v (%d keys)", err, len(es))
	}
	return es[0]
}

// gpgMessage has gpg produce a binary OpenPGP message from plaintext.
func (f *fixture) gpgMessage(t testing.TB, plaintext []byte, args ...string) []byte {
	t.Helper()
	out, _, err := f.gpg.run(plaintext, append([]string{"--output", "-"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// request is gpg's `--sign --encrypt` to recipient by signer, base64url.
func (f *fixture) request(t testing.TB, plaintext []byte, recipient, signer string, extra ...string) []byte {
	t.Helper()
	args := append([]string{"--sign", "--encrypt", "-r", recipient, "-u", signer}, extra...)
	return b64(f.gpgMessage(t, plaintext, args...), true)
}

func b64(msg []byte, padded bool) []byte {
	enc := base64.RawURLEncoding
	if padded {
		enc = base64.URLEncoding
	}
	return []byte(enc.EncodeToString(msg))
}

func newCodec(t testing.TB, ours, google []*openpgp.Entity, now func() time.Time) *Codec {
	t.Helper()
	c, err := New(ours, google, Options{Now: now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func at(d time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(d) }
}

// statusLines returns the gpg --status-fd lines without their prefix.
func statusLines(stderr []byte) []string {
	var out []string
	for _, l := range strings.Split(string(stderr), "\n") {
		if s, ok := strings.CutPrefix(l, "[GNUPG:] "); ok {
			out = append(out, s)
		}
	}
	return out
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}
