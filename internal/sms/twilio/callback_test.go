package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Twilio's worked example of request validation
// (https://www.twilio.com/docs/usage/security#validating-requests): a
// <Gather> posting digits to https://mycompany.com/myapp.php?foo=1&bar=2,
// signed with the Auth Token 12345. The expected signature was also
// computed independently of this package (HMAC-SHA1 over the concatenated
// string below, Base64) before the test was written.
const (
	exampleToken     = "12345"
	exampleURL       = "https://mycompany.com/myapp.php?foo=1&bar=2"
	exampleSignature = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
)

var exampleParams = url.Values{
	"CallSid": {"CA1234567890ABCDE"},
	"Caller":  {"+12349013030"},
	"Digits":  {"1234"},
	"From":    {"+12349013030"},
	"To":      {"+18005551212"},
}

func TestSignatureTwilioExample(t *testing.T) {
	if got := Signature(exampleToken, exampleURL, exampleParams); got != exampleSignature {
		t.Fatalf("Signature = %q, want Twilio's %q", got, exampleSignature)
	}
	if !ValidSignature(exampleToken, exampleURL, exampleParams, exampleSignature) {
		t.Error("ValidSignature refuses Twilio's example")
	}

	tampered := url.Values{}
	for k, v := range exampleParams {
		tampered[k] = v
	}
	tampered.Set("Digits", "9999")
	for _, tt := range []struct {
		name, token, url string
		params           url.Values
		sig              string
	}{
		{"another value", exampleToken, exampleURL, tampered, exampleSignature},
		{"another query", exampleToken, "https://mycompany.com/myapp.php?foo=1&bar=3", exampleParams, exampleSignature},
		{"no query", exampleToken, "https://mycompany.com/myapp.php", exampleParams, exampleSignature},
		{"http", exampleToken, "http://mycompany.com/myapp.php?foo=1&bar=2", exampleParams, exampleSignature},
		{"another token", "54321", exampleURL, exampleParams, exampleSignature},
		{"one byte short", exampleToken, exampleURL, exampleParams, exampleSignature[:len(exampleSignature)-1]},
		{"empty", exampleToken, exampleURL, exampleParams, ""},
	} {
		if ValidSignature(tt.token, tt.url, tt.params, tt.sig) {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

// handSign signs data as Twilio documents it, written out here rather than
// through Signature.
func handSign(token, data string) string {
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(data))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// A status callback as Twilio posts it for an undelivered message.
var undelivered = url.Values{
	"AccountSid":    {testSID},
	"ApiVersion":    {"2010-04-01"},
	"ErrorCode":     {"30003"},
	"From":          {testFrom},
	"MessageSid":    {"SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	"MessageStatus": {"undelivered"},
	"SmsSid":        {"SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	"SmsStatus":     {"undelivered"},
	"To":            {testPhone},
}

// undeliveredSignature is the signature of undelivered posted to testHook
// (https://otp.example.com/twilio/status?route=default), worked out by
// hand: the URL, then each parameter's name and value in name order.
var undeliveredSignature = handSign(testToken, "https://otp.example.com/twilio/status?route=default"+
	"AccountSid"+testSID+
	"ApiVersion2010-04-01"+
	"ErrorCode30003"+
	"From"+testFrom+
	"MessageSidSMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"+
	"MessageStatusundelivered"+
	"SmsSidSMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"+
	"SmsStatusundelivered"+
	"To"+testPhone)

func TestSignatureByHand(t *testing.T) {
	if got := Signature(testToken, testHook, undelivered); got != undeliveredSignature {
		t.Errorf("Signature = %q, want %q", got, undeliveredSignature)
	}
	// Repeated parameters: each value after its name, values sorted.
	params := url.Values{"b": {"2", "1"}, "a": {"x"}}
	if got, want := Signature("k", "https://h/p", params), handSign("k", "https://h/paxb1b2"); got != want {
		t.Errorf("repeated parameter: %q, want %q", got, want)
	}
}

func TestCallbackHandler(t *testing.T) {
	post := func(target string, params url.Values, signature string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(params.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		if signature != "" {
			r.Header.Set(SignatureHeader, signature)
		}
		return r
	}
	with := func(change func(url.Values)) url.Values {
		p := url.Values{}
		for k, v := range undelivered {
			p[k] = append([]string(nil), v...)
		}
		change(p)
		return p
	}
	resign := func(p url.Values) string { return Signature(testToken, testHook, p) }
	wantStatus := Status{
		MessageSID: "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", AccountSID: testSID,
		Status: "undelivered", ErrorCode: 30003, To: testPhone,
	}
	noError := with(func(p url.Values) { p.Del("ErrorCode"); p.Set("MessageStatus", "delivered") })

	tests := []struct {
		name string
		req  func() *http.Request
		code int
		want *Status // onStatus's argument; nil: not called
	}{
		{"signed by Twilio", func() *http.Request {
			// Behind a proxy: another path, the query as Twilio sent it.
			return post("/internal/hooks?route=default", undelivered, undeliveredSignature)
		}, http.StatusNoContent, &wantStatus},
		{"the query dropped by a proxy: publicURL's is signed", func() *http.Request {
			return post("/internal/hooks", undelivered, undeliveredSignature)
		}, http.StatusNoContent, &wantStatus},
		{"without an error code", func() *http.Request {
			return post("/s?route=default", noError, resign(noError))
		}, http.StatusNoContent, &Status{MessageSID: wantStatus.MessageSID, AccountSID: testSID, Status: "delivered", To: testPhone}},
		{"no signature", func() *http.Request {
			return post("/s?route=default", undelivered, "")
		}, http.StatusForbidden, nil},
		{"a wrong signature", func() *http.Request {
			return post("/s?route=default", undelivered, exampleSignature)
		}, http.StatusForbidden, nil},
		{"signed with another token", func() *http.Request {
			return post("/s?route=default", undelivered, Signature("another-token", testHook, undelivered))
		}, http.StatusForbidden, nil},
		{"a status changed after signing", func() *http.Request {
			return post("/s?route=default", with(func(p url.Values) { p.Set("MessageStatus", "delivered") }), undeliveredSignature)
		}, http.StatusForbidden, nil},
		{"a parameter added after signing", func() *http.Request {
			return post("/s?route=default", with(func(p url.Values) { p.Set("Extra", "1") }), undeliveredSignature)
		}, http.StatusForbidden, nil},
		{"another query", func() *http.Request {
			return post("/s?route=other", undelivered, undeliveredSignature)
		}, http.StatusForbidden, nil},
		{"GET", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/s?"+undelivered.Encode(), nil)
			r.Header.Set(SignatureHeader, undeliveredSignature)
			return r
		}, http.StatusMethodNotAllowed, nil},
		{"JSON", func() *http.Request {
			r := post("/s?route=default", undelivered, undeliveredSignature)
			r.Header.Set("Content-Type", "application/json")
			return r
		}, http.StatusUnsupportedMediaType, nil},
		{"a body over 64 KiB", func() *http.Request {
			big := with(func(p url.Values) { p.Set("Body", strings.Repeat("x", 70<<10)) })
			return post("/s?route=default", big, resign(big))
		}, http.StatusRequestEntityTooLarge, nil},
		{"a body that is not a form", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/s?route=default", strings.NewReader("a=%zz"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set(SignatureHeader, undeliveredSignature)
			return r
		}, http.StatusForbidden, nil},
		{"signed, without MessageSid", func() *http.Request {
			p := with(func(p url.Values) { p.Del("MessageSid") })
			return post("/s?route=default", p, resign(p))
		}, http.StatusBadRequest, nil},
		{"signed, ErrorCode not a number", func() *http.Request {
			p := with(func(p url.Values) { p.Set("ErrorCode", "30003x") })
			return post("/s?route=default", p, resign(p))
		}, http.StatusBadRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Status
			h := CallbackHandler(testToken, testHook, func(s Status) { got = append(got, s) })
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.req())
			if w.Code != tt.code {
				t.Errorf("status %d, want %d (%s)", w.Code, tt.code, strings.TrimSpace(w.Body.String()))
			}
			var want []Status
			if tt.want != nil {
				want = []Status{*tt.want}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("onStatus (-want +got):\n%s", diff)
			}
			if tt.code == http.StatusNoContent && w.Body.Len() != 0 {
				t.Errorf("204 with a body: %q", w.Body.String())
			}
		})
	}
}

// The handler verifies Twilio's own example: it is a <Gather> callback,
// not a message status, so once verified it is refused as incomplete
// (400), not as forged (403).
func TestCallbackHandlerTwilioExample(t *testing.T) {
	called := false
	h := CallbackHandler(exampleToken, "https://mycompany.com/myapp.php", func(Status) { called = true })
	for _, tt := range []struct {
		query string
		code  int
	}{
		{"foo=1&bar=2", http.StatusBadRequest},
		{"foo=1&bar=3", http.StatusForbidden},
	} {
		r := httptest.NewRequest(http.MethodPost, "/myapp.php?"+tt.query, strings.NewReader(
			// In another order than the signature's: the handler sorts.
			"To=%2B18005551212&CallSid=CA1234567890ABCDE&Digits=1234&From=%2B12349013030&Caller=%2B12349013030"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set(SignatureHeader, exampleSignature)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.code {
			t.Errorf("?%s: status %d, want %d", tt.query, w.Code, tt.code)
		}
	}
	if called {
		t.Error("onStatus called for a callback without MessageSid")
	}
}

func TestCallbackHandlerRefusesBadSetup(t *testing.T) {
	for _, tt := range []struct {
		name, token, url string
		on               func(Status)
	}{
		{"empty token", "", testHook, func(Status) {}},
		{"relative URL", testToken, "/status", func(Status) {}},
		{"nil onStatus", testToken, testHook, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			CallbackHandler(tt.token, tt.url, tt.on)
		})
	}
}

// A Status prints and logs the last 4 digits of the number, no more.
func TestStatusHidesNumber(t *testing.T) {
	s := Status{MessageSID: "SM1", Status: "failed", ErrorCode: 30007, To: testPhone}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("status", "st", s)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("status", "st", s)
	for _, out := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%v", &s), logged.String()} {
		if strings.Contains(out, testPhone) || strings.Contains(out, "98765") {
			t.Errorf("%q shows the number", out)
		}
		if !strings.Contains(out, "3210") {
			t.Errorf("%q lacks the last 4 digits", out)
		}
	}
	if !s.Final() || (Status{Status: "sent"}).Final() {
		t.Error("Final: failed is final, sent is not")
	}
}
