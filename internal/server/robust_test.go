package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/server"
	"github.com/otpgate/otpgate/internal/testutil/syncbuf"
)

// panicCodec panics in Open (once, when once is set) and, with seal, in
// Seal too.
type panicCodec struct {
	envelope.Plain
	once, seal bool
	opened     atomic.Int32
}

func (p *panicCodec) Open(b []byte) ([]byte, error) {
	if n := p.opened.Add(1); !p.once || n == 1 {
		panic("codec bug (simulated)")
	}
	return p.Plain.Open(b)
}

func (p *panicCodec) Seal(b []byte) ([]byte, error) {
	if p.seal {
		panic("sealing bug (simulated)")
	}
	return p.Plain.Seal(b)
}

// logLines are the JSON log lines whose msg is msg.
func (h *harness) logLines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(h.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestPanicAnswers503: a handler that panics gets its caller a 503, which
// Google retries, rather than a dropped connection; the panic is logged
// through slog at ERROR with the call's id (the ErrorResponse's
// paymentIntegratorErrorIdentifier) and its stack, and the server goes on.
func TestPanicAnswers503(t *testing.T) {
	h := newHarness(t, withCodec(&panicCodec{once: true}))
	echo := map[string]any{"requestHeader": h.header("e1"), "clientMessage": "ping"}
	r := h.post("/v1/echo", echo)
	expectUnavailable(t, r)
	lines := h.logLines("handler panicked")
	if len(lines) != 1 {
		t.Fatalf("%d log lines say the handler panicked, want 1:\n%s", len(lines), h.logs)
	}
	l := lines[0]
	if l["level"] != "ERROR" || l["id"] != r.str("paymentIntegratorErrorIdentifier") || l["method"] != "echo" ||
		!strings.Contains(l["panic"].(string), "codec bug") || !strings.Contains(l["stack"].(string), "panicCodec") {
		t.Errorf("the panic's log line lacks its level, the call's id %q, the method, the panic or the stack: %v",
			r.str("paymentIntegratorErrorIdentifier"), l)
	}
	if !strings.Contains(h.logs.String(), `"result":"PANIC","status":503`) {
		t.Error("the request line does not record the panic")
	}
	if v := h.metric("otpgate_panics_total"); v != "1" {
		t.Errorf("otpgate_panics_total %q, want 1", v)
	}
	expect(t, h.post("/v1/echo", map[string]any{"requestHeader": h.header("e2"), "clientMessage": "ping"}), 200, "clientMessage", "ping")
}

// TestPanicWhileAnswering: when even sealing the 503 panics, the answer is
// the bare status.
func TestPanicWhileAnswering(t *testing.T) {
	h := newHarness(t, withCodec(&panicCodec{seal: true}))
	r := h.post("/v1/echo", map[string]any{"requestHeader": h.header("e1"), "clientMessage": "ping"})
	if r.status != http.StatusServiceUnavailable || r.raw != "" {
		t.Errorf("got %d %q, want a bare 503", r.status, r.raw)
	}
}

// panicPinger panics when /readyz asks.
type panicPinger struct{}

func (panicPinger) Ping(context.Context) error { panic("driver bug (simulated)") }

// TestPanicOnOtherRoutes: a panic outside Google's methods (here /readyz)
// is a logged 503 too, on both ports.
func TestPanicOnOtherRoutes(t *testing.T) {
	h := newHarness(t, withServer(func(c *server.Config) { c.DB = panicPinger{} }))
	for _, url := range []string{h.url, h.admin} {
		if s, _ := getURL(t, url+"/readyz"); s != http.StatusServiceUnavailable {
			t.Errorf("%s/readyz panicking: %d, want 503", url, s)
		}
	}
	lines := h.logLines("handler panicked")
	if len(lines) != 2 || lines[0]["path"] != "/readyz" || lines[0]["level"] != "ERROR" {
		t.Errorf("want 2 ERROR lines naming /readyz, got %v", lines)
	}
}

// TestBodyAfterReadTimeout: a body still arriving when the server's read
// timeout ends is a timeout, not a bad request: answered 503 (Google
// retries; a 400 would say the request was wrong) and logged as such.
func TestBodyAfterReadTimeout(t *testing.T) {
	h := newHarness(t, withHTTP(func(s *http.Server) { s.ReadTimeout = 200 * time.Millisecond }))
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "POST /v1/echo HTTP/1.1\r\nHost: otpgate\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"requestHeader\":")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a body cut short by the read timeout: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	expectUnavailable(t, r)
	if lines := h.logLines("the request body did not arrive within the read timeout"); len(lines) != 1 || lines[0]["level"] != "WARN" {
		t.Errorf("want one WARN line saying the body timed out, got %v\n%s", lines, h.logs)
	}
	if !strings.Contains(h.logs.String(), `"result":"BODY_TIMEOUT","status":503`) {
		t.Errorf("the request line does not say BODY_TIMEOUT:\n%s", h.logs)
	}
	if strings.Contains(h.logs.String(), "INVALID_DECRYPTED_REQUEST") {
		t.Errorf("the slow body was taken for a bad request:\n%s", h.logs)
	}
}

