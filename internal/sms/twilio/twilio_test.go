package twilio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/otpgate/otpgate/internal/sms"
)

// Neither the code, the number nor the auth token may ever appear in an
// error.
const (
	testSID     = "AC0123456789abcdef0123456789abcdef"
	testToken   = "9f8e7d6c5b4a39281706f5e4d3c2b1a0" // the shape of an Auth Token
	testService = "MG00112233445566778899aabbccddeeff"
	testFrom    = "+15557122661"
	testPhone   = "+919876543210"
	testCode    = "482913"
	testHook    = "https://otp.example.com/twilio/status?route=default"
)

// The text is UTF-8 that is not GSM-7: Devanagari and the rupee sign.
var testMessage = sms.Message{To: testPhone, Text: "AB12345678C\n" + testCode + " is your OTP for ₹1,250.00 at दुकान. Do not share it."}

// request is what the fake Twilio saw.
type request struct {
	Method      string
	Path        string
	User, Pass  string
	BasicAuth   bool
	ContentType string
	Accept      string
	Form        url.Values
	Raw         string // the body as sent; not compared
}

// fakeTwilio is a real HTTP server that records requests and answers as
// answer says.
type fakeTwilio struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
}

func newFakeTwilio(t *testing.T, answer http.HandlerFunc) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("fake twilio: read body: %v", err)
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("fake twilio: body is not a form: %v", err)
		}
		user, pass, ok := r.BasicAuth()
		f.mu.Lock()
		f.requests = append(f.requests, request{
			Method: r.Method, Path: r.URL.Path, User: user, Pass: pass, BasicAuth: ok,
			ContentType: r.Header.Get("Content-Type"), Accept: r.Header.Get("Accept"), Form: form, Raw: string(body),
		})
		f.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTwilio) Requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// created answers as Twilio documents a created message: 201 and the
// example body of its Messages resource page.
func created(t *testing.T) http.HandlerFunc {
	body, err := os.ReadFile("testdata/message_created.json")
	if err != nil {
		t.Fatal(err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
	}
}

// twilioError answers with Twilio's error body. Its message repeats the
// number, as Twilio's does for 21211: it must not reach our errors.
func twilioError(status, code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{
			"code":      code,
			"message":   "The 'To' number " + r.FormValue("To") + " is not a valid phone number. Body: " + r.FormValue("Body"),
			"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
			"status":    status,
		})
	}
}

func testConfig(base string) Config {
	return Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: base}
}

func mustNew(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// checkSecrets fails when err says what it must not.
func checkSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, secret := range []string{testToken, testPhone, strings.TrimPrefix(testPhone, "+"), testCode, "दुकान"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q contains %q", msg, secret)
		}
	}
}

