package server_test

import (
	"fmt"
	"testing"
	"time"
)

// TestGuessBoundOverHTTP: with the default policy an attacker gets exactly
// 20 guesses per account and phone in 24 hours (SPEC §10). Spending the
// failure budget over four codes, then sending a fifth while one failure
// short, leaves a live code with attempts to spare: its first guess is the
// 20th and counts, and the next one, although right, answers OTP_NOT_MATCHED
// without being compared.
func TestGuessBoundOverHTTP(t *testing.T) {
	h := newHarness(t)
	if h.policy.MaxAttempts != 5 || h.policy.FailBudgets[0].Count != 20 {
		t.Fatalf("the defaults changed: %d attempts, %v", h.policy.MaxAttempts, h.policy.FailBudgets)
	}
	as1 := map[string]any{"associationId": "as-1"}
	fails := 0
	for s := 0; fails < 19; s++ {
		expect(t, h.sendOtp(fmt.Sprintf("s%d", s), as1), 200, "result", "SUCCESS")
		code := h.lastCode()
		for a := 0; a < h.policy.MaxAttempts && fails < 19; a++ {
			expect(t, h.verifyOtp(fmt.Sprintf("v%d-%d", s, a), fmt.Sprintf("s%d", s), wrongCode(code)), 200, "result", "OTP_NOT_MATCHED")
			fails++
		}
		h.clock.Advance(16 * time.Minute) // stay inside the send budgets
	}
	expect(t, h.sendOtp("s-last", as1), 200, "result", "SUCCESS")
	code := h.lastCode()
	expect(t, h.verifyOtp("v-20", "s-last", wrongCode(code)), 200, "result", "OTP_NOT_MATCHED")
	expect(t, h.verifyOtp("v-21", "s-last", code), 200, "result", "OTP_NOT_MATCHED")
	if n := h.count("SELECT attempts FROM challenges ORDER BY created_at DESC LIMIT 1"); n != 1 {
		t.Errorf("the last code counted %d attempts, want 1: the 21st guess was compared", n)
	}
	expect(t, h.sendOtp("s-after", as1), 200, "result", "OTP_LIMIT_REACHED")
}
