package sms

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The code, the number and the URL's secret must never appear in an error.
const (
	testCode   = "482913"
	testPhone  = "+919876543210"
	testSecret = "s3cr3t-api-key"
)

var testMessage = Message{To: testPhone, Text: "AB12345678C\nYour verification code is " + testCode + "."}

// request is what a test gateway saw.
type request struct {
	Method      string
	Path        string
	Query       string
	ContentType string
	Header      http.Header
	Body        string
}

// gateway is a real HTTP server that records requests and answers status.
type gateway struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
}

func newGateway(t *testing.T, status int) *gateway {
	t.Helper()
	g := &gateway{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("gateway: read body: %v", err)
		}
		g.mu.Lock()
		g.requests = append(g.requests, request{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			ContentType: r.Header.Get("Content-Type"), Header: r.Header.Clone(), Body: string(body),
		})
		g.mu.Unlock()
		w.WriteHeader(status)
		// A body that echoes the message, as some gateways do: it must not
		// reach our errors.
		io.WriteString(w, `{"error":"rejected","to":"`+testPhone+`","text":"`+testCode+`"}`)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gateway) Requests() []request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]request(nil), g.requests...)
}

func TestHTTPSenderRequest(t *testing.T) {
	text := "AB12345678C\nCode " + testCode + ": \"quoted\" <b> & a=b+c {to} {text} %41 €"
	tests := []struct {
		name    string
		cfg     HTTPConfig // URL is the gateway's plus cfg.URL
		want    request    // Header not compared; see headers
		headers map[string]string
	}{
		{
			name: "defaults",
			cfg:  HTTPConfig{},
			want: request{
				Method: "POST", Path: "/", ContentType: "application/json",
				Body: `{"to":"+919876543210","text":"AB12345678C\nCode 482913: \"quoted\" <b> & a=b+c {to} {text} %41 €"}`,
			},
		},
		{
			name: "JSON template with other fields and a +json type",
			cfg: HTTPConfig{
				URL:          "/v1/messages?key=" + testSecret,
				BodyTemplate: `{"from":"OTPGATE","messages":[{"destination":{to},"content":{text}}],"echo":{to}}`,
				ContentType:  "application/vnd.gateway+json; charset=utf-8",
			},
			want: request{
				Method: "POST", Path: "/v1/messages", Query: "key=" + testSecret,
				ContentType: "application/vnd.gateway+json; charset=utf-8",
				Body:        `{"from":"OTPGATE","messages":[{"destination":"+919876543210","content":"AB12345678C\nCode 482913: \"quoted\" <b> & a=b+c {to} {text} %41 €"}],"echo":"+919876543210"}`,
			},
		},
		{
			name: "form, PUT, lower-case method, headers",
			cfg: HTTPConfig{
				URL:          "/send",
				Method:       "put",
				BodyTemplate: "From=OTPGATE&To={to}&Body={text}",
				ContentType:  "application/x-www-form-urlencoded",
				Headers:      map[string]string{"Authorization": "Basic dXNlcjpwYXNz", "x-api-key": testSecret},
			},
			want: request{
				Method: "PUT", Path: "/send", ContentType: "application/x-www-form-urlencoded",
				Body: "From=OTPGATE&To=%2B919876543210&Body=AB12345678C%0ACode+482913%3A+%22quoted%22+%3Cb%3E+%26+a%3Db%2Bc+%7Bto%7D+%7Btext%7D+%2541+%E2%82%AC",
			},
			headers: map[string]string{"Authorization": "Basic dXNlcjpwYXNz", "X-Api-Key": testSecret},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, http.StatusOK)
			cfg := tt.cfg
			cfg.URL = g.URL + cfg.URL
			s, err := NewHTTPSender(cfg, nil)
			if err != nil {
				t.Fatalf("NewHTTPSender() error = %v", err)
			}
			if err := s.Send(context.Background(), Message{To: testPhone, Text: text}); err != nil {
				t.Fatalf("Send() error = %v", err)
			}
			reqs := g.Requests()
			if len(reqs) != 1 {
				t.Fatalf("gateway got %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			for name, want := range tt.headers {
				if v := got.Header.Get(name); v != want {
					t.Errorf("header %s = %q, want %q", name, v, want)
				}
			}
			got.Header = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("request mismatch (-want +got):\n%s", diff)
			}
			// The gateway decodes what we meant to send.
			if strings.HasPrefix(tt.want.ContentType, "application/x-www-form-urlencoded") {
				v, err := url.ParseQuery(got.Body)
				if err != nil {
					t.Fatal(err)
				}
				if v.Get("To") != testPhone || v.Get("Body") != text {
					t.Errorf("form decodes to To=%q Body=%q", v.Get("To"), v.Get("Body"))
				}
			}
		})
	}
}

