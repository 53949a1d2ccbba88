package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

func TestSendOtpResults(t *testing.T) {
	tests := []struct {
		name    string
		account map[string]any
		want    string
		sms     int
	}{
		{"success by phone", map[string]any{"accountPhoneNumber": "+919876543210"}, "SUCCESS", 1},
		{"success by association", map[string]any{"associationId": "as-1"}, "SUCCESS", 1},
		{"success by both", map[string]any{"associationId": "as-1", "accountPhoneNumber": "+919876543210"}, "SUCCESS", 1},
		{"phone not E.164", map[string]any{"accountPhoneNumber": "919876543210"}, "INVALID_PHONE_NUMBER", 0},
		{"phone with spaces", map[string]any{"accountPhoneNumber": "+91 98765 43210"}, "INVALID_PHONE_NUMBER", 0},
		{"phone not a number of its country", map[string]any{"accountPhoneNumber": "+9112"}, "INVALID_PHONE_NUMBER", 0},
		{"unknown phone", map[string]any{"accountPhoneNumber": "+919800000001"}, "UNKNOWN_PHONE_NUMBER", 0},
		{"phone of another account", map[string]any{"associationId": "as-1", "accountPhoneNumber": "+919812345678"}, "PHONE_NUMBER_NOT_ASSOCIATED_WITH_ACCOUNT", 0},
		{"closed", map[string]any{"associationId": "as-closed"}, "ACCOUNT_CLOSED", 0},
		{"taken over", map[string]any{"associationId": "as-taken"}, "ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER", 0},
		{"fraud", map[string]any{"associationId": "as-fraud"}, "ACCOUNT_CLOSED_FRAUD", 0},
		{"closed, found by phone", map[string]any{"accountPhoneNumber": "+919811111111"}, "NOT_ELIGIBLE", 0},
		{"not eligible", map[string]any{"associationId": "as-ne"}, "NOT_ELIGIBLE", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.sendOtp("req-1", tc.account)
			expect(t, r, http.StatusOK, "result", tc.want)
			if r.str("paymentIntegratorSendOtpId") == "" {
				t.Error("no paymentIntegratorSendOtpId")
			}
			if got := len(h.sms.Messages()); got != tc.sms {
				t.Errorf("%d SMS sent, want %d", got, tc.sms)
			}
			if tc.sms == 1 {
				m, _ := h.sms.Last()
				if m.To != "+919876543210" {
					t.Errorf("SMS to %s", m.To)
				}
			}
		})
	}
}

func TestSendOtpUnknownAssociationIs404(t *testing.T) {
	h := newHarness(t)
	before := h.rowCounts()
	r := h.sendOtp("req-1", map[string]any{"associationId": "as-nobody"})
	expect(t, r, http.StatusNotFound, "errorResponseCode", "INVALID_IDENTIFIER")
	if want := `associationId "as-nobody"`; !strings.Contains(r.str("errorDescription"), want) {
		t.Errorf("description %q does not name %s", r.str("errorDescription"), want)
	}
	if after := h.rowCounts(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("rows changed: %v → %v", before, after)
	}
}

