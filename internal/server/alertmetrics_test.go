package server_test

import (
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// TestBudgetLockoutMetric: otpgate_budget_lockouts_total counts, by method,
// the requests a spent budget refused (the alert on lockouts reads it), and
// not their replays.
func TestBudgetLockoutMetric(t *testing.T) {
	h := newHarness(t, withPolicy(func(p *otp.Policy) {
		p.SendBudgets = []otp.Budget{{Count: 5, Per: time.Hour}}
		p.FailBudgets = []otp.Budget{{Count: 2, Per: time.Hour}}
	}))
	account := map[string]any{"associationId": "as-1"}
	if r := h.sendOtp("s1", account); r.str("result") != "SUCCESS" {
		t.Fatalf("sendOtp: %d %s", r.status, r.raw)
	}
	code := h.lastCode()
	for _, id := range []string{"v1", "v2"} {
		if r := h.verifyOtp(id, "s1", wrongCode(code)); r.str("result") != "OTP_NOT_MATCHED" {
			t.Fatalf("verifyOtp %s: %d %s", id, r.status, r.raw)
		}
	}
	// Every method a budget can refuse starts at 0, so that the alert's
	// rate sees the first lockout.
	for _, method := range []string{"sendOtp", "verifyOtp", "authenticate", "cardVerifyOtp", "resendOtp"} {
		if got := h.metric(`otpgate_budget_lockouts_total{method="` + method + `"}`); got != "0" {
			t.Errorf("lockouts of %s within the budget: %q, want 0", method, got)
		}
	}
	if got := h.metric(`otpgate_budget_lockouts_total{method="echo"}`); got != "" {
		t.Errorf("lockouts of echo, which no budget refuses: %q, want no series", got)
	}
	for range 2 { // the second is Google's retry, a replay
		if r := h.verifyOtp("v3", "s1", code); r.str("result") != "OTP_NOT_MATCHED" {
			t.Fatalf("the right code past the failure budget: %d %s", r.status, r.raw)
		}
		if r := h.sendOtp("s2", account); r.str("result") != "OTP_LIMIT_REACHED" {
			t.Fatalf("sendOtp past the failure budget: %d %s", r.status, r.raw)
		}
	}
	for method, want := range map[string]string{"verifyOtp": "1", "sendOtp": "1"} {
		if got := h.metric(`otpgate_budget_lockouts_total{method="` + method + `"}`); got != want {
			t.Errorf("otpgate_budget_lockouts_total of %s = %q, want %s", method, got, want)
		}
	}
}

// TestSMSSendsStartAtZero: a provider's failed sends are 0 before the first
// failure, not absent, so that the SMS failure alert's rate sees it.
func TestSMSSendsStartAtZero(t *testing.T) {
	h := newHarness(t)
	if got := h.metric(`otpgate_sms_sends_total{outcome="failed",provider="recorder"}`); got != "0" {
		t.Errorf("failed sends before any: %q, want 0", got)
	}
	if r := h.sendOtp("s1", map[string]any{"associationId": "as-1"}); r.str("result") != "SUCCESS" {
		t.Fatalf("sendOtp: %d %s", r.status, r.raw)
	}
	if got := h.metric(`otpgate_sms_sends_total{outcome="accepted",provider="recorder"}`); got != "1" {
		t.Errorf("accepted sends after one: %q, want 1", got)
	}
}

// TestReadyMetric: otpgate_ready says at each scrape what /readyz would:
// 1 while the database answers, 0 once it does not.
func TestReadyMetric(t *testing.T) {
	h := newHarness(t)
	if got := h.metric("otpgate_ready"); got != "1" {
		t.Fatalf("otpgate_ready = %q with the database open, want 1", got)
	}
	h.store.Close()
	if got := h.metric("otpgate_ready"); got != "0" {
		t.Fatalf("otpgate_ready = %q with the database closed, want 0", got)
	}
}
