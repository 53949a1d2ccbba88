//go:build pkcs11

package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope/pgp"
	"github.com/otpgate/otpgate/internal/hsm/softhsmtest"
)

// TestE2EHSMServe: `otpgate keys generate --pkcs11` makes our PGP key inside
// a real token (SoftHSM2); `keys list` and `export-public` read it back
// through its URI; `otpgate serve --pgp-key pkcs11:…` answers a sendOtp
// sealed by Google and a verifyOtp with the code sent, decrypting and
// signing in the token; the PIN appears in no output.
func TestE2EHSMServe(t *testing.T) {
	t.Parallel()
	tk := softhsmtest.New(t, "e2e-hsm")
	env := e2eEnv(tk.Env()...)
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	var outputs []string
	run := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := e2eRun(t, 60*time.Second, env, args...)
		outputs = append(outputs, stdout, stderr)
		if code != 0 {
			t.Fatalf("otpgate %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
		return stdout
	}
	// A taken --out is refused before the token makes a key: the label
	// stays free for the retry below, and the file is left as it was.
	taken := writeFile(t, dir, "taken.asc", "someone's file\n")
	code, _, stderr := e2eRun(t, 60*time.Second, env, "keys", "generate", "--scheme", "pgp", "--bits", "2048", "--pkcs11", "pkcs11:token=e2e-hsm;object=ours", "--out", taken)
	if b, _ := os.ReadFile(taken); code == 0 || !strings.Contains(stderr, "exists") || string(b) != "someone's file\n" {
		t.Fatalf("keys generate --pkcs11 onto an existing --out: exit %d, file %q\n%s", code, b, stderr)
	}
	outputs = append(outputs, stderr)
	// A generation that fails leaves no --out behind to be mistaken for a key.
	code, _, stderr = e2eRun(t, 60*time.Second, env, "keys", "generate", "--scheme", "pgp", "--bits", "2048", "--pkcs11", "pkcs11:token=no-such-token;object=ours", "--out", path("ghost.asc"))
	if _, err := os.Stat(path("ghost.asc")); code == 0 || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("keys generate --pkcs11 into a missing token: exit %d, --out left behind: %v\n%s", code, err == nil, stderr)
	}
	outputs = append(outputs, stderr)
	gen := run("keys", "generate", "--scheme", "pgp", "--bits", "2048", "--pkcs11", "pkcs11:token=e2e-hsm;object=ours", "--out", path("ours.pub.asc"))
	ref := "pkcs11:token=e2e-hsm;object=ours?x-public-key=" + path("ours.pub.asc")
	if !strings.Contains(gen, "--pgp-key '"+ref+"'") {
		t.Errorf("keys generate does not show how to serve with the key:\n%s", gen)
	}
	if pub, err := os.ReadFile(path("ours.pub.asc")); err != nil || strings.Contains(string(pub), "PRIVATE") {
		t.Fatalf("public key file: %v", err)
	}
	if list := run("keys", "list", "--scheme", "pgp", "--key", ref); strings.Count(list, "active") != 2 {
		t.Errorf("keys list of the token's key:\n%s", list)
	}
	if exported, _ := os.ReadFile(path("ours.pub.asc")); run("keys", "export-public", "--scheme", "pgp", "--key", ref) != string(exported) {
		t.Error("export-public of the token's key differs from the file keys generate wrote")
	}
	// The JOSE flavour of the same commands.
	run("keys", "generate", "--scheme", "jose", "--bits", "2048", "--pkcs11", "pkcs11:token=e2e-hsm;object=jose-1", "--out", path("jose.pub.json"))
	if list := run("keys", "list", "--scheme", "jose", "--key", "pkcs11:token=e2e-hsm;object=jose-1?x-public-key="+path("jose.pub.json")); !strings.Contains(list, "jose-1") || !strings.Contains(list, "active") {
		t.Errorf("keys list of the token's JOSE key:\n%s", list)
	}
	// Without the JWK file, the token alone: kid from the label, and no
	// expiry known, which keys list and doctor say loudly: no alert can
	// protect such a key.
	code, list, stderr := e2eRun(t, 60*time.Second, env, "keys", "list", "--scheme", "jose", "--key", "pkcs11:token=e2e-hsm;object=jose-1")
	outputs = append(outputs, list, stderr)
	if code != 0 || !strings.Contains(list, "jose-1") || !strings.Contains(list, "unknown") || strings.Contains(list, "never") ||
		!strings.Contains(stderr, "WARNING: jose key jose-1 is in a token without x-public-key: no expiry known, so the expiry alert cannot protect this key") {
		t.Errorf("keys list of the token's JOSE key, without its JWK: exit %d\n%s\nstderr: %s", code, list, stderr)
	}
	if code, _, stderr := e2eRun(t, 60*time.Second, env, "keys", "list", "--scheme", "jose", "--key", "pkcs11:token=e2e-hsm;object=jose-1?x-public-key="+path("jose.pub.json")); code != 0 || strings.Contains(stderr, "WARNING") {
		t.Errorf("keys list of a key whose JWK gives its expiry: exit %d, warned:\n%s", code, stderr)
	}
	run("keys", "generate", "--scheme", "jose", "--bits", "2048", "--kid", "google", "--out", path("google.jwk"))
	writeFile(t, dir, "google.pub.jwks", run("keys", "export-public", "--scheme", "jose", "--key", path("google.jwk")))
	code, report, stderr := e2eRun(t, 60*time.Second, env, "doctor", "--data-dir", path("doctor"), "--sms-file", "-",
		"--jose-key", "pkcs11:token=e2e-hsm;object=jose-1", "--jose-google-key", path("google.pub.jwks"))
	outputs = append(outputs, report, stderr)
	if flat := strings.Join(strings.Fields(report), " "); !strings.Contains(flat, "warn keys jose ours key jose-1") || !strings.Contains(flat, "no expiry known, so the expiry alert cannot protect this key") ||
		!strings.Contains(flat, "ok keys a probe signed and encrypted") {
		t.Errorf("doctor with a JOSE key in a token without x-public-key: exit %d\n%s\nstderr: %s", code, report, stderr)
	}

	run("keys", "generate", "--scheme", "pgp", "--bits", "2048", "--name", "google", "--out", path("google.asc"))
	writeFile(t, dir, "google.pub.asc", run("keys", "export-public", "--scheme", "pgp", "--key", path("google.asc")))
	googleKeys, ourPublic, err := pgp.LoadKeys([]string{path("google.asc")}, []string{path("ours.pub.asc")})
	if err != nil {
		t.Fatal(err)
	}
	google, err := pgp.New(googleKeys, ourPublic, pgp.Options{})
	if err != nil {
		t.Fatal(err)
	}

	const phone = "+919876543210"
	importAccounts(t, path("data"), writeFile(t, dir, "accounts.jsonl", `{"accountId":"A1","phone":"`+phone+`"}`+"\n"))
	p := e2eServe(t, env, "--data-dir", path("data"), "--sms-file", path("sms.jsonl"),
		"--pgp-key", ref, "--pgp-google-key", path("google.pub.asc"))

	call := func(method string, body map[string]any) map[string]any {
		t.Helper()
		plain, _ := json.Marshal(body)
		sealed, err := google.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		status, answer := rawPost(t, p.url+"/v1/"+method, pgp.ContentType, sealed)
		if status != 200 {
			t.Fatalf("sealed %s: status %d: %s", method, status, answer)
		}
		opened, err := google.Open(answer)
		if err != nil {
			t.Fatalf("Google cannot open the %s answer: %v", method, err)
		}
		var out map[string]any
		if err := json.Unmarshal(opened, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if r := call("sendOtp", sendOtpBody("hsm-send-1", map[string]any{"accountPhoneNumber": phone})); r["result"] != "SUCCESS" {
		t.Fatalf("sendOtp: %v", r)
	}
	sms, err := os.ReadFile(path("sms.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Text string }
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(sms))), &m); err != nil {
		t.Fatalf("SMS file %q: %v", sms, err)
	}
	if r := call("verifyOtp", verifyOtpBody("hsm-verify-1", "hsm-send-1", smsCode(t, m.Text))); r["result"] != "SUCCESS" {
		t.Fatalf("verifyOtp: %v", r)
	}

	// A stop closes the token's sessions once the servers stopped answering.
	p.signal(syscall.SIGTERM)
	if code, ok := p.wait(30 * time.Second); !ok || code != 0 {
		t.Fatalf("serve after SIGTERM: exit %d (exited: %v)\n%s", code, ok, p.stderr)
	}
	logs := p.stderr.String()
	stopping, closed := strings.Index(logs, "shutting down"), strings.Index(logs, "HSM sessions closed")
	if stopping < 0 || closed < stopping {
		t.Errorf("serve did not log closing its HSM sessions after shutting down:\n%s", logs)
	}

	outputs = append(outputs, p.stdout.String(), p.stderr.String())
	for _, out := range outputs {
		if strings.Contains(out, tk.PIN) || strings.Contains(out, "PRIVATE KEY") {
			t.Fatalf("the PIN or a private key was printed:\n%s", out)
		}
	}
}