func TestSendOtpLimitReached(t *testing.T) {
	h := newHarness(t)
	for i := range 5 {
		expect(t, h.sendOtp(fmt.Sprintf("send-%d", i), map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
		h.clock.Advance(time.Minute)
	}
	expect(t, h.sendOtp("send-5", map[string]any{"associationId": "as-1"}), 200, "result", "OTP_LIMIT_REACHED")
	// The phone's budget is spent too, whichever way the account is named.
	expect(t, h.sendOtp("send-6", map[string]any{"accountPhoneNumber": "+919876543210"}), 200, "result", "OTP_LIMIT_REACHED")
	if n := len(h.sms.Messages()); n != 5 {
		t.Errorf("%d SMS, want 5", n)
	}
	// Another account is not affected.
	expect(t, h.sendOtp("send-7", map[string]any{"associationId": "as-2"}), 200, "result", "SUCCESS")
	// The 15-minute window slides: 15 minutes after the first send, one more fits.
	h.clock.Advance(11 * time.Minute)
	expect(t, h.sendOtp("send-8", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
}

func TestSendOtpDailyBudget(t *testing.T) {
	h := newHarness(t)
	for i := range 10 {
		expect(t, h.sendOtp(fmt.Sprintf("send-%d", i), map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
		h.clock.Advance(20 * time.Minute)
	}
	expect(t, h.sendOtp("send-10", map[string]any{"associationId": "as-1"}), 200, "result", "OTP_LIMIT_REACHED")
	h.clock.Advance(24 * time.Hour)
	expect(t, h.sendOtp("send-11", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
}

func TestSendOtpMessageUnableToBeSent(t *testing.T) {
	h := newHarness(t)
	h.sms.Fail(errors.New("gateway said 500"))
	r := h.sendOtp("req-1", map[string]any{"associationId": "as-1"})
	expect(t, r, 200, "result", "MESSAGE_UNABLE_TO_BE_SENT")
	// Its code was never delivered, so no verifyOtp can refer to it.
	expect(t, h.verifyOtp("v-1", "req-1", "123456"), 404, "errorResponseCode", "INVALID_IDENTIFIER")
	// The answer is a 200, so a retry replays it without a second attempt.
	h.sms.Fail(nil)
	expect(t, h.sendOtp("req-1", map[string]any{"associationId": "as-1"}), 200, "result", "MESSAGE_UNABLE_TO_BE_SENT")
	if n := h.sms.Attempts(); n != 1 {
		t.Errorf("%d send attempts, want 1", n)
	}
	expect(t, h.sendOtp("req-2", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
}

func TestVerifyOtpOutcomes(t *testing.T) {
	t.Run("success then already used", func(t *testing.T) {
		h := newHarness(t)
		expect(t, h.sendOtp("s1", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
		code := h.lastCode()
		r := h.verifyOtp("v1", "s1", code)
		expect(t, r, 200, "result", "SUCCESS")
		if r.str("paymentIntegratorVerifyOtpId") == "" {
			t.Error("no paymentIntegratorVerifyOtpId")
		}
		expect(t, h.verifyOtp("v2", "s1", code), 200, "result", "OTP_ALREADY_USED")
		expect(t, h.verifyOtp("v3", "s1", wrongCode(code)), 200, "result", "OTP_NOT_MATCHED")
	})
	t.Run("wrong code then right code", func(t *testing.T) {
		h := newHarness(t)
		h.sendOtp("s1", map[string]any{"associationId": "as-1"})
		code := h.lastCode()
		expect(t, h.verifyOtp("v1", "s1", wrongCode(code)), 200, "result", "OTP_NOT_MATCHED")
		expect(t, h.verifyOtp("v2", "s1", "not-digits"), 200, "result", "OTP_NOT_MATCHED")
		expect(t, h.verifyOtp("v3", "s1", code), 200, "result", "SUCCESS")
	})
	t.Run("expired", func(t *testing.T) {
		h := newHarness(t)
		h.sendOtp("s1", map[string]any{"associationId": "as-1"})
		code := h.lastCode()
		h.clock.Advance(h.policy.Lifetime - time.Millisecond)
		expect(t, h.verifyOtp("v1", "s1", wrongCode(code)), 200, "result", "OTP_NOT_MATCHED")
		h.clock.Advance(time.Millisecond)
		expect(t, h.verifyOtp("v2", "s1", code), 200, "result", "OTP_NOT_MATCHED")
	})
	t.Run("superseded by a newer send", func(t *testing.T) {
		h := newHarness(t)
		h.sendOtp("s1", map[string]any{"associationId": "as-1"})
		old := h.lastCode()
		h.sendOtp("s2", map[string]any{"accountPhoneNumber": "+919876543210"})
		fresh := h.lastCode()
		if old == fresh {
			t.Skip("the two codes happen to be equal (1 in a million)")
		}
		expect(t, h.verifyOtp("v1", "s1", old), 200, "result", "OTP_NOT_MATCHED")
		expect(t, h.verifyOtp("v2", "s2", fresh), 200, "result", "SUCCESS")
	})
	t.Run("attempt cap, then OTP_LIMIT_REACHED on the next send", func(t *testing.T) {
		h := newHarness(t, withPolicy(func(p *otp.Policy) {
			p.FailBudgets = []otp.Budget{{Count: p.MaxAttempts, Per: 24 * time.Hour}}
		}))
		h.sendOtp("s1", map[string]any{"associationId": "as-1"})
		code := h.lastCode()
		for i := range h.policy.MaxAttempts {
			expect(t, h.verifyOtp(fmt.Sprintf("v%d", i), "s1", wrongCode(code)), 200, "result", "OTP_NOT_MATCHED")
		}
		// The challenge is dead: even the right code fails now.
		expect(t, h.verifyOtp("v-right", "s1", code), 200, "result", "OTP_NOT_MATCHED")
		expect(t, h.sendOtp("s2", map[string]any{"associationId": "as-1"}), 200, "result", "OTP_LIMIT_REACHED")
		if n := len(h.sms.Messages()); n != 1 {
			t.Errorf("%d SMS, want 1", n)
		}
	})
	t.Run("failure budget with the default policy", func(t *testing.T) {
		h := newHarness(t)
		fails := 0
		for s := 0; fails < 20; s++ {
			h.clock.Advance(20 * time.Minute) // stay inside the send budgets
			expect(t, h.sendOtp(fmt.Sprintf("s%d", s), map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
			code := h.lastCode()
			for a := 0; a < h.policy.MaxAttempts && fails < 20; a++ {
				expect(t, h.verifyOtp(fmt.Sprintf("v%d-%d", s, a), fmt.Sprintf("s%d", s), wrongCode(code)), 200, "result", "OTP_NOT_MATCHED")
				fails++
			}
		}
		expect(t, h.sendOtp("s-last", map[string]any{"associationId": "as-1"}), 200, "result", "OTP_LIMIT_REACHED")
	})
	t.Run("unknown sendOtpRequestId", func(t *testing.T) {
		h := newHarness(t)
		r := h.verifyOtp("v1", "never-sent", "123456")
		expect(t, r, 404, "errorResponseCode", "INVALID_IDENTIFIER")
		if !strings.Contains(r.str("errorDescription"), "sendOtpRequestId") {
			t.Errorf("description %q does not name the identifier", r.str("errorDescription"))
		}
	})
	t.Run("sendOtp that did not succeed", func(t *testing.T) {
		h := newHarness(t)
		expect(t, h.sendOtp("s1", map[string]any{"accountPhoneNumber": "+919800000001"}), 200, "result", "UNKNOWN_PHONE_NUMBER")
		expect(t, h.verifyOtp("v1", "s1", "123456"), 404, "errorResponseCode", "INVALID_IDENTIFIER")
	})
	t.Run("a verifyOtp requestId is not a sendOtp", func(t *testing.T) {
		h := newHarness(t)
		h.sendOtp("s1", map[string]any{"associationId": "as-1"})
		h.verifyOtp("v1", "s1", "000000")
		expect(t, h.verifyOtp("v2", "v1", "000000"), 404, "errorResponseCode", "INVALID_IDENTIFIER")
	})
}

// TestFailedSendsSpendNoBudgetAndKeepTheCode: an SMS the provider refused
// is not counted against the send budget, and the code the user already
// has stays valid.
func TestFailedSendsSpendNoBudgetAndKeepTheCode(t *testing.T) {
	h := newHarness(t)
	expect(t, h.sendOtp("s-ok", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	delivered := h.lastCode()
	h.sms.Fail(errors.New("provider down"))
	for i := range 6 {
		expect(t, h.sendOtp(fmt.Sprintf("s-fail-%d", i), map[string]any{"associationId": "as-1"}), 200, "result", "MESSAGE_UNABLE_TO_BE_SENT")
	}
	h.sms.Fail(nil)
	expect(t, h.verifyOtp("v-1", "s-ok", delivered), 200, "result", "SUCCESS")
	// One success so far: four more fit the 5-per-15-minutes budget.
	for i := range 4 {
		expect(t, h.sendOtp(fmt.Sprintf("s-more-%d", i), map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	}
	expect(t, h.sendOtp("s-over", map[string]any{"associationId": "as-1"}), 200, "result", "OTP_LIMIT_REACHED")
}

// slowMessenger delays every send, as a slow SMS provider would.
type slowMessenger struct {
	otp.Messenger
	delay time.Duration
}

func (s slowMessenger) SendCode(ctx context.Context, m otp.CodeSMS) (otp.Submission, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return otp.Submission{}, ctx.Err()
	}
	return s.Messenger.SendCode(ctx, m)
}

// TestHangUpDuringTheSendIsNotAFailure: Google giving up while the provider
// is slow must not turn the send into a recorded, replayed failure.
func TestHangUpDuringTheSendIsNotAFailure(t *testing.T) {
	h := newHarness(t, withMessenger(func(m otp.Messenger) otp.Messenger { return slowMessenger{m, 300 * time.Millisecond} }))
	body, _ := json.Marshal(map[string]any{"requestHeader": h.header("s1"), "smsMatchingToken": token, "associationId": "as-1"})
	impatient := &http.Client{Timeout: 50 * time.Millisecond}
	if resp, err := impatient.Post(h.url+"/v1/sendOtp", "application/json", bytes.NewReader(body)); err == nil {
		resp.Body.Close()
		t.Fatal("the impatient client got an answer")
	}
	time.Sleep(500 * time.Millisecond) // the send and its record finish meanwhile
	expect(t, h.sendOtp("s1", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	if n := len(h.sms.Messages()); n != 1 {
		t.Errorf("%d SMS, want 1", n)
	}
	expect(t, h.verifyOtp("v1", "s1", h.lastCode()), 200, "result", "SUCCESS")
}
