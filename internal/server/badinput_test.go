package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBadInput(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now()
	window := time.Minute
	valid := func() map[string]any {
		return map[string]any{"requestHeader": h.header("bad-1"), "smsMatchingToken": token, "associationId": "as-1"}
	}
	with := func(edit func(m map[string]any)) []byte {
		m := valid()
		edit(m)
		b, _ := json.Marshal(m)
		return b
	}
	header := func(m map[string]any) map[string]any { return m["requestHeader"].(map[string]any) }
	ts := func(d time.Duration) string { return fmt.Sprint(now.Add(d).UnixMilli()) }

	tests := []struct {
		name   string
		path   string
		body   []byte
		status int
		code   string
	}{
		{"malformed JSON", "/v1/sendOtp", []byte(`{"requestHeader": {`), 400, "INVALID_DECRYPTED_REQUEST"},
		{"not an object", "/v1/sendOtp", []byte(`[1,2]`), 400, "INVALID_DECRYPTED_REQUEST"},
		{"empty body", "/v1/sendOtp", nil, 400, "INVALID_DECRYPTED_REQUEST"},
		{"two JSON values", "/v1/sendOtp", append(with(func(map[string]any) {}), []byte(`{}`)...), 400, "INVALID_DECRYPTED_REQUEST"},
		{"requestId a number", "/v1/sendOtp", with(func(m map[string]any) { header(m)["requestId"] = 12 }), 400, "INVALID_DECRYPTED_REQUEST"},
		{"major a string", "/v1/sendOtp", with(func(m map[string]any) { header(m)["protocolVersion"] = map[string]any{"major": "1"} }), 400, "INVALID_DECRYPTED_REQUEST"},
		{"token an object", "/v1/sendOtp", with(func(m map[string]any) { m["smsMatchingToken"] = map[string]any{} }), 400, "INVALID_DECRYPTED_REQUEST"},
		{"timestamp a fraction", "/v1/sendOtp", with(func(m map[string]any) { header(m)["requestTimestamp"] = 1.5 }), 400, "INVALID_DECRYPTED_REQUEST"},
		{"timestamp not digits", "/v1/sendOtp", with(func(m map[string]any) { header(m)["requestTimestamp"] = "yesterday" }), 400, "INVALID_DECRYPTED_REQUEST"},
		{"no header", "/v1/sendOtp", with(func(m map[string]any) { delete(m, "requestHeader") }), 400, "MISSING_REQUIRED_FIELD"},
		{"no protocolVersion", "/v1/sendOtp", with(func(m map[string]any) { delete(header(m), "protocolVersion") }), 400, "MISSING_REQUIRED_FIELD"},
		{"major 2", "/v1/sendOtp", with(func(m map[string]any) { header(m)["protocolVersion"] = map[string]any{"major": 2} }), 400, "INVALID_API_VERSION"},
		{"major 0", "/v1/verifyOtp", with(func(m map[string]any) { header(m)["protocolVersion"] = map[string]any{"major": 0} }), 400, "INVALID_API_VERSION"},
		{"major 2 on echo", "/v1/echo", with(func(m map[string]any) {
			header(m)["protocolVersion"] = map[string]any{"major": 2}
			m["clientMessage"] = "hi"
		}), 400, "INVALID_API_VERSION"},
		{"wrong major is checked before a bad requestId", "/v1/sendOtp", with(func(m map[string]any) {
			header(m)["protocolVersion"] = map[string]any{"major": 3}
			header(m)["requestId"] = "bad id"
		}), 400, "INVALID_API_VERSION"},
		{"no requestId", "/v1/sendOtp", with(func(m map[string]any) { delete(header(m), "requestId") }), 400, "MISSING_REQUIRED_FIELD"},
		{"empty requestId", "/v1/sendOtp", with(func(m map[string]any) { header(m)["requestId"] = "" }), 400, "MISSING_REQUIRED_FIELD"},
		{"requestId of 101 chars", "/v1/sendOtp", with(func(m map[string]any) { header(m)["requestId"] = strings.Repeat("a", 101) }), 400, "INVALID_FIELD_VALUE"},
		{"requestId with a space", "/v1/sendOtp", with(func(m map[string]any) { header(m)["requestId"] = "abc def" }), 400, "INVALID_FIELD_VALUE"},
		{"requestId with a slash", "/v1/sendOtp", with(func(m map[string]any) { header(m)["requestId"] = "abc/def" }), 400, "INVALID_FIELD_VALUE"},
		{"requestId with unicode", "/v1/sendOtp", with(func(m map[string]any) { header(m)["requestId"] = "abcé" }), 400, "INVALID_FIELD_VALUE"},
		{"a bad requestId is checked before the timestamp", "/v1/sendOtp", with(func(m map[string]any) {
			header(m)["requestId"] = "abc def"
			header(m)["requestTimestamp"] = ts(-time.Hour)
		}), 400, "INVALID_FIELD_VALUE"},
		{"no timestamp", "/v1/sendOtp", with(func(m map[string]any) { delete(header(m), "requestTimestamp") }), 400, "MISSING_REQUIRED_FIELD"},
		{"timestamp 1ms too old", "/v1/sendOtp", with(func(m map[string]any) { header(m)["requestTimestamp"] = ts(-window - time.Millisecond) }), 400, "REQUEST_TIMESTAMP_OUT_OF_RANGE"},
		{"timestamp 1ms too new", "/v1/sendOtp", with(func(m map[string]any) { header(m)["requestTimestamp"] = ts(window + time.Millisecond) }), 400, "REQUEST_TIMESTAMP_OUT_OF_RANGE"},
		{"timestamp out of range is checked before fields", "/v1/sendOtp", with(func(m map[string]any) {
			header(m)["requestTimestamp"] = ts(-time.Hour)
			delete(m, "smsMatchingToken")
		}), 400, "REQUEST_TIMESTAMP_OUT_OF_RANGE"},
		{"no smsMatchingToken", "/v1/sendOtp", with(func(m map[string]any) { delete(m, "smsMatchingToken") }), 400, "MISSING_REQUIRED_FIELD"},
		{"empty smsMatchingToken", "/v1/sendOtp", with(func(m map[string]any) { m["smsMatchingToken"] = "" }), 400, "MISSING_REQUIRED_FIELD"},
		{"short smsMatchingToken", "/v1/sendOtp", with(func(m map[string]any) { m["smsMatchingToken"] = "AB1234" }), 400, "INVALID_FIELD_VALUE"},
		{"smsMatchingToken with a newline", "/v1/sendOtp", with(func(m map[string]any) { m["smsMatchingToken"] = "AB1234\n678C" }), 400, "INVALID_FIELD_VALUE"},
		{"no account", "/v1/sendOtp", with(func(m map[string]any) { delete(m, "associationId") }), 400, "MISSING_REQUIRED_FIELD"},
		{"empty account", "/v1/sendOtp", with(func(m map[string]any) { m["associationId"] = ""; m["accountPhoneNumber"] = "" }), 400, "MISSING_REQUIRED_FIELD"},
		{"two otpContexts", "/v1/sendOtp", with(func(m map[string]any) {
			m["otpContext"] = map[string]any{"association": map[string]any{}, "mandateCreation": map[string]any{}}
		}), 400, "INVALID_FIELD_VALUE"},
		{"associationId with a control character", "/v1/sendOtp", with(func(m map[string]any) { m["associationId"] = "as\x01" }), 400, "INVALID_FIELD_VALUE"},
		{"verify without otp", "/v1/verifyOtp", with(func(m map[string]any) { m["sendOtpRequestId"] = "s1" }), 400, "MISSING_REQUIRED_FIELD"},
		{"verify with empty otp", "/v1/verifyOtp", with(func(m map[string]any) { m["sendOtpRequestId"] = "s1"; m["otp"] = "" }), 400, "MISSING_REQUIRED_FIELD"},
		{"verify with otp a number", "/v1/verifyOtp", with(func(m map[string]any) { m["sendOtpRequestId"] = "s1"; m["otp"] = 123456 }), 400, "INVALID_DECRYPTED_REQUEST"},
		{"verify with an over-long otp", "/v1/verifyOtp", with(func(m map[string]any) { m["sendOtpRequestId"] = "s1"; m["otp"] = strings.Repeat("1", 300) }), 400, "INVALID_FIELD_VALUE"},
		{"verify without sendOtpRequestId", "/v1/verifyOtp", with(func(m map[string]any) { m["otp"] = "123456" }), 400, "MISSING_REQUIRED_FIELD"},
		{"verify with a bad sendOtpRequestId", "/v1/verifyOtp", with(func(m map[string]any) { m["otp"] = "123456"; m["sendOtpRequestId"] = "a b" }), 400, "INVALID_FIELD_VALUE"},
		{"echo without clientMessage", "/v1/echo", with(func(m map[string]any) {}), 400, "MISSING_REQUIRED_FIELD"},
		{"body over the limit", "/v1/sendOtp", with(func(m map[string]any) { m["padding"] = strings.Repeat("x", 64<<10) }), 400, "INVALID_DECRYPTED_REQUEST"},
	}
	before := h.rowCounts()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.postRaw(tc.path, tc.body)
			expect(t, r, tc.status, "errorResponseCode", tc.code)
			if r.str("errorDescription") == "" || r.str("paymentIntegratorErrorIdentifier") == "" {
				t.Errorf("ErrorResponse lacks a description or our identifier: %s", r.raw)
			}
			if _, ok := r.body["responseHeader"].(map[string]any)["responseTimestamp"]; !ok {
				t.Errorf("ErrorResponse lacks responseHeader.responseTimestamp: %s", r.raw)
			}
		})
	}
	if diff := cmp.Diff(before, h.rowCounts()); diff != "" {
		t.Errorf("bad input changed the store:\n%s", diff)
	}
	if n := len(h.sms.Messages()); n != 0 {
		t.Errorf("bad input sent %d SMS", n)
	}
}

