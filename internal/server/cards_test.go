package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/sms/smstest"
)

const cardPath = "/v1/payment-integrator-authenticated-card-fop-api/"

// cardHeader is a current-dialect requestHeader stamped with the fake clock.
func (h *harness) cardHeader(requestID string) map[string]any {
	return map[string]any{
		"protocolVersion":            map[string]any{"major": 1},
		"requestId":                  requestID,
		"requestTimestamp":           map[string]any{"epochMillis": fmt.Sprint(h.clock.Now().UnixMilli())},
		"paymentIntegratorAccountId": piaid,
	}
}

func (h *harness) authenticate(requestID, number, month, year string, types map[string]any) response {
	h.t.Helper()
	if types == nil {
		types = map[string]any{"nativeOtp": map[string]any{"deviceInformation": map[string]any{"userAgent": "test"}}}
	}
	return h.post(cardPath+"authenticate", map[string]any{
		"requestHeader": h.cardHeader(requestID),
		"accountDetails": map[string]any{"card": map[string]any{
			"accountNumber": number, "nameOnCard": "Example Customer", "expiryMonth": month, "expiryYear": year, "cvn": "123"}},
		"amount":                       map[string]any{"amountMicros": "728000000", "currencyCode": "INR"},
		"requestedAuthenticationTypes": types,
	})
}

func (h *harness) cardVerify(requestID, authID, code string) response {
	h.t.Helper()
	return h.post(cardPath+"verifyOtp", map[string]any{"requestHeader": h.cardHeader(requestID), "authenticateRequestId": authID, "otp": code})
}

func (h *harness) resend(requestID, authID string) response {
	h.t.Helper()
	return h.post(cardPath+"resendOtp", map[string]any{"requestHeader": h.cardHeader(requestID), "authenticateRequestId": authID})
}

// oneOf returns the single key of a one-of object at r.body[field].
func oneOf(t *testing.T, r response, field string) string {
	t.Helper()
	m, ok := r.body[field].(map[string]any)
	if !ok || len(m) != 1 {
		t.Fatalf("%s is not a one-of object in %d %s", field, r.status, r.raw)
	}
	for k := range m {
		return k
	}
	return ""
}

func expectOneOf(t *testing.T, r response, field, want string) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d, want 200: %s", r.status, r.raw)
	}
	if got := oneOf(t, r, field); got != want {
		t.Fatalf("%s is %s, want %s: %s", field, got, want, r.raw)
	}
}