// TestErrorLogToSlog: what net/http logs itself (here a TLS handshake that
// is not one) goes through slog, at WARN, naming the listener.
func TestErrorLogToSlog(t *testing.T) {
	var buf syncbuf.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.Config.ErrorLog = server.ErrorLog(logger, "main")
	ts.StartTLS()
	defer ts.Close()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("\x00\x01\x02\x03\x04\x05 not a TLS record\n"))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, conn) // until the server hangs up
	conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "TLS handshake error") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(buf.String())), &line); err != nil {
		t.Fatalf("the handshake error is not one JSON line through slog: %v\n%s", err, buf.String())
	}
	if line["level"] != "WARN" || line["msg"] != "http server" || line["listener"] != "main" ||
		!strings.Contains(line["error"].(string), "TLS handshake error") {
		t.Errorf("got %v", line)
	}
}

// recordWatcher notes whether the transaction that records an SMS outcome
// (the first after a send) runs under a deadline.
type recordWatcher struct {
	otp.Store
	sent     atomic.Bool
	mu       sync.Mutex
	seen     bool
	deadline time.Time
	has      bool
}

func (w *recordWatcher) Tx(ctx context.Context, fn func(otp.Tx) error) error {
	if w.sent.Load() {
		w.mu.Lock()
		if !w.seen {
			w.seen = true
			w.deadline, w.has = ctx.Deadline()
		}
		w.mu.Unlock()
	}
	return w.Store.Tx(ctx, fn)
}

type notingMessenger struct {
	otp.Messenger
	sent *atomic.Bool
}

func (n notingMessenger) SendCode(ctx context.Context, m otp.CodeSMS) (otp.Submission, error) {
	sub, err := n.Messenger.SendCode(ctx, m)
	n.sent.Store(true)
	return sub, err
}

// TestRecordHasDeadline: the write that records an SMS outcome outlives
// Google hanging up, but not for ever: it runs under otp.RecordTimeout.
func TestRecordHasDeadline(t *testing.T) {
	w := &recordWatcher{}
	h := newHarness(t,
		withStore(func(s otp.Store) otp.Store { w.Store = s; return w }),
		withMessenger(func(m otp.Messenger) otp.Messenger { return notingMessenger{m, &w.sent} }))
	start := time.Now()
	expect(t, h.sendOtp("s1", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !w.seen:
		t.Fatal("no transaction followed the send")
	case !w.has:
		t.Fatal("the write recording the SMS outcome has no deadline")
	case w.deadline.Sub(start) > otp.RecordTimeout+time.Second || w.deadline.Before(start):
		t.Errorf("its deadline is %s after the request began, want at most otp.RecordTimeout (%s)",
			w.deadline.Sub(start), otp.RecordTimeout)
	}
}