func TestTimestampsJustInsideTheWindow(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now()
	for i, d := range []time.Duration{-time.Minute, time.Minute, 0} {
		for _, stamp := range []any{fmt.Sprint(now.Add(d).UnixMilli()), now.Add(d).UnixMilli()} { // string and number
			hdr := h.header(fmt.Sprintf("echo-%d-%T", i, stamp))
			hdr["requestTimestamp"] = stamp
			r := h.post("/v1/echo", map[string]any{"requestHeader": hdr, "clientMessage": "ping"})
			expect(t, r, 200, "clientMessage", "ping")
		}
	}
}

func TestUnknownFieldsAreIgnored(t *testing.T) {
	h := newHarness(t)
	hdr := h.header("s1")
	hdr["someFutureField"] = map[string]any{"x": 1}
	hdr["userLocale"] = "en_IN"
	r := h.post("/v1/sendOtp", map[string]any{"requestHeader": hdr, "smsMatchingToken": token, "associationId": "as-1", "newThing": true})
	expect(t, r, 200, "result", "SUCCESS")
}

func TestEcho(t *testing.T) {
	h := newHarness(t)
	r := h.post("/v1/echo", map[string]any{"requestHeader": h.header("e1"), "clientMessage": "hello, integrator"})
	expect(t, r, 200, "clientMessage", "hello, integrator")
	if r.str("serverMessage") == "" {
		t.Error("no serverMessage")
	}
	if got := r.body["responseHeader"].(map[string]any)["responseTimestamp"]; got != fmt.Sprint(h.clock.Now().UnixMilli()) {
		t.Errorf("responseTimestamp %v", got)
	}
}