func TestHTTPSenderStatus(t *testing.T) {
	tests := []struct {
		status int
		ok     bool
	}{
		{http.StatusOK, true},
		{http.StatusCreated, true},
		{http.StatusAccepted, true},
		{http.StatusNoContent, true},
		{http.StatusMultipleChoices, false},
		{http.StatusFound, false},
		{http.StatusNotModified, false},
		{http.StatusBadRequest, false},
		{http.StatusUnauthorized, false},
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
		{http.StatusServiceUnavailable, false},
		{599, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			g := newGateway(t, tt.status)
			s, err := NewHTTPSender(HTTPConfig{URL: g.URL + "/send?key=" + testSecret}, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), testMessage)
			if tt.ok {
				if err != nil {
					t.Errorf("Send() error = %v, want nil", err)
				}
				return
			}
			var se *HTTPStatusError
			if !errors.As(err, &se) || se.StatusCode != tt.status {
				t.Fatalf("Send() error = %v, want an HTTPStatusError with status %d", err, tt.status)
			}
			if want := g.Listener.Addr().String(); se.Host != want {
				t.Errorf("HTTPStatusError.Host = %q, want %q", se.Host, want)
			}
			checkNoSecrets(t, err)
		})
	}
}

func TestHTTPSenderDoesNotFollowRedirects(t *testing.T) {
	// A 302 turns a POST into a GET without the body; a 2xx to that GET
	// must not pass for acceptance.
	final := newGateway(t, http.StatusOK)
	redirect := httptest.NewServer(http.RedirectHandler(final.URL, http.StatusFound))
	defer redirect.Close()

	s, err := NewHTTPSender(HTTPConfig{URL: redirect.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var se *HTTPStatusError
	if err := s.Send(context.Background(), testMessage); !errors.As(err, &se) || se.StatusCode != http.StatusFound {
		t.Errorf("Send() error = %v, want status 302", err)
	}
	if n := len(final.Requests()); n != 0 {
		t.Errorf("redirect followed: target got %d requests", n)
	}
}

// slowGateway answers only when the request is cancelled or the test ends.
func slowGateway(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 10)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv, arrived
}

func TestHTTPSenderTimeout(t *testing.T) {
	srv, _ := slowGateway(t)
	s, err := NewHTTPSender(HTTPConfig{URL: srv.URL + "/?key=" + testSecret, Timeout: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), testMessage)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send() error = %v, want context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("error %q does not name the timeout", err)
	}
	checkNoSecrets(t, err)
}

func TestHTTPSenderCallerCancels(t *testing.T) {
	srv, arrived := slowGateway(t)
	s, err := NewHTTPSender(HTTPConfig{URL: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Send(ctx, testMessage) }()
	<-arrived
	cancel()
	err = <-errc
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send() error = %v, want context.Canceled", err)
	}
	if strings.Contains(err.Error(), "no answer within") {
		t.Errorf("error %q blames the gateway's timeout for the caller's cancellation", err)
	}
	checkNoSecrets(t, err)
}

