package simulator_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/simulator"
	"github.com/otpgate/otpgate/internal/sms"
)

func TestSMSFileTails(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sms.jsonl")
	// Opened before the server created the file.
	f, err := simulator.OpenSMSFile(path, simulator.SMSFileOptions{Timeout: 200 * time.Millisecond, Poll: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := f.Mark("+917000000001")
	if err != nil || m != 0 {
		t.Fatalf("mark %d, %v", m, err)
	}
	sender, err := sms.NewFileSender(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	send := func(to, text string) {
		t.Helper()
		if err := sender.Send(ctx, sms.Message{To: to, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	send("+917000000001", "AB12345678C\nYour verification code is 482913. Do not share it with anyone.")
	send("+917000000002", "Your code is 111111.")
	got, err := f.Wait(ctx, "+917000000001", m)
	if err != nil || got.Code != "482913" || got.Seq != 1 {
		t.Fatalf("%+v, %v", got, err)
	}
	// Nothing new after the mark: Wait times out.
	if _, err := f.Wait(ctx, "+917000000001", got.Seq); err == nil || !strings.Contains(err.Error(), "no SMS") {
		t.Fatalf("Wait with nothing new: %v", err)
	}
	// A line in two writes is read once whole.
	raw, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.WriteString(`{"to":"+917000000001","text":"Your code is`)
	if n, _, _ := f.Count("+917000000001", got.Seq); n != 0 {
		t.Fatalf("a half-written line counted: %d", n)
	}
	raw.WriteString(` 765432.","at":"2025-01-01T00:00:00Z"}` + "\n")
	next, err := f.Wait(ctx, "+917000000001", got.Seq)
	if err != nil || next.Code != "765432" || next.Seq != 2 {
		t.Fatalf("%+v, %v", next, err)
	}
	// A second reader opened now starts at the end, even mid-line.
	raw.WriteString(`{"to":"+917000000001","text":"Your code is 1`)
	late, err := simulator.OpenSMSFile(path, simulator.SMSFileOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	raw.WriteString(`23456."}` + "\n")
	if n, _, _ := late.Count("+917000000001", 0); n != 0 {
		t.Fatalf("the late reader counted %d messages from before it started", n)
	}
	send("+917000000001", "Your code is 999999.")
	if s, err := late.Wait(ctx, "+917000000001", 0); err != nil || s.Code != "999999" {
		t.Fatalf("%+v, %v", s, err)
	}
	// A replaced file (a new server run) is read from its start.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"to":"+917000000003","text":"Your code is 314159."}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := late.Wait(ctx, "+917000000003", 0); err != nil || s.Code != "314159" {
		t.Fatalf("after the file was replaced: %+v, %v", s, err)
	}
}

func TestExtractCode(t *testing.T) {
	for _, tc := range []struct {
		text   string
		length int
		want   string
	}{
		{"AB12345678C\nYour verification code is 482913. Do not share it.", 6, "482913"},
		{"12345678901\nYour code is 482913.", 0, "482913"}, // the token line is skipped
		{"Your code is 48291377.", 0, "48291377"},
		{"Your code is 48291377.", 6, ""},
		{"Call 1800 123 4567, code 123456", 6, "123456"},
		{"no code", 0, ""},
	} {
		if got := simulator.ExtractCode(tc.text, tc.length); got != tc.want {
			t.Errorf("ExtractCode(%q, %d) = %q, want %q", tc.text, tc.length, got, tc.want)
		}
	}
}

func TestPrompt(t *testing.T) {
	var out strings.Builder
	p := simulator.NewPrompt(strings.NewReader("abc\n 123456 \n"), &out)
	s, err := p.Wait(context.Background(), "+917000000001", 0)
	if err != nil || s.Code != "123456" {
		t.Fatalf("%+v, %v", s, err)
	}
	if !strings.Contains(out.String(), "+917000000001") || !strings.Contains(out.String(), "digits only") {
		t.Errorf("prompts: %q", out.String())
	}
	if _, err := p.Wait(context.Background(), "+917000000001", 0); err == nil {
		t.Error("a code at the end of the input")
	}
	if _, ok, _ := p.Count("+917000000001", 0); ok || p.Automatic() {
		t.Error("an operator's prompt claims to count messages")
	}
}

// An answer that does not open says why, as Google would see it.
func TestResponsesThatDoNotOpen(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", toyGoogle.ContentType())
		w.Write([]byte(body))
	}))
	defer srv.Close()
	c, err := simulator.New(simulator.Config{Target: srv.URL, Codec: toyGoogle})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		body, summary string
		is            error
	}{
		{"garbage", "200 (body does not open: undecryptable)", envelope.ErrUndecryptable},
		{string(must(toyImpostor.Seal([]byte(`{}`)))), "200 (body does not open: undecryptable)", envelope.ErrUndecryptable},
		{string(must(toyCodec{me: "stranger", peer: "google"}.Seal([]byte(`{}`)))), "200 (body does not open: bad signature)", envelope.ErrBadSignature},
		{"", "200 (empty body)", nil},
	} {
		body = tc.body
		r, err := c.Post(context.Background(), simulator.PathEcho, c.EchoBody(c.NewRequestID("x"), "hi"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Summary() != tc.summary || !errors.Is(r.OpenErr, tc.is) || len(r.Check(toyGoogle.ContentType(), time.Now())) == 0 {
			t.Errorf("body %q: %s (%v), problems %v", tc.body, r.Summary(), r.OpenErr, r.Check(toyGoogle.ContentType(), time.Now()))
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestNewRefusesBadTargets(t *testing.T) {
	for _, target := range []string{"", "127.0.0.1:8080", "ftp://x", "http://", "http://x/?q=1"} {
		if _, err := simulator.New(simulator.Config{Target: target}); err == nil {
			t.Errorf("%q accepted", target)
		}
	}
	c, err := simulator.New(simulator.Config{Target: "https://otp.example.com/google/"})
	if err != nil || c.Target() != "https://otp.example.com/google" {
		t.Errorf("%v %v", c, err)
	}
	if id := c.NewRequestID("verify"); len(id) > 100 || !strings.HasPrefix(id, "sim-"+c.Run()+"-") {
		t.Errorf("requestId %q", id)
	}
}