func TestRoutes(t *testing.T) {
	h := newHarness(t)
	get := func(path string) (int, string) {
		return getURL(t, h.url+path)
	}
	admin := func(path string) (int, string) {
		return getURL(t, h.admin+path)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if s, _ := admin(path); s != 200 {
			t.Errorf("%s on the admin port: %d", path, s)
		}
	}
	// What operators read stays off the port Google calls.
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/goroutine", "/debug/pprof/cmdline"} {
		if s, _ := get(path); s != http.StatusNotFound {
			t.Errorf("GET %s on Google's port: %d, want 404", path, s)
		}
	}
	if s, body := admin("/debug/pprof/"); s != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ on the admin port: %d %.100q", s, body)
	}
	if s, body := admin("/debug/pprof/goroutine?debug=1"); s != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("/debug/pprof/goroutine on the admin port: %d %.100q", s, body)
	}
	if s, _ := get("/healthz"); s != 200 {
		t.Errorf("/healthz %d", s)
	}
	if s, _ := get("/readyz"); s != 200 {
		t.Errorf("/readyz %d", s)
	}
	if s, _ := get("/v1/sendOtp"); s != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/sendOtp %d, want 405", s)
	}
	if s, _ := get("/v1/nothing"); s != http.StatusNotFound {
		t.Errorf("unknown path %d, want 404", s)
	}
	if r := h.postRaw("/v2/sendOtp", []byte(`{}`)); r.status != http.StatusNotFound {
		t.Errorf("POST /v2/sendOtp %d, want 404", r.status)
	}

	h.sendOtp("s1", map[string]any{"associationId": "as-1"})
	h.verifyOtp("v1", "s1", "x")
	h.postRaw("/v1/sendOtp", []byte("{"))
	_, metrics := admin("/metrics")
	for _, want := range []string{
		`otpgate_requests_total{method="sendOtp",result="SUCCESS",status="200"} 1`,
		`otpgate_requests_total{method="verifyOtp",result="OTP_NOT_MATCHED",status="200"} 1`,
		`otpgate_requests_total{method="sendOtp",result="INVALID_DECRYPTED_REQUEST",status="400"} 1`,
		`otpgate_sms_sends_total{outcome="accepted",provider="recorder"} 1`,
		`otpgate_request_duration_seconds_bucket{method="sendOtp"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	h.store.Close()
	for _, url := range []string{h.url, h.admin} {
		if s, _ := getURL(t, url+"/readyz"); s != http.StatusServiceUnavailable {
			t.Errorf("%s/readyz with the database closed: %d, want 503", url, s)
		}
	}
	expectUnavailable(t, h.sendOtp("s2", map[string]any{"associationId": "as-1"}))
}

// getURL GETs url and returns the status and the body.
func getURL(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestBasePath(t *testing.T) {
	h := newHarness(t, withBasePath("/integrator/otp"))
	echo := map[string]any{"requestHeader": h.header("e1"), "clientMessage": "ping"}
	expect(t, h.post("/integrator/otp/v1/echo", echo), 200, "clientMessage", "ping")
	if r := h.post("/v1/echo", echo); r.status != http.StatusNotFound {
		t.Errorf("the route answered without its base path: %d", r.status)
	}
	resp, err := http.Get(h.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Error("/healthz moved under the base path")
	}
}

// TestBadInputThatParsersDisagreeOn: bodies that a lenient JSON parser
// would read one way and another parser another (SPEC §1), and authenticate
// bodies that break accountDetails' one-of, each get a specific 400 in the
// dialect's own ErrorResponse, store nothing and text nothing.
func TestBadInputThatParsersDisagreeOn(t *testing.T) {
	h := newHarness(t)
	// before puts raw members at the start of a JSON object body, so that a
	// duplicate comes first and a last-wins parser would read the later one.
	before := func(members string, body []byte) []byte {
		return append([]byte("{"+members+","), body[1:]...)
	}
	legacy, _ := json.Marshal(map[string]any{"requestHeader": h.header("dup-1"), "smsMatchingToken": token, "accountPhoneNumber": "+919876543210"})
	card := func(edit func(m map[string]any)) []byte {
		m := map[string]any{
			"requestHeader":                h.cardHeader("auth-bad"),
			"accountDetails":               map[string]any{"card": map[string]any{"accountNumber": "4123456789101112", "expiryMonth": "01", "expiryYear": "30"}},
			"amount":                       map[string]any{"amountMicros": "728000000", "currencyCode": "INR"},
			"requestedAuthenticationTypes": map[string]any{"nativeOtp": map[string]any{}},
		}
		edit(m)
		b, _ := json.Marshal(m)
		return b
	}
	details := func(m map[string]any) map[string]any { return m["accountDetails"].(map[string]any) }
	token := map[string]any{"paymentTokenAccountNumber": "4123456789101112", "cryptogram": "12345"}
	tests := []struct {
		name, path string
		body       []byte
		code, says string // says: a word the description must hold
	}{
		{"phone twice", "/v1/sendOtp", before(`"accountPhoneNumber":"+919812345678"`, legacy), "INVALID_DECRYPTED_REQUEST", "twice"},
		{"phone in capitals", "/v1/sendOtp", bytes.Replace(legacy, []byte(`"accountPhoneNumber"`), []byte(`"ACCOUNTPHONENUMBER"`), 1), "INVALID_DECRYPTED_REQUEST", "ACCOUNTPHONENUMBER"},
		{"requestId capitalised", "/e-wallets-v1/sendOtp", bytes.Replace(legacy, []byte(`"requestId"`), []byte(`"RequestId"`), 1), "INVALID_DECRYPTED_REQUEST", "RequestId"},
		{"card number twice", cardPath + "authenticate", bytes.Replace(card(func(map[string]any) {}), []byte(`"accountNumber":`), []byte(`"accountNumber":"4111111111111111","accountNumber":`), 1), "INVALID_DECRYPTED_REQUEST", "twice"},
		{"card and token", cardPath + "authenticate", card(func(m map[string]any) { details(m)["paymentToken"] = token }), "INVALID_DECRYPTED_REQUEST", "not both"},
		{"neither card nor token", cardPath + "authenticate", card(func(m map[string]any) { m["accountDetails"] = map[string]any{} }), "MISSING_REQUIRED_FIELD", "paymentToken"},
		{"token number not digits", cardPath + "authenticate", card(func(m map[string]any) {
			m["accountDetails"] = map[string]any{"paymentToken": map[string]any{"paymentTokenAccountNumber": "4123-4567-8910-1112"}}
		}), "INVALID_FIELD_VALUE", "paymentTokenAccountNumber"},
		{"token spelt in capitals", cardPath + "authenticate", card(func(m map[string]any) {
			m["accountDetails"] = map[string]any{"PaymentToken": token}
		}), "INVALID_DECRYPTED_REQUEST", "PaymentToken"},
	}
	rows := h.rowCounts()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.postRaw(tc.path, tc.body)
			expect(t, r, 400, "errorResponseCode", tc.code)
			if !strings.Contains(r.str("errorDescription"), tc.says) {
				t.Errorf("description %q does not say %q", r.str("errorDescription"), tc.says)
			}
			for _, secret := range []string{"4123456789101112", "4111111111111111", "12345"} {
				if strings.Contains(r.raw, secret) {
					t.Errorf("the answer echoes %s: %s", secret, r.raw)
				}
			}
		})
	}
	if r := h.postRaw(cardPath+"authenticate", card(func(m map[string]any) {
		m["accountDetails"] = map[string]any{"paymentToken": map[string]any{"paymentTokenAccountNumber": "12a"}}
	})); r.body["errorResponseResult"] == nil || canonical(t, r.body["errorResponseResult"]) !=
		`{"invalidFieldValue":{"invalidFieldName":"accountDetails.paymentToken.paymentTokenAccountNumber"}}` {
		t.Errorf("invalidFieldValue does not name the field: %s", r.raw)
	}
	if diff := cmp.Diff(rows, h.rowCounts()); diff != "" {
		t.Errorf("bad input changed the store:\n%s", diff)
	}
	if n := len(h.sms.Messages()); n != 0 {
		t.Errorf("bad input sent %d SMS", n)
	}
}
