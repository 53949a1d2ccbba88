package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/sms"
)

var (
	hexA = strings.Repeat("aa", 32)
	hexB = strings.Repeat("bb", 32)
)

func TestParseSecrets(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     string // "id" or "id@time" per secret, oldest first
	}{
		{"a single hex line, as earlier versions wrote", hexA, "legacy"},
		{"a single hex line and a newline", hexA + "\n", "legacy"},
		{"ids, comments and blank lines", "# rotated in March\n\nold " + hexA + "\n  new " + hexB + "  \n", "old,new"},
		{"a legacy line, then a generated one", hexA + "\n20260315-a1b2c3 " + hexB + "\n", "legacy,20260315-a1b2c3"},
		{"a secret that writes later", "a " + hexA + "\nb " + hexB + " 2026-03-15T10:00:00Z\n", "a,b@2026-03-15T10:00:00Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			secrets, err := parseSecrets([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range secrets {
				id := s.ID
				if !s.ActiveFrom.IsZero() {
					id += "@" + s.ActiveFrom.UTC().Format(time.RFC3339)
				}
				got = append(got, id)
				if len(s.Key) != 32 {
					t.Errorf("secret %s: %d bytes", s.ID, len(s.Key))
				}
			}
			if strings.Join(got, ",") != c.want {
				t.Errorf("secrets %v, want %s", got, c.want)
			}
		})
	}
	for _, c := range []struct{ name, in, want string }{
		{"empty", "\n# nothing\n", "no secret"},
		{"short", "a " + strings.Repeat("ab", 31), "line 1: secret a: want at least 32 bytes"},
		{"not hex", "a " + strings.Repeat("zz", 32), "line 1: secret a: want at least 32 bytes"},
		{"an id twice", "a " + hexA + "\na " + hexB, `"a" is listed twice`},
		{"two legacy lines", hexA + "\n" + hexB, `"legacy" is listed twice`},
		{"a bad id", "a/b " + hexA, "line 1: secret id"},
		{"a bad time", "a " + hexA + " tomorrow", `line 1: secret a: active-from "tomorrow"`},
		{"too many fields", "a " + hexA + " 2026-03-15T10:00:00Z x", "line 1: want ID HEX [ACTIVE_FROM]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSecrets([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one with %q", err, c.want)
			}
			for _, h := range []string{hexA, hexB, strings.Repeat("ab", 31)} {
				if strings.Contains(err.Error(), h) {
					t.Errorf("the error shows the secret: %v", err)
				}
			}
		})
	}
}

// TestSecretsGenerate: `otpgate secrets generate` creates a secrets file
// that is the owner's alone, and appends to one, a single-hex file of an
// earlier version included; it refuses a file others can read and an id
// already listed.
func TestSecretsGenerate(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	generate := func(args ...string) (int, string, string) {
		return e2eRun(t, 30*time.Second, nil, append([]string{"secrets", "generate"}, args...)...)
	}
	load := func(path string) []otp.Secret {
		t.Helper()
		secrets, err := readSecretsFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return secrets
	}

	fresh := filepath.Join(tmp, "fresh")
	if code, stdout, stderr := generate("--out", fresh, "--id", "first"); code != 0 || !strings.Contains(stdout, "added secret first") {
		t.Fatalf("generate into a new file: exit %d\n%s%s", code, stdout, stderr)
	}
	if info, err := os.Stat(fresh); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the new file: %v, %v; want mode 0600", info, err)
	}
	if code, _, stderr := generate("--out", fresh, "--active-in", "1h"); code != 0 {
		t.Fatalf("generate into that file again: exit %d\n%s", code, stderr)
	}
	secrets := load(fresh)
	if len(secrets) != 2 || secrets[0].ID != "first" || !strings.HasPrefix(secrets[1].ID, time.Now().UTC().Format("2006")) {
		t.Fatalf("secrets %+v; want first, then one with a generated id", secrets)
	}
	if until := time.Until(secrets[1].ActiveFrom); until < 50*time.Minute || until > time.Hour {
		t.Errorf("--active-in 1h: the new secret writes in %s", until)
	}
	if string(secrets[0].Key) == string(secrets[1].Key) {
		t.Error("two generated secrets are equal")
	}

	// A secret file of an earlier version: one hex line, no newline.
	legacy := writeFile(t, tmp, "legacy", hexA)
	if code, _, stderr := generate("--out", legacy, "--id", "second"); code != 0 {
		t.Fatalf("generate into a single-hex file: exit %d\n%s", code, stderr)
	}
	secrets = load(legacy)
	if len(secrets) != 2 || secrets[0].ID != otp.LegacySecretID || hex.EncodeToString(secrets[0].Key) != hexA || secrets[1].ID != "second" {
		t.Fatalf("after appending to a single-hex file: %+v", secrets)
	}

	if code, _, stderr := generate("--out", legacy, "--id", "second"); code == 0 || !strings.Contains(stderr, `"second" is listed twice`) {
		t.Errorf("generate with an id already listed: exit %d\n%s", code, stderr)
	}
	open := writeFile(t, tmp, "open", hexA+"\n")
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := generate("--out", open); code == 0 || !strings.Contains(stderr, "chmod 600") {
		t.Errorf("generate into a file others can read: exit %d\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(open); string(b) != hexA+"\n" {
		t.Errorf("a refused file was changed: %q", b)
	}
}

