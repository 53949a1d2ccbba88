package otp_test

import (
	"context"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// lockoutHarness is a Service whose budgets are small: 2 sends and 2 failed
// verifications per hour.
func lockoutHarness(t *testing.T) *harness {
	return newHarnessWith(t, func(cfg *otp.Config) {
		cfg.Policy.SendBudgets = []otp.Budget{{Count: 2, Per: time.Hour}}
		cfg.Policy.FailBudgets = []otp.Budget{{Count: 2, Per: time.Hour}}
	}, tokenAccounts()...)
}

// expectLocked fails the test unless out is the result want with LockedOut
// as locked.
func expectLocked(t *testing.T, what string, out otp.Outcome, err error, want string, locked bool) {
	t.Helper()
	expect(t, what, out, err, want)
	if out.LockedOut != locked {
		t.Errorf("%s: LockedOut = %v, want %v", what, out.LockedOut, locked)
	}
}

// TestLockedOut: the outcome says when a budget, and only a budget, refused
// the request, and only on the request that met it: a replay of it is not
// a second lockout (otpgate_budget_lockouts_total counts these).
func TestLockedOut(t *testing.T) {
	ctx := context.Background()
	t.Run("sendOtp", func(t *testing.T) {
		h := lockoutHarness(t)
		for _, id := range []string{"send-1", "send-2"} {
			out, err := h.svc.Send(ctx, legacySend(id, id))
			expectLocked(t, id, out, err, otp.SendSuccess, false)
		}
		out, err := h.svc.Send(ctx, legacySend("send-3", "send-3"))
		expectLocked(t, "the third send", out, err, otp.SendLimitReached, true)
		out, err = h.svc.Send(ctx, legacySend("send-3", "send-3"))
		expectLocked(t, "a replay of the third send", out, err, otp.SendLimitReached, false)
	})
	t.Run("verifyOtp", func(t *testing.T) {
		h := lockoutHarness(t)
		out, err := h.svc.Send(ctx, legacySend("send-1", "send-1"))
		expectLocked(t, "send", out, err, otp.SendSuccess, false)
		code := h.sms.last(t).code
		for _, id := range []string{"verify-1", "verify-2"} {
			out, err := h.svc.Verify(ctx, legacyVerify(id, "send-1", wrong(code)))
			expectLocked(t, id+" (a wrong guess)", out, err, otp.VerifyNotMatched, false)
		}
		// The budget is spent: even the right code is not compared.
		out, err = h.svc.Verify(ctx, legacyVerify("verify-3", "send-1", code))
		expectLocked(t, "the right code past the failure budget", out, err, otp.VerifyNotMatched, true)
		out, err = h.svc.Verify(ctx, legacyVerify("verify-3", "send-1", code))
		expectLocked(t, "a replay of it", out, err, otp.VerifyNotMatched, false)
	})
	t.Run("resendOtp", func(t *testing.T) {
		h := lockoutHarness(t)
		out, err := h.svc.Authenticate(ctx, byCard("auth-1", visaCard.Hash, 2030, 1))
		expectLocked(t, "authenticate", out, err, otp.SendSuccess, false)
		resend := func(id string) (otp.Outcome, error) {
			return h.svc.Resend(ctx, otp.ResendRequest{Ref: ref(piaid, "resendOtp", id, id),
				AuthenticateRequestID: "auth-1", SessionMethod: "authenticate"})
		}
		out, err = resend("resend-1")
		expectLocked(t, "the first resend", out, err, otp.ResendSuccess, false)
		out, err = resend("resend-2")
		expectLocked(t, "a resend past the send budget", out, err, otp.ResendLimitReached, true)
	})
	t.Run("resendOtp past its own limit", func(t *testing.T) {
		h := lockoutHarness(t) // 2 sends an hour: one authenticate, one resend
		h.cfg.Policy.Cards = otp.CardPolicy{SessionLifetime: time.Hour, MaxResends: 0}
		h.restart(t, nil)
		out, err := h.svc.Authenticate(ctx, byCard("auth-1", visaCard.Hash, 2030, 1))
		expectLocked(t, "authenticate", out, err, otp.SendSuccess, false)
		out, err = h.svc.Resend(ctx, otp.ResendRequest{Ref: ref(piaid, "resendOtp", "resend-1", "resend-1"),
			AuthenticateRequestID: "auth-1", SessionMethod: "authenticate"})
		// The session's resend limit is no budget of the account's.
		expectLocked(t, "a resend past --max-resends", out, err, otp.ResendLimitReached, false)
	})
}