func TestHTTPSenderCancelledBeforeSend(t *testing.T) {
	g := newGateway(t, http.StatusOK)
	s, err := NewHTTPSender(HTTPConfig{URL: g.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Send(ctx, testMessage); !errors.Is(err, context.Canceled) {
		t.Errorf("Send() error = %v, want context.Canceled", err)
	}
	if n := len(g.Requests()); n != 0 {
		t.Errorf("gateway got %d requests after cancellation, want 0", n)
	}
}

func TestHTTPSenderTransportError(t *testing.T) {
	g := newGateway(t, http.StatusOK)
	url := g.URL + "/send?key=" + testSecret
	g.Close() // nothing listens any more
	s, err := NewHTTPSender(HTTPConfig{URL: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), testMessage)
	if err == nil {
		t.Fatal("Send() to a closed server succeeded")
	}
	checkNoSecrets(t, err)
}

func TestHTTPSenderConcurrent(t *testing.T) {
	g := newGateway(t, http.StatusOK)
	s, err := NewHTTPSender(HTTPConfig{URL: g.URL, Headers: map[string]string{"Authorization": "Bearer x"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := s.Send(context.Background(), testMessage); err != nil {
				t.Errorf("Send() error = %v", err)
			}
		})
	}
	wg.Wait()
	if n := len(g.Requests()); n != 20 {
		t.Errorf("gateway got %d requests, want 20", n)
	}
}

func TestHTTPSenderGivenClient(t *testing.T) {
	g := newGateway(t, http.StatusOK)
	var used bool
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	s, err := NewHTTPSender(HTTPConfig{URL: g.URL}, client)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	if !used {
		t.Error("the client given to NewHTTPSender was not used")
	}
	if s.Name() != "http" {
		t.Errorf("Name() = %q, want \"http\"", s.Name())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNewHTTPSenderRejects(t *testing.T) {
	const base = "https://sms.example.com/send"
	tests := []struct {
		name    string
		cfg     HTTPConfig
		wantErr string
	}{
		{"empty URL", HTTPConfig{}, "absolute http or https"},
		{"relative URL", HTTPConfig{URL: "/send"}, "absolute http or https"},
		{"no host", HTTPConfig{URL: "https:///send"}, "absolute http or https"},
		{"other scheme", HTTPConfig{URL: "ftp://sms.example.com/send"}, "absolute http or https"},
		{"unparsable URL", HTTPConfig{URL: "https://sms.example.com/%zz?key=" + testSecret}, "does not parse"},
		{"GET", HTTPConfig{URL: base, Method: "GET"}, "POST, PUT or PATCH"},
		{"negative timeout", HTTPConfig{URL: base, Timeout: -time.Second}, "negative timeout"},
		{"plain text body", HTTPConfig{URL: base, ContentType: "text/plain"}, "only JSON and application/x-www-form-urlencoded"},
		{"XML body", HTTPConfig{URL: base, ContentType: "application/xml"}, "only JSON"},
		{"bad content type", HTTPConfig{URL: base, ContentType: "json;;"}, "content type"},
		{"no {to}", HTTPConfig{URL: base, BodyTemplate: `{"text":{text}}`}, "no {to}"},
		{"no {text}", HTTPConfig{URL: base, BodyTemplate: `{"to":{to}}`}, "no {text}"},
		{"quoted JSON placeholders", HTTPConfig{URL: base, BodyTemplate: `{"to":"{to}","text":"{text}"}`}, "not valid JSON"},
		{"JSON template for a form", HTTPConfig{URL: base, ContentType: "application/x-www-form-urlencoded", BodyTemplate: DefaultHTTPBodyTemplate}, "not inside a value"},
		{"placeholder as a form key", HTTPConfig{URL: base, ContentType: "application/x-www-form-urlencoded", BodyTemplate: "{to}=1&text={text}"}, "not inside a value"},
		{"placeholder as a JSON key", HTTPConfig{URL: base, BodyTemplate: `{{to}:{text}}`}, "not inside a value"},
		{"placeholder as a JSON key, quoted", HTTPConfig{URL: base, BodyTemplate: `{"x":{"{to}":{text}}}`}, "not valid JSON"},
		{"bad form escape", HTTPConfig{URL: base, ContentType: "application/x-www-form-urlencoded", BodyTemplate: "to={to}&text={text}&x=%zz"}, "valid application/x-www-form-urlencoded"},
		{"Content-Type header", HTTPConfig{URL: base, Headers: map[string]string{"content-type": "text/plain"}}, "ContentType"},
		{"Host header", HTTPConfig{URL: base, Headers: map[string]string{"Host": "other"}}, "set by the HTTP client"},
		{"Content-Length header", HTTPConfig{URL: base, Headers: map[string]string{"Content-Length": "1"}}, "set by the HTTP client"},
		{"header name with a space", HTTPConfig{URL: base, Headers: map[string]string{"X Key": "v"}}, "invalid header name"},
		{"empty header name", HTTPConfig{URL: base, Headers: map[string]string{"": "v"}}, "invalid header name"},
		{"header value with a newline", HTTPConfig{URL: base, Headers: map[string]string{"X-Key": "v\r\nX-Evil: 1"}}, "CR, LF or NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHTTPSender(tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewHTTPSender() error = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error %q contains the URL's secret", err)
			}
		})
	}
}

func TestNewHTTPSenderAccepts(t *testing.T) {
	tests := []HTTPConfig{
		{URL: "http://127.0.0.1:8080/send"},
		{URL: "HTTPS://sms.example.com/send"},
		{URL: "https://user:pass@sms.example.com/send", Method: "PATCH"},
		{URL: "https://sms.example.com", ContentType: "application/json; charset=utf-8"},
		{URL: "https://sms.example.com", ContentType: "application/x-www-form-urlencoded", BodyTemplate: "to={to}&text={text}&text2={text}"},
		{URL: "https://sms.example.com", BodyTemplate: ` { "to" : {to} , "text" : {text} } `},
		{URL: "https://sms.example.com", BodyTemplate: `{"to":[{to}],"sms":{"body":{text}}}`},
		{URL: "https://sms.example.com", ContentType: "application/x-www-form-urlencoded"},
	}
	for _, cfg := range tests {
		if _, err := NewHTTPSender(cfg, nil); err != nil {
			t.Errorf("NewHTTPSender(%+v) error = %v", cfg, err)
		}
	}
}

func checkNoSecrets(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	for _, secret := range []string{testCode, testPhone, testPhone[1:], testPhone[3:], testSecret, "/send"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q contains %q", msg, secret)
		}
	}
}