// TestE2ESecretRotation: a deployment of an earlier version, whose secrets
// are single hex lines, rotates both: a code sent before the restart
// verifies after it, a retry of a request made before is replayed, a card
// imported under the old card secret is still found, and what is written
// after names the new secret.
func TestE2ESecretRotation(t *testing.T) {
	t.Parallel()
	const phone = "+919876543210"
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	codeSecret := writeFile(t, dataDir, codeSecretFile, hexA)
	cardSecret := writeFile(t, dataDir, cardSecretFile, hexB+"\n")
	importAccounts(t, dataDir, writeFile(t, tmp, "accounts.jsonl",
		`{"accountId":"A1","phone":"`+phone+`","associationIds":["as-1"],"cards":[{"number":"4000056655665556","expiryMonth":"01","expiryYear":"40"}]}`+"\n"))
	smsFile := filepath.Join(tmp, "sms.jsonl")
	args := []string{"--insecure-plaintext", "--data-dir", dataDir, "--sms-file", smsFile, "--piaid", demoPIAID}
	messages := func() []sms.Message {
		t.Helper()
		msgs, err := sms.ReadFile(smsFile)
		if err != nil {
			t.Fatal(err)
		}
		return msgs
	}

	before := e2eServe(t, nil, args...)
	send := before.sendOtp("rot-send-1", map[string]any{"associationId": "as-1"})
	expectResult(t, "sendOtp before the rotation", send, "SUCCESS")
	code := smsCode(t, messages()[0].Text)
	before.signal(syscall.SIGTERM)
	if status, ok := before.wait(20 * time.Second); !ok || status != 0 {
		t.Fatalf("serve did not stop cleanly: %d, %v\n%s", status, ok, before.stderr)
	}

	for _, f := range []string{codeSecret, cardSecret} {
		if status, stdout, stderr := e2eRun(t, 30*time.Second, nil, "secrets", "generate", "--out", f, "--id", "new"); status != 0 {
			t.Fatalf("secrets generate --out %s: exit %d\n%s%s", filepath.Base(f), status, stdout, stderr)
		}
	}
	after := e2eServe(t, nil, args...)
	expectResult(t, "the code sent under the old secret", after.verifyOtp("rot-verify-1", "rot-send-1", code), "SUCCESS")
	again := after.sendOtp("rot-send-1", map[string]any{"associationId": "as-1"})
	expectResult(t, "a retry of the sendOtp made before the rotation", again, "SUCCESS")
	if again.str("paymentIntegratorSendOtpId") != send.str("paymentIntegratorSendOtpId") || len(messages()) != 1 {
		t.Errorf("the retry was not replayed: %s (first %s), %d SMS", again.raw, send.raw, len(messages()))
	}
	hdr := map[string]any{"protocolVersion": map[string]any{"major": 1}, "requestId": "rot-auth-1",
		"requestTimestamp": map[string]any{"epochMillis": fmt.Sprint(time.Now().UnixMilli())}, "paymentIntegratorAccountId": demoPIAID}
	auth := after.mustPost("/v1/payment-integrator-authenticated-card-fop-api/authenticate", map[string]any{
		"requestHeader":                hdr,
		"accountDetails":               map[string]any{"card": map[string]any{"accountNumber": "4000056655665556", "expiryMonth": "01", "expiryYear": "40"}},
		"amount":                       map[string]any{"amountMicros": "728000000", "currencyCode": "INR"},
		"requestedAuthenticationTypes": map[string]any{"nativeOtp": map[string]any{}},
	})
	if auth.status != 200 || !strings.Contains(auth.raw, `"otpSent"`) {
		t.Errorf("authenticate with a card imported under the old card secret: %d %s", auth.status, auth.raw)
	}
	expectRows(t, "secrets of the idempotency records", dataDir, `SELECT id || ' ' || secret_id FROM requests ORDER BY id`,
		"rot-auth-1 new", "rot-send-1 legacy", "rot-verify-1 new")
	expectRows(t, "secrets of the cards", dataDir, `SELECT secret_id FROM cards`, "legacy")
}
