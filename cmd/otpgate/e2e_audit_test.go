package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/sms"
)

// auditLine is one record of the audit file, as the test reads it.
type auditLine struct {
	Seq    uint64         `json:"seq"`
	Event  string         `json:"event"`
	Fields map[string]any `json:"fields"`
}

func readAudit(t *testing.T, path string) []auditLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditLine
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var l auditLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

// auditText is what the audit file says besides the chain's own hashes and
// the times, whose hex and nanosecond digits could hold any six digits by
// chance: the text a code, a phone or a card number must not be in.
func auditText(t *testing.T, path string) string {
	t.Helper()
	var b strings.Builder
	for _, l := range readAudit(t, path) {
		delete(l.Fields, "sha256")
		delete(l.Fields, "tornSha256")
		j, _ := json.Marshal(l)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// cardCode is the code in a card flow's SMS: its only run of six digits.
func cardCode(t *testing.T, text string) string {
	t.Helper()
	m := sixDigits.FindAllString(text, -1)
	if len(m) != 1 {
		t.Fatalf("card SMS %q: want one six-digit code", text)
	}
	return m[0]
}

// TestE2EAuditTrail drives every flow through HTTP with the audit trail on:
// sendOtp and verifyOtp, India Cards authenticate, resendOtp and verifyOtp,
// successes, failures, refusals and budget lockouts. The file holds one
// record per outcome, no code, phone number or card number, and a chain
// that audit verify accepts across a SIGHUP rotation and a restart, and
// refuses, naming the record, once a line is deleted.
func TestE2EAuditTrail(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	smsFile := filepath.Join(tmp, "sms.jsonl")
	auditFile := filepath.Join(tmp, "audit", "otpgate-audit.jsonl")
	if err := os.Mkdir(filepath.Dir(auditFile), 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"--dev", "--data-dir", filepath.Join(tmp, "data"), "--sms-file", smsFile, "--audit-log", auditFile,
		"--send-limit", "5/1h", "--fail-limit", "3/1h"}
	p := e2eServe(t, nil, args...)

	var codes []string
	lastSMS := func() sms.Message {
		t.Helper()
		msgs, err := sms.ReadFile(smsFile)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("SMS file: %d messages, %v", len(msgs), err)
		}
		return msgs[len(msgs)-1]
	}
	const phone = "+919876543210"
	byPhone := map[string]any{"accountPhoneNumber": phone}

	// The legacy flow.
	expectResult(t, "sendOtp", p.sendOtp("send-1", byPhone), "SUCCESS")
	code1 := smsCode(t, lastSMS().Text)
	codes = append(codes, code1)
	expectResult(t, "a wrong code", p.verifyOtp("verify-1", "send-1", auditWrongCode(code1)), "OTP_NOT_MATCHED")
	expectResult(t, "the code", p.verifyOtp("verify-2", "send-1", code1), "SUCCESS")
	expectResult(t, "a closed account", p.sendOtp("send-closed", map[string]any{"associationId": "as-demo-closed"}), "ACCOUNT_CLOSED")

	// India Cards.
	card := func(method, requestID string, body map[string]any) e2eResponse {
		t.Helper()
		body["requestHeader"] = map[string]any{"protocolVersion": map[string]any{"major": 1}, "requestId": requestID,
			"requestTimestamp": map[string]any{"epochMillis": strconv.FormatInt(time.Now().UnixMilli(), 10)}, "paymentIntegratorAccountId": demoPIAID}
		r := p.mustPost("/v1/payment-integrator-authenticated-card-fop-api/"+method, body)
		if r.status != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, requestID, r.status, r.raw)
		}
		return r
	}
	authenticate := func(requestID, number string) e2eResponse {
		return card("authenticate", requestID, map[string]any{
			"accountDetails":               map[string]any{"card": map[string]any{"accountNumber": number, "expiryMonth": "01", "expiryYear": "30"}},
			"amount":                       map[string]any{"amountMicros": "728000000", "currencyCode": "INR"},
			"requestedAuthenticationTypes": map[string]any{"nativeOtp": map[string]any{}},
		})
	}
	if r := authenticate("auth-1", demoCard); !strings.Contains(r.raw, "otpSent") {
		t.Fatalf("authenticate: %s", r.raw)
	}
	codes = append(codes, cardCode(t, lastSMS().Text))
	card("resendOtp", "resend-1", map[string]any{"authenticateRequestId": "auth-1"})
	code3 := cardCode(t, lastSMS().Text)
	codes = append(codes, code3)
	card("verifyOtp", "card-verify-1", map[string]any{"authenticateRequestId": "auth-1", "otp": auditWrongCode(code3)})
	card("verifyOtp", "card-verify-2", map[string]any{"authenticateRequestId": "auth-1", "otp": code3})
	const unknownCard = "4000000000000002"
	authenticate("auth-unknown", unknownCard)

	// The failure budget (3): two failures so far, one more spends it; then
	// even the right code is not compared, and no code is sent.
	expectResult(t, "sendOtp", p.sendOtp("send-2", byPhone), "SUCCESS")
	code4 := smsCode(t, lastSMS().Text)
	codes = append(codes, code4)
	expectResult(t, "a third wrong code", p.verifyOtp("verify-3", "send-2", auditWrongCode(code4)), "OTP_NOT_MATCHED")
	expectResult(t, "the code past the budget", p.verifyOtp("verify-4", "send-2", code4), "OTP_NOT_MATCHED")
	expectResult(t, "a send past the budget", p.sendOtp("send-3", byPhone), "OTP_LIMIT_REACHED")

	// The operator rotates the file; the chain goes on in the new one.
	p.signal(syscall.SIGHUP)
	auditWaitFor(t, "the rotation", func() bool { return len(rotatedAudit(t, auditFile)) == 1 })
	expectResult(t, "a send after the rotation", p.sendOtp("send-4", map[string]any{"associationId": "as-demo-fraud"}), "ACCOUNT_CLOSED_FRAUD")
	p.signal(syscall.SIGTERM)
	if code, ok := p.wait(30 * time.Second); !ok || code != 0 {
		t.Fatalf("serve exited %d (%v); stderr:\n%s", code, ok, p.stderr)
	}
	// A restart resumes the chain in the same file.
	p = e2eServe(t, nil, args...)
	expectResult(t, "a send after the restart", p.sendOtp("send-5", map[string]any{"associationId": "as-demo-ne"}), "NOT_ELIGIBLE")
	p.signal(syscall.SIGTERM)
	if code, ok := p.wait(30 * time.Second); !ok || code != 0 {
		t.Fatalf("serve exited %d (%v); stderr:\n%s", code, ok, p.stderr)
	}

	files := append(rotatedAudit(t, auditFile), auditFile)
	var events []string
	var all strings.Builder
	for _, f := range files {
		for _, l := range readAudit(t, f) {
			events = append(events, l.Event+" "+auditStr(l.Fields["method"])+" "+auditStr(l.Fields["requestId"])+" "+auditStr(l.Fields["reason"]))
		}
		all.WriteString(auditText(t, f))
	}
	for _, want := range []string{
		"otp.sent sendOtp send-1 ", "otp.verify_failed verifyOtp verify-1 mismatch", "otp.verified verifyOtp verify-2 ",
		"otp.refused sendOtp send-closed ", "otp.sent authenticate auth-1 ", "otp.resent resendOtp resend-1 ",
		"otp.verify_failed cardVerifyOtp card-verify-1 mismatch", "otp.verified cardVerifyOtp card-verify-2 ",
		"otp.refused authenticate auth-unknown ", "otp.verify_failed verifyOtp verify-3 mismatch",
		"otp.locked_out verifyOtp verify-4 budget", "otp.locked_out sendOtp send-3 budget",
		"otp.refused sendOtp send-4 ", "otp.refused sendOtp send-5 ", "config.loaded  ", "secrets.loaded  ",
	} {
		if !auditHasPrefix(events, want) {
			t.Errorf("no audit record %q in:\n%s", want, strings.Join(events, "\n"))
		}
	}
	text := all.String()
	if !strings.Contains(text, `"phone":"+********3210"`) || !strings.Contains(text, `"account":"demo-active"`) {
		t.Errorf("the records do not name the account and its masked phone:\n%s", text)
	}
	for _, secret := range append(codes, phone, "9876543210", demoCard, demoCard[:12], unknownCard, unknownCard[:12]) {
		if strings.Contains(text, secret) {
			t.Errorf("the audit trail holds %q:\n%s", secret, text)
		}
	}

	code, stdout, stderr := e2eRun(t, 30*time.Second, nil, append([]string{"audit", "verify"}, files...)...)
	if code != 0 || !strings.HasPrefix(stdout, "ok: ") {
		t.Fatalf("audit verify: exit %d\n%s%s", code, stdout, stderr)
	}
	// Delete a record in the middle of the rotated file.
	b, _ := os.ReadFile(files[0])
	lines := strings.SplitAfter(string(b), "\n")
	lines = append(lines[:4:4], lines[5:]...)
	if err := os.WriteFile(files[0], []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = e2eRun(t, 30*time.Second, nil, append([]string{"audit", "verify"}, files...)...)
	if want := files[0] + ":5 (seq 6): deleted"; code == 0 || !strings.Contains(stderr, want) {
		t.Fatalf("audit verify of a log missing a record: exit %d, want non-zero and %q\n%s%s", code, want, stdout, stderr)
	}
}

func auditWrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func auditStr(v any) string {
	s, _ := v.(string)
	return s
}

func auditHasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// rotatedAudit lists the files rotated from path, oldest first.
func rotatedAudit(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".*")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func auditWaitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2EAuditLogUnwritable: a bank would rather not serve than serve
// unaudited, so an audit log that cannot be opened stops the start.
func TestE2EAuditLogUnwritable(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	code, _, stderr := e2eRun(t, 30*time.Second, nil, "serve", "--dev", "--data-dir", filepath.Join(tmp, "data"),
		"--listen", "127.0.0.1:0", "--admin-listen", "off", "--audit-log", filepath.Join(tmp, "no-such-dir", "audit.jsonl"))
	if code == 0 || !strings.Contains(stderr, "--audit-log") {
		t.Fatalf("serve with an audit log it cannot open: exit %d\n%s", code, stderr)
	}
}