func TestSubmitRequest(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(base string) Config
		want url.Values
	}{
		{
			name: "from a number",
			cfg:  testConfig,
			want: url.Values{"To": {testPhone}, "From": {testFrom}, "Body": {testMessage.Text}},
		},
		{
			name: "through a messaging service, with a status callback",
			cfg: func(base string) Config {
				cfg := testConfig(base)
				cfg.From, cfg.MessagingServiceSID, cfg.StatusCallbackURL = "", testService, testHook
				return cfg
			},
			want: url.Values{"To": {testPhone}, "MessagingServiceSid": {testService}, "Body": {testMessage.Text}, "StatusCallback": {testHook}},
		},
		{
			name: "alphanumeric sender id",
			cfg: func(base string) Config {
				cfg := testConfig(base)
				cfg.From = "OTPGATE"
				return cfg
			},
			want: url.Values{"To": {testPhone}, "From": {"OTPGATE"}, "Body": {testMessage.Text}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTwilio(t, created(t))
			c := mustNew(t, tt.cfg(f.URL))
			sid, err := c.Submit(context.Background(), testMessage)
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			if sid != "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
				t.Errorf("sid = %q, want the documented example's", sid)
			}
			want := []request{{
				Method:      http.MethodPost,
				Path:        "/2010-04-01/Accounts/" + testSID + "/Messages.json",
				User:        testSID,
				Pass:        testToken,
				BasicAuth:   true,
				ContentType: "application/x-www-form-urlencoded",
				Accept:      "application/json",
				Form:        tt.want,
			}}
			if diff := cmp.Diff(want, f.Requests(), cmpopts.IgnoreFields(request{}, "Raw")); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// The body travels as UTF-8, percent-encoded, and comes back byte for byte.
func TestSubmitBodyEncoding(t *testing.T) {
	f := newFakeTwilio(t, created(t))
	c := mustNew(t, testConfig(f.URL))
	text := "₹ दुकान & a=b+c %41 😀 \"q\"\n"
	if err := c.Send(context.Background(), sms.Message{To: testPhone, Text: text}); err != nil {
		t.Fatal(err)
	}
	raw := f.Requests()[0].Raw
	if !strings.Contains(raw, "Body="+url.QueryEscape(text)) {
		t.Errorf("body %q does not carry the text percent-encoded as UTF-8", raw)
	}
	form, err := url.ParseQuery(raw)
	if err != nil || form.Get("Body") != text {
		t.Errorf("Body decodes to %q (%v), want %q", form.Get("Body"), err, text)
	}
}

func TestSubmitBaseURLPrefix(t *testing.T) {
	f := newFakeTwilio(t, created(t))
	c := mustNew(t, testConfig(f.URL+"/edge/"))
	if _, err := c.Submit(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	if got, want := f.Requests()[0].Path, "/edge/2010-04-01/Accounts/"+testSID+"/Messages.json"; got != want {
		t.Errorf("path %q, want %q", got, want)
	}
}

func TestSubmitTwilioErrors(t *testing.T) {
	tests := []struct {
		name        string
		answer      http.HandlerFunc
		kind        Kind
		status      int
		code        int
		unknown     bool
		wantInError string
	}{
		{"invalid number", twilioError(400, 21211), Rejected, 400, 21211, false, "error 21211 (invalid 'To' number)"},
		{"unsubscribed", twilioError(400, 21610), Rejected, 400, 21610, false, "error 21610"},
		{"not a mobile", twilioError(400, 21614), Rejected, 400, 21614, false, "error 21614"},
		{"geo permissions", twilioError(400, 21408), ConfigError, 400, 21408, false, "error 21408"},
		{"From not capable", twilioError(400, 21606), ConfigError, 400, 21606, false, "error 21606"},
		{"bad credentials", twilioError(401, 20003), ConfigError, 401, 20003, false, "HTTP 401 Unauthorized: error 20003 (authentication failed)"},
		{"wrong account", twilioError(404, 20404), ConfigError, 404, 20404, false, "error 20404"},
		{"too many requests", twilioError(429, 20429), TryNext, 429, 20429, false, "HTTP 429"},
		{"429 without a body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTooManyRequests)
		}, TryNext, 429, 0, false, "HTTP 429"},
		{"internal error", twilioError(500, 20500), TryNext, 500, 20500, true, "HTTP 500"},
		{"a proxy's 502 page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		}, TryNext, 502, 0, true, "HTTP 502"},
		{"service unavailable", twilioError(503, 20503), TryNext, 503, 20503, true, "HTTP 503"},
		{"an unknown code", twilioError(400, 29999), TryNext, 400, 29999, false, "error 29999"},
		{"a redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, ConfigError, 302, 0, false, "HTTP 302"},
		{"201 without a sid", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"status":"queued"}`)
		}, TryNext, 201, 0, true, "without a message sid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTwilio(t, tt.answer)
			c := mustNew(t, testConfig(f.URL))
			sid, err := c.Submit(context.Background(), testMessage)
			if err == nil {
				t.Fatalf("Submit succeeded with sid %q", sid)
			}
			checkSecrets(t, err)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if e.Kind() != tt.kind || e.HTTPStatus != tt.status || e.Code != tt.code || e.OutcomeUnknown() != tt.unknown {
				t.Errorf("kind %s, HTTP %d, code %d, unknown %v; want %s, %d, %d, %v",
					e.Kind(), e.HTTPStatus, e.Code, e.OutcomeUnknown(), tt.kind, tt.status, tt.code, tt.unknown)
			}
			if !strings.Contains(err.Error(), tt.wantInError) || !strings.HasPrefix(err.Error(), "twilio twilio: create message") {
				t.Errorf("error %q, want it to contain %q", err, tt.wantInError)
			}
			if n := len(f.Requests()); n != 1 {
				t.Errorf("%d requests, want 1: a failed send is not retried here", n)
			}
		})
	}
}

// A server that reads the request and never answers: the timeout ends the
// send as TryNext, and the outcome is unknown since Twilio had the whole
// request.
func TestSubmitNoAnswer(t *testing.T) {
	release := make(chan struct{})
	f := newFakeTwilio(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	cfg := testConfig(f.URL)
	cfg.Timeout = 100 * time.Millisecond
	c := mustNew(t, cfg)

	start := time.Now()
	_, err := c.Submit(context.Background(), testMessage)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Submit took %s with a timeout of 100ms", elapsed)
	}
	checkSecrets(t, err)
	var e *Error
	if !errors.As(err, &e) || e.Kind() != TryNext || !e.OutcomeUnknown() || e.HTTPStatus != 0 {
		t.Fatalf("error %v: want TryNext with an unknown outcome", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Errorf("error %q: want it to say the timeout", err)
	}
}

// The caller's own deadline is reported as the caller's, not as ours.
func TestSubmitCallerDeadline(t *testing.T) {
	f := newFakeTwilio(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := mustNew(t, testConfig(f.URL)) // Timeout 10s
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Submit(ctx, testMessage)
	var e *Error
	if !errors.As(err, &e) || e.Kind() != TryNext || !e.OutcomeUnknown() {
		t.Fatalf("error %v: want TryNext with an unknown outcome", err)
	}
	if !strings.Contains(err.Error(), "caller's deadline") {
		t.Errorf("error %q does not name the caller's deadline", err)
	}
}

// rawServer accepts TCP connections and hands each to handle.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(nc)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// readRequest reads one HTTP request from nc in full.
func readRequest(nc net.Conn) error {
	req, err := http.ReadRequest(bufio.NewReader(nc))
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return err
}

// A server that reads the request and resets the connection: TryNext,
// with an unknown outcome since the request had reached it.
func TestSubmitConnectionReset(t *testing.T) {
	var got atomic.Int32
	base := rawServer(t, func(nc net.Conn) {
		if readRequest(nc) == nil {
			got.Add(1)
		}
		nc.(*net.TCPConn).SetLinger(0) // close with RST
		nc.Close()
	})
	c := mustNew(t, testConfig(base))
	_, err := c.Submit(context.Background(), testMessage)
	checkSecrets(t, err)
	var e *Error
	if !errors.As(err, &e) || e.Kind() != TryNext || !e.OutcomeUnknown() {
		t.Fatalf("error %v: want TryNext with an unknown outcome", err)
	}
	if got.Load() != 1 {
		t.Errorf("the server read %d requests, want 1", got.Load())
	}
	if strings.Contains(err.Error(), base) {
		t.Errorf("error %q repeats the URL", err)
	}
}

// Nothing listens: TryNext, and the message certainly was not sent.
func TestSubmitConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := mustNew(t, testConfig("http://"+addr))
	_, err = c.Submit(context.Background(), testMessage)
	var e *Error
	if !errors.As(err, &e) || e.Kind() != TryNext || e.OutcomeUnknown() {
		t.Fatalf("error %v: want TryNext, outcome known", err)
	}
}

// Messages Twilio would refuse for what they are never leave.
func TestSubmitRefusesBadMessages(t *testing.T) {
	f := newFakeTwilio(t, created(t))
	c := mustNew(t, testConfig(f.URL))
	for _, m := range []sms.Message{
		{To: "9876543210", Text: "x"},
		{To: "+0123456789", Text: "x"},
		{To: "+91 98765 43210", Text: "x"},
		{To: "", Text: "x"},
		{To: testPhone, Text: ""},
		{To: testPhone, Text: "bad \xff utf-8"},
		{To: testPhone, Text: strings.Repeat("é", 1601)},
	} {
		_, err := c.Submit(context.Background(), m)
		var e *Error
		if !errors.As(err, &e) || e.Kind() != Rejected || e.OutcomeUnknown() || e.Op != "check message" {
			t.Errorf("%q/%d chars: error %v, want Rejected before sending", m.To, len(m.Text), err)
		}
		if m.To != "" && strings.Contains(fmt.Sprint(err), m.To) {
			t.Errorf("error %q repeats the number", err)
		}
	}
	if _, err := c.Submit(context.Background(), sms.Message{To: testPhone, Text: strings.Repeat("é", 1600)}); err != nil {
		t.Errorf("1600 characters: %v", err)
	}
	if n := len(f.Requests()); n != 1 {
		t.Errorf("%d requests, want only the valid one", n)
	}
}

func TestSubmitContextDone(t *testing.T) {
	f := newFakeTwilio(t, created(t))
	c := mustNew(t, testConfig(f.URL))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Submit(ctx, testMessage)
	var e *Error
	if !errors.As(err, &e) || e.Kind() != TryNext || e.OutcomeUnknown() || !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v: want TryNext wrapping context.Canceled", err)
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("%d requests after the context ended", n)
	}
}

func TestNew(t *testing.T) {
	valid := testConfig("")
	tests := []struct {
		name   string
		change func(*Config)
		want   string // in the error; "" for success
	}{
		{"valid", func(*Config) {}, ""},
		{"valid with a service", func(c *Config) { c.From, c.MessagingServiceSID = "", testService }, ""},
		{"short code", func(c *Config) { c.From = "89757" }, ""},
		{"no account", func(c *Config) { c.AccountSID = "" }, "AccountSID"},
		{"account not AC", func(c *Config) { c.AccountSID = "SK0123456789abcdef0123456789abcdef" }, "AccountSID"},
		{"account not hex", func(c *Config) { c.AccountSID = "AC0123456789abcdef0123456789abcdeg" }, "AccountSID"},
		{"no token", func(c *Config) { c.AuthToken = "" }, "AuthToken is empty"},
		{"token with a newline", func(c *Config) { c.AuthToken = testToken + "\n" }, "trailing newline"},
		{"neither From nor service", func(c *Config) { c.From = "" }, "set From or MessagingServiceSID"},
		{"both", func(c *Config) { c.MessagingServiceSID = testService }, "not both"},
		{"service not MG", func(c *Config) { c.From, c.MessagingServiceSID = "", testSID }, "MessagingServiceSID"},
		{"From not a sender", func(c *Config) { c.From = "not-a-sender!" }, "From"},
		{"sender id too long", func(c *Config) { c.From = "OTPGATEBANKS" }, "From"},
		{"callback not absolute", func(c *Config) { c.StatusCallbackURL = "/status" }, "StatusCallbackURL"},
		{"callback ftp", func(c *Config) { c.StatusCallbackURL = "ftp://example.com/x" }, "StatusCallbackURL"},
		{"callback underscore", func(c *Config) { c.StatusCallbackURL = "https://my_host.example.com/x" }, "underscore"},
		{"base URL relative", func(c *Config) { c.BaseURL = "api.twilio.com" }, "BaseURL"},
		{"base URL with user", func(c *Config) { c.BaseURL = "https://" + testSID + ":" + testToken + "@api.twilio.com" }, "BaseURL"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			c, err := New(cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.Name() != DefaultName || c.timeout != DefaultTimeout {
					t.Errorf("defaults: name %q, timeout %s", c.Name(), c.timeout)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error about %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q repeats the token", err)
			}
		})
	}
}

// Neither a Config nor a Client prints or logs its Auth Token.
func TestTokenNotPrinted(t *testing.T) {
	cfg := testConfig("")
	cfg.Name = "tw-1"
	c := mustNew(t, cfg)
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", cfg, "client", c)
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg),
		fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c),
		logged.String(),
	} {
		if strings.Contains(s, testToken) {
			t.Errorf("%q shows the token", s)
		}
	}
	if c.Name() != "tw-1" {
		t.Errorf("Name() = %q", c.Name())
	}
}