// refusalReason is otpgate's own reason for a nativeOtpNotSupported to the
// authenticate requestID, which only the request's log line carries: the
// answer r must not tell Google.
func (h *harness) refusalReason(t *testing.T, requestID string, r response) string {
	t.Helper()
	for _, reason := range []string{"CARD_NOT_FOUND", "CARD_EXPIRED", "ACCOUNT_CLOSED", "ACCOUNT_NOT_ELIGIBLE", "OTP_LIMIT_REACHED", "MESSAGE_UNABLE_TO_BE_SENT"} {
		if strings.Contains(r.raw, reason) {
			t.Fatalf("the answer tells Google otpgate's reason %s: %s", reason, r.raw)
		}
	}
	reason := ""
	for _, line := range strings.Split(h.logs.String(), "\n") {
		var entry struct {
			Msg, Method, Result string
			RequestID           string `json:"requestId"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "request" && entry.Method == "authenticate" && entry.RequestID == requestID {
			if r, refused := strings.CutPrefix(entry.Result, "nativeOtpNotSupported:"); refused {
				reason = r
			}
		}
	}
	return reason
}

func TestAuthenticateThenVerify(t *testing.T) {
	h := newHarness(t)
	r := h.authenticate("auth-1", "4123456789101112", "01", "30", nil)
	expectOneOf(t, r, "nativeOtpResultCase", "nativeOtpSupport")
	expectOneOf(t, r, "redirectUrlResultCase", "redirectUrlNotRequested")
	if r.str("paymentIntegratorAuthenticationId") == "" || r.str("cvnResult") != "CVN_RESULT_NOT_DETERMINED" {
		t.Errorf("no paymentIntegratorAuthenticationId or cvnResult: %s", r.raw)
	}
	m, _ := h.sms.Last()
	if m.To != "+919876543210" || strings.Contains(m.Text, "\n") {
		t.Errorf("SMS %q to %s: want the account's phone, no token line", m.Text, m.To)
	}
	code := h.lastCode()

	v := h.cardVerify("v-1", "auth-1", wrongCode(code))
	expectOneOf(t, v, "result", "otpNotMatched")
	if v.str("eci") != "" {
		t.Error("eci on a failed verification")
	}
	v = h.cardVerify("v-2", "auth-1", code)
	expectOneOf(t, v, "result", "success")
	if v.str("eci") != "07" || v.str("paymentIntegratorVerifyOtpId") == "" {
		t.Errorf("success without the configured eci or our id: %s", v.raw)
	}
	expectOneOf(t, h.cardVerify("v-3", "auth-1", code), "result", "otpAlreadyUsed")
	// A retry of the success is the success again.
	expectOneOf(t, h.cardVerify("v-2", "auth-1", code), "result", "success")
	if ts := v.body["responseHeader"].(map[string]any)["responseTimestamp"].(map[string]any)["epochMillis"]; ts != fmt.Sprint(h.clock.Now().UnixMilli()) {
		t.Errorf("responseTimestamp %v", ts)
	}
}

func TestAuthenticateAnswers(t *testing.T) {
	tests := []struct {
		name, number, month, year string
		types                     map[string]any
		native, reason, redirect  string
	}{
		{"unknown card", "4000056655665556", "01", "30", nil, "nativeOtpNotSupported", "CARD_NOT_FOUND", "redirectUrlNotRequested"},
		{"expiry not the one on file", "4123456789101112", "02", "30", nil, "nativeOtpNotSupported", "CARD_NOT_FOUND", "redirectUrlNotRequested"},
		{"expired card", "4111111111111111", "10", "2025", nil, "nativeOtpNotSupported", "CARD_EXPIRED", "redirectUrlNotRequested"},
		{"closed account", "5555555555554444", "12", "30", nil, "nativeOtpNotSupported", "ACCOUNT_CLOSED", "redirectUrlNotRequested"},
		{"ineligible account", "4012888888881881", "12", "30", nil, "nativeOtpNotSupported", "ACCOUNT_NOT_ELIGIBLE", "redirectUrlNotRequested"},
		{"redirect only", "4123456789101112", "01", "30",
			map[string]any{"redirectUrl": map[string]any{"callbackUrl": "https://example.google.com/return/url/"}},
			"nativeOtpNotRequested", "", "redirectUrlNotSupported"},
		{"redirect and native OTP", "4123456789101112", "01", "30",
			map[string]any{"redirectUrl": map[string]any{"callbackUrl": "https://example.google.com/"}, "nativeOtp": map[string]any{}},
			"nativeOtpSupport", "", "redirectUrlNotSupported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.authenticate("auth-1", tc.number, tc.month, tc.year, tc.types)
			expectOneOf(t, r, "nativeOtpResultCase", tc.native)
			expectOneOf(t, r, "redirectUrlResultCase", tc.redirect)
			if got := h.refusalReason(t, "auth-1", r); got != tc.reason {
				t.Errorf("reason %q, want %q", got, tc.reason)
			}
			wantSMS := 0
			if tc.native == "nativeOtpSupport" {
				wantSMS = 1
			}
			if n := len(h.sms.Messages()); n != wantSMS {
				t.Errorf("%d SMS, want %d", n, wantSMS)
			}
			if tc.native != "nativeOtpSupport" {
				// Nothing was sent, so there is nothing to verify or resend.
				expect(t, h.cardVerify("v-1", "auth-1", "123456"), 404, "errorResponseCode", "INVALID_IDENTIFIER")
				expect(t, h.resend("r-1", "auth-1"), 404, "errorResponseCode", "INVALID_IDENTIFIER")
			}
		})
	}
	t.Run("SMS failure", func(t *testing.T) {
		h := newHarness(t)
		h.sms.Fail(errors.New("provider down"))
		r := h.authenticate("auth-1", "4123456789101112", "01", "30", nil)
		expectOneOf(t, r, "nativeOtpResultCase", "nativeOtpNotSupported")
		if got := h.refusalReason(t, "auth-1", r); got != "MESSAGE_UNABLE_TO_BE_SENT" {
			t.Errorf("reason %q", got)
		}
	})
}

func TestResend(t *testing.T) {
	h := newHarness(t)
	expectOneOf(t, h.authenticate("auth-1", "4123456789101112", "01", "30", nil), "nativeOtpResultCase", "nativeOtpSupport")
	old := h.lastCode()
	expectOneOf(t, h.resend("resend-1", "auth-1"), "result", "success")
	fresh := h.lastCode()
	if n := len(h.sms.Messages()); n != 2 {
		t.Fatalf("%d SMS, want 2", n)
	}
	// A retried resendOtp sends nothing and spends nothing.
	h.clock.Advance(time.Second)
	expectOneOf(t, h.resend("resend-1", "auth-1"), "result", "success")
	if n := len(h.sms.Messages()); n != 2 {
		t.Fatalf("a retried resendOtp sent an SMS: %d", n)
	}
	if old != fresh {
		expectOneOf(t, h.cardVerify("v-old", "auth-1", old), "result", "otpNotMatched")
	}
	expectOneOf(t, h.cardVerify("v-new", "auth-1", fresh), "result", "success")
	// The authentication is over.
	expectOneOf(t, h.resend("resend-2", "auth-1"), "result", "requestExpired")
}

func TestResendLimitAndExpiry(t *testing.T) {
	h := newHarness(t)
	h.authenticate("auth-1", "4123456789101112", "01", "30", nil)
	for i := range otp.DefaultCardPolicy().MaxResends {
		expectOneOf(t, h.resend(fmt.Sprintf("resend-%d", i), "auth-1"), "result", "success")
	}
	expectOneOf(t, h.resend("resend-x", "auth-1"), "result", "otpRequestLimitReached")
	if n := len(h.sms.Messages()); n != 1+otp.DefaultCardPolicy().MaxResends {
		t.Errorf("%d SMS", n)
	}

	h2 := newHarness(t)
	h2.authenticate("auth-1", "4123456789101112", "01", "30", nil)
	h2.clock.Advance(otp.DefaultCardPolicy().SessionLifetime - time.Millisecond)
	expectOneOf(t, h2.resend("resend-1", "auth-1"), "result", "success")
	h2.clock.Advance(time.Millisecond)
	expectOneOf(t, h2.resend("resend-2", "auth-1"), "result", "requestExpired")
}

func TestResendSMSFailureIsRetriedAfresh(t *testing.T) {
	h := newHarness(t)
	h.authenticate("auth-1", "4123456789101112", "01", "30", nil)
	h.sms.Fail(errors.New("provider down"))
	expectUnavailable(t, h.resend("resend-1", "auth-1"))
	h.sms.Fail(nil)
	expectOneOf(t, h.resend("resend-1", "auth-1"), "result", "success")
	expectOneOf(t, h.cardVerify("v-1", "auth-1", h.lastCode()), "result", "success")
	// The failed attempt did not spend one of the session's resends.
	h2 := newHarness(t)
	h2.authenticate("auth-1", "4123456789101112", "01", "30", nil)
	h2.sms.Fail(errors.New("provider down"))
	h2.resend("resend-f", "auth-1")
	h2.sms.Fail(nil)
	for i := range otp.DefaultCardPolicy().MaxResends {
		expectOneOf(t, h2.resend(fmt.Sprintf("resend-%d", i), "auth-1"), "result", "success")
	}
}

func TestCardIdentifiersAndScope(t *testing.T) {
	h := newHarness(t)
	r := h.cardVerify("v-1", "never-authenticated", "123456")
	expect(t, r, 404, "errorResponseCode", "INVALID_IDENTIFIER")
	if !strings.Contains(r.str("errorDescription"), "authenticateRequestId") {
		t.Errorf("description %q does not name the identifier", r.str("errorDescription"))
	}
	expect(t, h.resend("r-1", "never-authenticated"), 404, "errorResponseCode", "INVALID_IDENTIFIER")
	// A legacy sendOtp is no authentication session, even with the same id.
	h.sendOtp("shared-id", map[string]any{"associationId": "as-1"})
	expect(t, h.cardVerify("v-2", "shared-id", h.lastCode()), 404, "errorResponseCode", "INVALID_IDENTIFIER")

	// requestIds are scoped by PIAID: the same id under another PIAID is new.
	h.authenticate("auth-1", "4123456789101112", "01", "30", nil)
	hdr := h.cardHeader("auth-1")
	hdr["paymentIntegratorAccountId"] = otherPIAID
	v := h.post(cardPath+"verifyOtp", map[string]any{"requestHeader": hdr, "authenticateRequestId": "auth-1", "otp": h.lastCode()})
	expect(t, v, 404, "errorResponseCode", "INVALID_IDENTIFIER")
}

func TestCurrentDialectHeaderRules(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now().UnixMilli()
	echo := func(edit func(hdr map[string]any)) response {
		hdr := h.cardHeader("e-1")
		hdr["protocolVersion"] = map[string]any{"major": 2}
		edit(hdr)
		return h.post("/v2/echo", map[string]any{"requestHeader": hdr, "clientMessage": "ping"})
	}
	expect(t, echo(func(map[string]any) {}), 200, "clientMessage", "ping")
	expect(t, echo(func(hdr map[string]any) { hdr["requestTimestamp"] = map[string]any{"epochMillis": now} }), 200, "clientMessage", "ping")
	// Google's India Cards echo example sends major 1 on the v2 path.
	expect(t, echo(func(hdr map[string]any) { hdr["protocolVersion"] = map[string]any{"major": 1} }), 200, "clientMessage", "ping")
	r := echo(func(hdr map[string]any) { hdr["protocolVersion"] = map[string]any{"major": 3} })
	expect(t, r, 400, "errorResponseCode", "INVALID_API_VERSION")
	if got, _ := json.Marshal(r.body["errorResponseResult"]); string(got) != `{"invalidApiVersion":{"expectedVersion":{"major":2},"requestVersion":{"major":3}}}` {
		t.Errorf("errorResponseResult %s", got)
	}
	expect(t, echo(func(hdr map[string]any) { delete(hdr, "paymentIntegratorAccountId") }), 400, "errorResponseCode", "MISSING_REQUIRED_FIELD")
	r = echo(func(hdr map[string]any) { hdr["paymentIntegratorAccountId"] = "Stranger_USD" })
	expect(t, r, 404, "errorResponseCode", "INVALID_IDENTIFIER")
	if !strings.Contains(r.str("errorDescription"), "Stranger_USD") {
		t.Errorf("description %q does not name the PIAID", r.str("errorDescription"))
	}
	if _, ok := r.body["responseHeader"].(map[string]any)["responseTimestamp"].(map[string]any)["epochMillis"]; !ok {
		t.Errorf("a current-dialect ErrorResponse without responseTimestamp.epochMillis: %s", r.raw)
	}
	expect(t, echo(func(hdr map[string]any) { hdr["requestTimestamp"] = fmt.Sprint(now) }), 400, "errorResponseCode", "INVALID_DECRYPTED_REQUEST")
	expect(t, echo(func(hdr map[string]any) {
		hdr["requestTimestamp"] = map[string]any{"epochMillis": fmt.Sprint(now - 61_000)}
	}), 400, "errorResponseCode", "REQUEST_TIMESTAMP_OUT_OF_RANGE")

	card := func(path string, major int) response {
		hdr := h.cardHeader("c-1")
		hdr["protocolVersion"] = map[string]any{"major": major}
		return h.post(cardPath+path, map[string]any{"requestHeader": hdr, "authenticateRequestId": "a-1", "otp": "123456"})
	}
	for _, path := range []string{"verifyOtp", "resendOtp", "authenticate"} {
		expect(t, card(path, 2), 400, "errorResponseCode", "INVALID_API_VERSION")
	}
	bad := map[string]func(m map[string]any){
		"no card": func(m map[string]any) { delete(m["accountDetails"].(map[string]any), "card") },
		"short card number": func(m map[string]any) {
			card := m["accountDetails"].(map[string]any)["card"].(map[string]any)
			card["accountNumber"] = "41234"
		},
		"month 13": func(m map[string]any) {
			m["accountDetails"].(map[string]any)["card"].(map[string]any)["expiryMonth"] = "13"
		},
		"no amount":          func(m map[string]any) { delete(m, "amount") },
		"lowercase currency": func(m map[string]any) { m["amount"].(map[string]any)["currencyCode"] = "inr" },
		"no requested types": func(m map[string]any) { m["requestedAuthenticationTypes"] = map[string]any{} },
		"card number a number": func(m map[string]any) {
			m["accountDetails"].(map[string]any)["card"].(map[string]any)["accountNumber"] = 4123456789101112
		},
	}
	for name, edit := range bad {
		t.Run(name, func(t *testing.T) {
			m := map[string]any{
				"requestHeader":                h.cardHeader("auth-bad"),
				"accountDetails":               map[string]any{"card": map[string]any{"accountNumber": "4123456789101112", "expiryMonth": "01", "expiryYear": "30"}},
				"amount":                       map[string]any{"amountMicros": "728000000", "currencyCode": "INR"},
				"requestedAuthenticationTypes": map[string]any{"nativeOtp": map[string]any{}},
			}
			edit(m)
			r := h.post(cardPath+"authenticate", m)
			if r.status != 400 || strings.Contains(r.raw, "4123456789101112") {
				t.Errorf("got %d %s", r.status, r.raw)
			}
		})
	}
}

func TestSharedBudgetsAcrossDialects(t *testing.T) {
	h := newHarness(t)
	for i := range 5 {
		expect(t, h.sendOtp(fmt.Sprintf("s-%d", i), map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	}
	r := h.authenticate("auth-1", "4123456789101112", "01", "30", nil)
	expectOneOf(t, r, "nativeOtpResultCase", "nativeOtpNotSupported")
	if got := h.refusalReason(t, "auth-1", r); got != "OTP_LIMIT_REACHED" {
		t.Errorf("reason %q", got)
	}
	// And the other way round: India Cards sends spend the legacy budget.
	h2 := newHarness(t)
	h2.authenticate("auth-1", "4123456789101112", "01", "30", nil)
	for i := range 3 {
		expectOneOf(t, h2.resend(fmt.Sprintf("r-%d", i), "auth-1"), "result", "success")
	}
	h2.sendOtp("s-0", map[string]any{"associationId": "as-1"})
	expect(t, h2.sendOtp("s-1", map[string]any{"associationId": "as-1"}), 200, "result", "OTP_LIMIT_REACHED")
}

func TestSeedResendOtp(t *testing.T) {
	h := newHarness(t)
	// The resend seed names authenticateRequestId G112YZH4XPDV88J, the
	// requestId of Google's authenticate example: authenticate under it first.
	expectOneOf(t, h.authenticate("G112YZH4XPDV88J", "4123456789101112", "01", "30", nil), "nativeOtpResultCase", "nativeOtpSupport")
	b, err := os.ReadFile(filepath.Join("testdata", "seeds", "resendOtp.en.txt"))
	if err != nil {
		t.Fatal(err)
	}
	objs := jsonObjects(b)
	var req map[string]any
	if err := json.Unmarshal(objs[0], &req); err != nil {
		t.Fatal(err)
	}
	req["requestHeader"].(map[string]any)["requestTimestamp"] = map[string]any{"epochMillis": fmt.Sprint(h.clock.Now().UnixMilli())}
	expectOneOf(t, h.post(cardPath+"resendOtp", req), "result", "success")
	var example map[string]any
	if err := json.Unmarshal(objs[1], &example); err != nil {
		t.Fatal(err)
	}
	if oneOf(t, response{status: 200, body: example}, "result") != "success" {
		t.Error("the seed's example response does not parse as ours")
	}
}

// TestCardNumbersNeverLeak scans logs, response bodies, metrics and the
// database for card numbers and CVNs after every India Cards path.
func TestCardNumbersNeverLeak(t *testing.T) {
	h := newHarness(t)
	numbers := []string{"4123456789101112", "4000056655665556", "4111111111111111", "5555555555554444"}
	for i, n := range numbers {
		h.authenticate(fmt.Sprintf("auth-%d", i), n, "01", "30", nil)
		h.authenticate(fmt.Sprintf("auth-%d", i), n, "02", "30", nil) // 412
	}
	h.authenticate("auth-bad", "4123456789101112", "13", "30", nil) // 400
	h.resend("r-1", "auth-0")
	h.cardVerify("v-1", "auth-0", h.lastCode())
	metrics, err := http.Get(h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer metrics.Body.Close()
	metricsText, err := io.ReadAll(metrics.Body)
	if err != nil {
		t.Fatal(err)
	}
	h.store.Close()
	sources := map[string]string{"logs": h.logs.String(), "responses": strings.Join(h.responses, "\n"), "metrics": string(metricsText)}
	for _, suffix := range []string{"", "-wal"} {
		if b, err := os.ReadFile(h.dbPath + suffix); err == nil {
			sources["database"+suffix] = string(b)
		}
	}
	for name, text := range sources {
		for _, n := range numbers {
			if strings.Contains(text, n) || strings.Contains(text, n[:12]) {
				t.Errorf("a card number appears in the %s", name)
			}
		}
		if strings.Contains(text, `"123"`) || strings.Contains(text, `"cvn"`) {
			t.Errorf("the CVN appears in the %s", name)
		}
	}
	if !strings.Contains(sources["logs"], "authenticate") || len(smstest.ExtractCode(h.sms.Messages()[0].Text, 6)) != 6 {
		t.Fatal("the flows did not run: the scan proves nothing")
	}
}

// TestFailedResendKeepsTheDeliveredCode: a resendOtp whose SMS fails takes
// nothing away: the code already delivered still verifies, and the budget
// is as it was.
func TestFailedResendKeepsTheDeliveredCode(t *testing.T) {
	h := newHarness(t)
	expectOneOf(t, h.authenticate("auth-1", "4123456789101112", "01", "30", nil), "nativeOtpResultCase", "nativeOtpSupport")
	delivered := h.lastCode()
	events := h.count("SELECT COUNT(*) FROM events")
	h.sms.Fail(errors.New("provider down"))
	expectUnavailable(t, h.resend("resend-1", "auth-1"))
	h.sms.Fail(nil)
	if n := h.count("SELECT COUNT(*) FROM events"); n != events {
		t.Errorf("a failed resend left %d budget events, want %d", n, events)
	}
	expectOneOf(t, h.cardVerify("v-1", "auth-1", delivered), "result", "success")
}

// An authenticate retried under its requestId with another CVN or
// cryptogram is another payload (412), though neither is stored in clear.
func TestAuthenticateRetryWithOtherSecretsIsAViolation(t *testing.T) {
	h := newHarness(t)
	body := func(id string, token bool, cvn, cryptogram string) map[string]any {
		details := map[string]any{"card": map[string]any{"accountNumber": "4123456789101112", "expiryMonth": "01", "expiryYear": "30", "cvn": cvn}}
		if token {
			details = map[string]any{"paymentToken": map[string]any{"paymentTokenAccountNumber": "4123456789101112", "cryptogram": cryptogram}}
		}
		return map[string]any{"requestHeader": h.cardHeader(id), "accountDetails": details,
			"amount":                       map[string]any{"amountMicros": "1", "currencyCode": "INR"},
			"requestedAuthenticationTypes": map[string]any{"nativeOtp": map[string]any{}}}
	}
	expect(t, h.post(cardPath+"authenticate", body("a-1", false, "123", "")), 200, "cvnResult", "CVN_RESULT_NOT_DETERMINED")
	expect(t, h.post(cardPath+"authenticate", body("a-1", false, "123", "")), 200, "cvnResult", "CVN_RESULT_NOT_DETERMINED")
	expect(t, h.post(cardPath+"authenticate", body("a-1", false, "124", "")), 412, "errorResponseCode", "IDEMPOTENCY_VIOLATION")
	expect(t, h.post(cardPath+"authenticate", body("a-2", true, "", "12345")), 200, "cvnResult", "CVN_RESULT_NOT_DETERMINED")
	expect(t, h.post(cardPath+"authenticate", body("a-2", true, "", "54321")), 412, "errorResponseCode", "IDEMPOTENCY_VIOLATION")
}
