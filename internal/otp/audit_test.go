package otp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/otpgate/otpgate/internal/otp"
)

// auditLog is an otp.Auditor that keeps the events.
type auditLog struct {
	mu     sync.Mutex
	events []otp.AuditEvent
}

func (a *auditLog) Audit(_ context.Context, e otp.AuditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

// take returns the events since the last take.
func (a *auditLog) take() []otp.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.events
	a.events = nil
	return out
}

// expectAudit compares the events since the last take with want, ignoring
// the ids we draw (challenge).
func expectAudit(t *testing.T, what string, a *auditLog, want ...otp.AuditEvent) {
	t.Helper()
	got := a.take()
	for i := range got {
		if got[i].Challenge == "" && (got[i].Event == otp.AuditSent || got[i].Event == otp.AuditVerified) {
			t.Errorf("%s: event %d names no challenge", what, i)
		}
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(otp.AuditEvent{}, "Challenge"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s: audit events (-want +got):\n%s", what, diff)
	}
}

const masked1 = "+********3210" // phone1 as audit records show it

func auditHarness(t *testing.T, a *auditLog, configure func(*otp.Config)) *harness {
	return newHarnessWith(t, func(cfg *otp.Config) {
		cfg.Auditor = a
		cfg.Policy.SendBudgets = []otp.Budget{{Count: 4, Per: time.Hour}}
		cfg.Policy.FailBudgets = []otp.Budget{{Count: 3, Per: time.Hour}}
		if configure != nil {
			configure(cfg)
		}
	}, tokenAccounts()...)
}

func TestAuditOfTheLegacyFlow(t *testing.T) {
	ctx := context.Background()
	a := &auditLog{}
	h := auditHarness(t, a, nil)
	ev := func(event, method, id, result string) otp.AuditEvent {
		return otp.AuditEvent{Event: event, Method: method, RequestID: id, Result: result, AccountID: "A1", Phone: masked1}
	}

	out, err := h.svc.Send(ctx, legacySend("send-1", "send-1"))
	expect(t, "sendOtp", out, err, otp.SendSuccess)
	sent := ev(otp.AuditSent, "sendOtp", "send-1", otp.SendSuccess)
	sent.Provider = "recorder"
	expectAudit(t, "sendOtp", a, sent)
	code := h.sms.last(t).code

	out, err = h.svc.Send(ctx, legacySend("send-1", "send-1"))
	expect(t, "a replay", out, err, otp.SendSuccess)
	expectAudit(t, "a replay is no new outcome", a)

	out, err = h.svc.Verify(ctx, legacyVerify("verify-1", "send-1", wrong(code)))
	expect(t, "a wrong guess", out, err, otp.VerifyNotMatched)
	failed := ev(otp.AuditVerifyFailed, "verifyOtp", "verify-1", otp.VerifyNotMatched)
	failed.Attempt, failed.Reason = 1, "mismatch"
	expectAudit(t, "a wrong guess", a, failed)

	out, err = h.svc.Verify(ctx, legacyVerify("verify-2", "send-1", code))
	expect(t, "the code", out, err, otp.VerifySuccess)
	verified := ev(otp.AuditVerified, "verifyOtp", "verify-2", otp.VerifySuccess)
	verified.Attempt = 2
	expectAudit(t, "the code", a, verified)

	out, err = h.svc.Verify(ctx, legacyVerify("verify-3", "send-1", code))
	expect(t, "the code again", out, err, otp.VerifyAlreadyUsed)
	used := ev(otp.AuditVerifyFailed, "verifyOtp", "verify-3", otp.VerifyAlreadyUsed)
	used.Reason = "already_used"
	expectAudit(t, "the code again", a, used)

	out, err = h.svc.Send(ctx, otp.SendRequest{Ref: ref("", "sendOtp", "send-2", "send-2"), Phone: "+919999999999", PhoneValid: true})
	expect(t, "an unknown phone", out, err, otp.SendUnknownPhone)
	expectAudit(t, "an unknown phone", a, otp.AuditEvent{Event: otp.AuditRefused, Method: "sendOtp", RequestID: "send-2", Result: otp.SendUnknownPhone})

	// Two more wrong guesses spend the failure budget of 3; the next guess
	// is not compared.
	for _, id := range []string{"verify-4", "verify-5"} {
		h.svc.Verify(ctx, legacyVerify(id, "send-1", wrong(code)))
	}
	a.take()
	out, err = h.svc.Verify(ctx, legacyVerify("verify-6", "send-1", code))
	expect(t, "past the failure budget", out, err, otp.VerifyNotMatched)
	locked := ev(otp.AuditLockedOut, "verifyOtp", "verify-6", otp.VerifyNotMatched)
	locked.Reason = "budget"
	expectAudit(t, "past the failure budget", a, locked)
}

func TestAuditOfTheCardFlow(t *testing.T) {
	ctx := context.Background()
	a := &auditLog{}
	h := auditHarness(t, a, nil)
	ev := func(event, method, id, result string) otp.AuditEvent {
		return otp.AuditEvent{Event: event, Method: method, Scope: piaid, RequestID: id, Result: result, AccountID: "A1", Phone: masked1}
	}
	out, err := h.svc.Authenticate(ctx, byCard("auth-1", visaCard.Hash, 2030, 1))
	expect(t, "authenticate", out, err, otp.SendSuccess)
	sent := ev(otp.AuditSent, "authenticate", "auth-1", otp.SendSuccess)
	sent.Provider = "recorder"
	expectAudit(t, "authenticate", a, sent)

	h.cfg.Policy.Cards = otp.CardPolicy{SessionLifetime: time.Hour, MaxResends: 1}
	h.restart(t, nil)
	out, err = h.svc.Resend(ctx, resendOf("resend-1", "auth-1"))
	expect(t, "resendOtp", out, err, otp.ResendSuccess)
	resent := ev(otp.AuditResent, "resendOtp", "resend-1", otp.ResendSuccess)
	resent.Provider = "recorder"
	expectAudit(t, "resendOtp", a, resent)

	out, err = h.svc.Resend(ctx, resendOf("resend-2", "auth-1"))
	expect(t, "a resend past the limit", out, err, otp.ResendLimitReached)
	expectAudit(t, "a resend past the limit", a, otp.AuditEvent{Event: otp.AuditLockedOut, Method: "resendOtp", Scope: piaid,
		RequestID: "resend-2", Result: otp.ResendLimitReached, Reason: "max_resends"})

	out, err = h.svc.Authenticate(ctx, byCard("auth-2", cardHasher.Hash("4000000000000002"), 2030, 1))
	expect(t, "an unknown card", out, err, otp.AuthCardUnknown)
	expectAudit(t, "an unknown card", a, otp.AuditEvent{Event: otp.AuditRefused, Method: "authenticate", Scope: piaid,
		RequestID: "auth-2", Result: otp.AuthCardUnknown})

	// Two more sends spend the send budget of 4 (authenticate and its
	// resend were two); the next authenticate is locked out.
	for _, id := range []string{"auth-3", "auth-4"} {
		out, err := h.svc.Authenticate(ctx, byCard(id, visaCard.Hash, 2030, 1))
		expect(t, id, out, err, otp.SendSuccess)
	}
	a.take()
	out, err = h.svc.Authenticate(ctx, byCard("auth-5", visaCard.Hash, 2030, 1))
	expect(t, "past the send budget", out, err, otp.SendLimitReached)
	locked := ev(otp.AuditLockedOut, "authenticate", "auth-5", otp.SendLimitReached)
	locked.Reason = "budget"
	expectAudit(t, "past the send budget", a, locked)

	out, err = h.svc.Resend(ctx, resendOf("resend-3", "auth-4"))
	expect(t, "a resend past the send budget", out, err, otp.ResendLimitReached)
	locked = ev(otp.AuditLockedOut, "resendOtp", "resend-3", otp.ResendLimitReached)
	locked.Reason = "budget"
	expectAudit(t, "a resend past the send budget", a, locked)
}

// failing is a Messenger that no provider accepts.
type failing struct{}

func (failing) SendCode(context.Context, otp.CodeSMS) (otp.Submission, error) {
	return otp.Submission{}, errors.New("gateway said no to +919876543210")
}

func TestAuditOfAnSMSNotAccepted(t *testing.T) {
	a := &auditLog{}
	h := auditHarness(t, a, func(cfg *otp.Config) { cfg.Messenger = failing{} })
	out, err := h.svc.Send(context.Background(), legacySend("send-1", "send-1"))
	expect(t, "sendOtp", out, err, otp.SendUnableToSend)
	got := a.take()
	want := []otp.AuditEvent{{Event: otp.AuditSendFailed, Method: "sendOtp", RequestID: "send-1", Result: otp.SendUnableToSend,
		AccountID: "A1", Phone: masked1, Reason: "not_accepted"}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(otp.AuditEvent{}, "Challenge")); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if s := fmt.Sprintf("%+v", got); strings.Contains(s, "9876543210") {
		t.Fatalf("the provider's error (quoting the number) reached the audit: %s", s)
	}
}

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{
		"+919876543210": "+********3210",
		"+1234":         "+****",
		"":              "",
		"12345":         "*2345",
	} {
		if got := otp.MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}
