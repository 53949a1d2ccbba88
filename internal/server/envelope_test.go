package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/otp"
)

// failingCodec refuses every body the way a real envelope refuses a bad one.
type failingCodec struct {
	envelope.Plain
	err error
}

func (f failingCodec) Open([]byte) ([]byte, error) { return nil, f.err }
func (failingCodec) Name() string                  { return "failing" }

func TestEnvelopeFailures(t *testing.T) {
	t.Run("undecryptable", func(t *testing.T) {
		h := newHarness(t, withCodec(failingCodec{err: envelope.ErrUndecryptable}))
		r := h.sendOtp("s1", map[string]any{"associationId": "as-1"})
		expect(t, r, http.StatusBadRequest, "errorResponseCode", "INVALID_PAYLOAD_ENCRYPTION")
	})
	t.Run("bad signature: status and an empty body", func(t *testing.T) {
		h := newHarness(t, withCodec(failingCodec{err: envelope.ErrBadSignature}))
		r := h.sendOtp("s1", map[string]any{"associationId": "as-1"})
		if r.status != http.StatusUnauthorized || r.raw != "" {
			t.Fatalf("got %d %q, want 401 and no body", r.status, r.raw)
		}
		if h.rowCounts()["requests"] != 0 || len(h.sms.Messages()) != 0 {
			t.Error("an unsigned request had an effect")
		}
	})
}

func TestPurgeEndsReplay(t *testing.T) {
	h := newHarness(t)
	expect(t, h.sendOtp("s1", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	h.clock.Advance(29 * 24 * time.Hour)
	if _, err := h.svc.Purge(context.Background(), otp.DefaultRetention()); err != nil {
		t.Fatal(err)
	}
	if h.count("SELECT COUNT(*) FROM requests") != 1 {
		t.Fatal("a record within retention was purged")
	}
	if h.count("SELECT COUNT(*) FROM challenges") != 0 || h.count("SELECT COUNT(*) FROM events") != 0 {
		t.Error("an expired challenge or an old budget event survived the purge")
	}
	h.clock.Advance(2 * 24 * time.Hour)
	if _, err := h.svc.Purge(context.Background(), otp.DefaultRetention()); err != nil {
		t.Fatal(err)
	}
	if n := h.count("SELECT COUNT(*) FROM requests"); n != 0 {
		t.Fatalf("%d records past retention survived", n)
	}
	// Past retention, the requestId is new again.
	expect(t, h.sendOtp("s1", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	if n := len(h.sms.Messages()); n != 2 {
		t.Errorf("%d SMS, want 2", n)
	}
}
