package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/server"
)

// gateCodec is the plaintext codec with an Open that waits at a gate: the
// requests it holds keep their slots of MaxInFlight.
type gateCodec struct {
	envelope.Plain
	entered chan struct{} // a value per request that reached Open
	gate    chan struct{} // closed: every Open goes on
}

func newGateCodec() *gateCodec {
	return &gateCodec{entered: make(chan struct{}, 100), gate: make(chan struct{})}
}

func (g *gateCodec) Open(b []byte) ([]byte, error) {
	g.entered <- struct{}{}
	<-g.gate
	return g.Plain.Open(b)
}

// waitEntered waits for n requests to be held at the gate.
func (g *gateCodec) waitEntered(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-g.entered:
		case <-time.After(10 * time.Second):
			t.Fatalf("fewer than %d requests reached the envelope", n)
		}
	}
}

// rawAnswer is an answer read without the harness, from any goroutine.
type rawAnswer struct {
	status int
	body   string
	err    error
}

// postAsync posts an echo in its own goroutine.
func (h *harness) postAsync(requestID string) <-chan rawAnswer {
	body, _ := json.Marshal(map[string]any{"requestHeader": h.header(requestID), "clientMessage": "ping"})
	out := make(chan rawAnswer, 1)
	go func() {
		resp, err := http.Post(h.url+"/v1/echo", "application/json", bytes.NewReader(body))
		if err != nil {
			out <- rawAnswer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- rawAnswer{status: resp.StatusCode, body: string(b), err: err}
	}()
	return out
}

func (a rawAnswer) expect(t *testing.T, what string, status int) {
	t.Helper()
	if a.err != nil || a.status != status {
		t.Errorf("%s: got %d %v %.200s, want %d", what, a.status, a.err, a.body, status)
	}
}

func receive(t *testing.T, what string, c <-chan rawAnswer) rawAnswer {
	t.Helper()
	select {
	case a := <-c:
		return a
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer", what)
		return rawAnswer{}
	}
}

// metric returns the value of one sample of the admin port's /metrics, or
// "" when it is absent.
func (h *harness) metric(sample string) string {
	h.t.Helper()
	_, text := getURL(h.t, h.admin+"/metrics")
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

// waitMetric waits for a sample to read want.
func (h *harness) waitMetric(sample, want string) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.metric(sample) != want {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s is %q, want %q", sample, h.metric(sample), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestShedsBeyondMaxInFlight: with every slot busy and no queue wait, a
// request is answered 503 at once, bare (no body to seal, SPEC §3 allows
// it), and counted; health probes on both ports still answer.
func TestShedsBeyondMaxInFlight(t *testing.T) {
	gc := newGateCodec()
	h := newHarness(t, withCodec(gc), withServer(func(c *server.Config) { c.MaxInFlight, c.QueueWait = 2, 0 }))
	held := []<-chan rawAnswer{h.postAsync("held-1"), h.postAsync("held-2")}
	gc.waitEntered(t, 2)

	shed := receive(t, "a third request", h.postAsync("shed-1"))
	shed.expect(t, "a third request", http.StatusServiceUnavailable)
	if shed.body != "" {
		t.Errorf("the shed answer has a body: %q", shed.body)
	}
	for _, url := range []string{h.url, h.admin} {
		for _, path := range []string{"/healthz", "/readyz"} {
			if s, _ := getURL(t, url+path); s != http.StatusOK {
				t.Errorf("%s%s with every slot busy: %d, want 200", url, path, s)
			}
		}
	}
	if v := h.metric("otpgate_shed_total"); v != "1" {
		t.Errorf("otpgate_shed_total %q, want 1", v)
	}
	if v := h.metric(`otpgate_requests_total{method="echo",result="SHED",status="503"}`); v != "1" {
		t.Errorf(`otpgate_requests_total{result="SHED"} %q, want 1`, v)
	}
	if v := h.metric("otpgate_in_flight_requests"); v != "2" {
		t.Errorf("otpgate_in_flight_requests %q, want 2", v)
	}
	if !strings.Contains(h.logs.String(), `"result":"SHED"`) {
		t.Error("no request line logs the shed request")
	}

	close(gc.gate)
	for i, c := range held {
		receive(t, "a held request", c).expect(t, "held request "+string(rune('1'+i)), http.StatusOK)
	}
	receive(t, "a request after", h.postAsync("after")).expect(t, "a request once the slots are free", http.StatusOK)
}

// TestQueueWait: a request that finds the slots busy waits for one, and is
// served when one frees within the wait; once the wait is over it is shed.
func TestQueueWait(t *testing.T) {
	t.Run("a slot frees", func(t *testing.T) {
		gc := newGateCodec()
		h := newHarness(t, withCodec(gc), withServer(func(c *server.Config) { c.MaxInFlight, c.QueueWait = 1, time.Hour }))
		first := h.postAsync("first")
		gc.waitEntered(t, 1)
		second := h.postAsync("second")
		h.waitMetric("otpgate_queued_requests", "1")
		close(gc.gate)
		receive(t, "first", first).expect(t, "the first request", http.StatusOK)
		receive(t, "second", second).expect(t, "the queued request", http.StatusOK)
		if v := h.metric("otpgate_shed_total"); v != "0" {
			t.Errorf("otpgate_shed_total %q, want 0", v)
		}
		h.waitMetric("otpgate_queued_requests", "0")
	})
	t.Run("the wait ends", func(t *testing.T) {
		gc := newGateCodec()
		h := newHarness(t, withCodec(gc), withServer(func(c *server.Config) { c.MaxInFlight, c.QueueWait = 1, time.Millisecond }))
		first := h.postAsync("first")
		gc.waitEntered(t, 1)
		receive(t, "second", h.postAsync("second")).expect(t, "a request queued past the wait", http.StatusServiceUnavailable)
		close(gc.gate)
		receive(t, "first", first).expect(t, "the first request", http.StatusOK)
		if v := h.metric("otpgate_queued_requests"); v != "0" {
			t.Errorf("otpgate_queued_requests %q after the wait, want 0", v)
		}
	})
}

// gateMessenger holds every SMS at a gate.
type gateMessenger struct {
	otp.Messenger
	entered chan struct{}
	gate    chan struct{}
}

func (g *gateMessenger) SendCode(ctx context.Context, m otp.CodeSMS) (otp.Submission, error) {
	g.entered <- struct{}{}
	<-g.gate
	return g.Messenger.SendCode(ctx, m)
}

// TestSlotFreeWhileSending: a request waiting for the SMS provider does not
// hold its slot, so a slow provider cannot get every other request shed;
// the send then takes a slot again and records its outcome.
func TestSlotFreeWhileSending(t *testing.T) {
	gm := &gateMessenger{entered: make(chan struct{}, 10), gate: make(chan struct{})}
	h := newHarness(t, withServer(func(c *server.Config) { c.MaxInFlight, c.QueueWait = 1, 0 }),
		withMessenger(func(m otp.Messenger) otp.Messenger {
			gm.Messenger = m
			return server.ReleaseSlotWhileSending(gm)
		}))
	body, _ := json.Marshal(map[string]any{"requestHeader": h.header("send-1"), "smsMatchingToken": token, "associationId": "as-1"})
	sent := make(chan rawAnswer, 1)
	go func() {
		resp, err := http.Post(h.url+"/v1/sendOtp", "application/json", bytes.NewReader(body))
		if err != nil {
			sent <- rawAnswer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		sent <- rawAnswer{status: resp.StatusCode, body: string(b)}
	}()
	select {
	case <-gm.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the sendOtp did not reach the SMS provider")
	}
	receive(t, "echo", h.postAsync("echo-1")).expect(t, "an echo while a send waits for its provider", http.StatusOK)
	close(gm.gate)
	a := receive(t, "sendOtp", sent)
	a.expect(t, "the sendOtp", http.StatusOK)
	if !strings.Contains(a.body, `"SUCCESS"`) {
		t.Errorf("sendOtp answered %s, want SUCCESS", a.body)
	}
	if v := h.metric("otpgate_shed_total"); v != "0" {
		t.Errorf("otpgate_shed_total %q, want 0", v)
	}
}
