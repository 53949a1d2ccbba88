package otp_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// The send path's branches that only a crash or a provider outage reach
// (docs/states.md): take-over of a claim whose instance died, withdrawal of
// a resendOtp, and the budget a failed send gives back. They run on the
// in-memory store, so a crash is a goroutine stalled mid-send.

// switchable is a Messenger that fails while down is set, and otherwise
// records what it sends.
type switchable struct {
	*recorder
	down atomic.Bool
}

func (m *switchable) SendCode(ctx context.Context, msg otp.CodeSMS) (otp.Submission, error) {
	if m.down.Load() {
		return otp.Submission{}, errors.New("no provider answers")
	}
	return m.recorder.SendCode(ctx, msg)
}

// outageHarness is a harness over accounts whose SMS go through a
// switchable, with a send budget of 2 an hour: small enough that a test
// sees whether a failed send spent one.
func outageHarness(t *testing.T, accounts ...otp.Account) (*harness, *switchable) {
	t.Helper()
	sms := &switchable{}
	h := newHarnessWith(t, func(c *otp.Config) {
		c.Policy.SendBudgets = []otp.Budget{{Count: 2, Per: time.Hour}}
		sms.recorder = c.Messenger.(*recorder)
		c.Messenger = sms
	}, accounts...)
	return h, sms
}

// stalledHarness is a harness whose at-th SMS goes out and then stalls
// until released, on a clock that moves when told, with a short wait for
// requests in flight.
func stalledHarness(t *testing.T, at int32) (*harness, *stallNth, *clock) {
	t.Helper()
	clk := &clock{t: now}
	stall := &stallNth{at: at, entered: make(chan struct{}), release: make(chan struct{})}
	h := newHarnessWith(t, func(c *otp.Config) {
		c.Now = clk.Now
		c.Policy.InFlightWait = 20 * time.Millisecond
		stall.recorder = c.Messenger.(*recorder)
		c.Messenger = stall
	}, tokenAccounts()...)
	return h, stall, clk
}

// inBackground runs fn in a goroutine and returns its error's channel.
func inBackground(fn func() (otp.Outcome, error)) <-chan error {
	done := make(chan error, 1)
	go func() { _, err := fn(); done <- err }()
	return done
}

// TestTakeOver: a sendOtp whose instance froze after its SMS went out is in
// flight until its claim lapses; then its retry takes it over with a new
// code for the same challenge, and only that code verifies. The frozen
// attempt, when it wakes, finds its claim gone and records nothing.
func TestTakeOver(t *testing.T) {
	ctx := context.Background()
	h, stall, clk := stalledHarness(t, 1)
	send := func() (otp.Outcome, error) { return h.svc.Send(ctx, legacySend("send-1", "send")) }
	first := inBackground(send)
	<-stall.entered
	stale := h.sms.last(t).code
	pending := h.record(t, "", "sendOtp", "send-1")
	if pending == nil || pending.State != otp.RequestPending {
		t.Fatalf("record while its SMS is out: %+v, want pending", pending)
	}

	if out, err := send(); !errors.Is(err, otp.ErrInFlight) {
		t.Errorf("a retry within the claim's lease = %+v, %v; want ErrInFlight", out, err)
	}
	clk.Advance(h.cfg.Policy.ClaimLease)
	out, err := send()
	expect(t, "a retry once the claim lapsed", out, err, otp.SendSuccess)
	fresh := h.sms.last(t).code
	if n := len(h.sms.sent()); n != 2 {
		t.Fatalf("%d SMS, want the frozen one and the take-over's", n)
	}
	done := h.record(t, "", "sendOtp", "send-1")
	if done.State != otp.RequestDone || done.ChallengeID != pending.ChallengeID || done.ClaimToken == pending.ClaimToken {
		t.Errorf("record after the take-over: %+v; want done, the same challenge, a new claim token", done)
	}
	if ch := h.challenge(t, done.ChallengeID); ch.State != otp.ChallengeLive {
		t.Errorf("challenge after the take-over: %s, want live", ch.State)
	}

	close(stall.release)
	if err := <-first; !errors.Is(err, otp.ErrInFlight) {
		t.Errorf("the frozen attempt = %v; want ErrInFlight, its claim taken over", err)
	}
	if again := h.record(t, "", "sendOtp", "send-1"); again.ReplyID != out.ReplyID || again.Result != otp.SendSuccess {
		t.Errorf("the frozen attempt changed the record: %+v", again)
	}
	if stale != fresh {
		out, err = h.svc.Verify(ctx, legacyVerify("verify-stale", "send-1", stale))
		expect(t, "the frozen attempt's code", out, err, otp.VerifyNotMatched)
	}
	out, err = h.svc.Verify(ctx, legacyVerify("verify-fresh", "send-1", fresh))
	expect(t, "the take-over's code", out, err, otp.VerifySuccess)
}

// TestTakeOverOfASupersededSend: a frozen sendOtp whose code a newer send
// of the account superseded cannot be taken over with a valid code: its
// retry ends it with MESSAGE_UNABLE_TO_BE_SENT, texting nothing, and the
// frozen attempt then replays that answer.
func TestTakeOverOfASupersededSend(t *testing.T) {
	ctx := context.Background()
	h, stall, clk := stalledHarness(t, 1)
	send := func(id string) func() (otp.Outcome, error) {
		return func() (otp.Outcome, error) { return h.svc.Send(ctx, legacySend(id, "send "+id)) }
	}
	first := inBackground(send("send-1"))
	<-stall.entered
	out, err := send("send-2")()
	expect(t, "a newer send to the account", out, err, otp.SendSuccess)
	newer := h.sms.last(t).code

	clk.Advance(h.cfg.Policy.ClaimLease)
	out, err = send("send-1")()
	expect(t, "the retry of the superseded send", out, err, otp.SendUnableToSend)
	if n := len(h.sms.sent()); n != 2 {
		t.Errorf("%d SMS, want 2: the take-over of a superseded code texts nothing", n)
	}
	rec := h.record(t, "", "sendOtp", "send-1")
	if ch := h.challenge(t, rec.ChallengeID); ch.State != otp.ChallengeSuperseded {
		t.Errorf("the superseded send's challenge: %s, want superseded", ch.State)
	}

	close(stall.release)
	if err := <-first; err != nil {
		t.Errorf("the frozen attempt: %v; want the stored answer", err)
	}
	if _, err := h.svc.Verify(ctx, legacyVerify("verify-1", "send-1", newer)); !errors.Is(err, otp.ErrUnknownSend) {
		t.Errorf("verifyOtp of the send that could not send: %v, want ErrUnknownSend", err)
	}
	out, err = h.svc.Verify(ctx, legacyVerify("verify-2", "send-2", newer))
	expect(t, "the newer code", out, err, otp.VerifySuccess)
}

// TestResendWithdrawnOnTakeOver: a frozen resendOtp whose code a newer
// resend superseded is withdrawn when retried: ErrSendFailed, no record,
// and the session gets its resend back. The frozen attempt finds no claim;
// a retry after the withdrawal is a new resend.
func TestResendWithdrawnOnTakeOver(t *testing.T) {
	ctx := context.Background()
	h, stall, clk := stalledHarness(t, 2) // the authenticate goes through
	out, err := h.svc.Authenticate(ctx, byCard("auth-1", visaCard.Hash, 2030, 1))
	expect(t, "authenticate", out, err, otp.SendSuccess)
	resend := func(id string) func() (otp.Outcome, error) {
		return func() (otp.Outcome, error) { return h.svc.Resend(ctx, resendOf(id, "auth-1")) }
	}
	first := inBackground(resend("resend-1"))
	<-stall.entered
	out, err = resend("resend-2")()
	expect(t, "a second resend", out, err, otp.ResendSuccess)
	if s := h.record(t, piaid, "authenticate", "auth-1"); s.Sends != 3 {
		t.Fatalf("session after two resends claimed: %d sends, want 3", s.Sends)
	}

	clk.Advance(h.cfg.Policy.ClaimLease)
	if out, err := resend("resend-1")(); !errors.Is(err, otp.ErrSendFailed) {
		t.Errorf("the retry of the superseded resend = %+v, %v; want ErrSendFailed", out, err)
	}
	if r := h.record(t, piaid, "resendOtp", "resend-1"); r != nil {
		t.Errorf("the withdrawn resend left a record: %+v", r)
	}
	if s := h.record(t, piaid, "authenticate", "auth-1"); s.Sends != 2 {
		t.Errorf("session after the withdrawal: %d sends, want 2 (the withdrawn resend given back)", s.Sends)
	}

	close(stall.release)
	if err := <-first; !errors.Is(err, otp.ErrInFlight) {
		t.Errorf("the frozen attempt = %v; want ErrInFlight, its claim withdrawn", err)
	}
	out, err = resend("resend-1")()
	expect(t, "resend-1 again, after its withdrawal", out, err, otp.ResendSuccess)
	code := h.sms.last(t).code
	out, err = h.svc.Verify(ctx, otp.VerifyRequest{Ref: ref(piaid, "cardVerifyOtp", "verify-1", "verify "+code),
		SendRequestID: "auth-1", SendMethod: "authenticate", Code: code})
	expect(t, "the code of the resend after the withdrawal", out, err, otp.VerifySuccess)
}

// TestFailedSendGivesItsBudgetBack: a send that no provider accepts is
// answered MESSAGE_UNABLE_TO_BE_SENT, its code fails, the account's older
// code stays valid, and the send budgets of the account and its phone get
// the send back: an outage spends nothing.
func TestFailedSendGivesItsBudgetBack(t *testing.T) {
	ctx := context.Background()
	h, sms := outageHarness(t, otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive})
	out, err := h.svc.Send(ctx, legacySend("send-1", "send 1"))
	expect(t, "the first send", out, err, otp.SendSuccess)
	code := h.sms.last(t).code

	sms.down.Store(true)
	for _, id := range []string{"fail-1", "fail-2", "fail-3"} {
		out, err := h.svc.Send(ctx, legacySend(id, id))
		expect(t, id+", with no provider up", out, err, otp.SendUnableToSend)
		if ch := h.challenge(t, h.record(t, "", "sendOtp", id).ChallengeID); ch == nil || ch.State != otp.ChallengeFailed {
			t.Errorf("the code of %s: %+v, want a failed one", id, ch)
		}
	}
	sms.down.Store(false)
	out, err = h.svc.Verify(ctx, legacyVerify("verify-1", "send-1", code))
	expect(t, "the code sent before the outage", out, err, otp.VerifySuccess)

	// One of two sends is spent: the failed ones counted nothing.
	out, err = h.svc.Send(ctx, legacySend("send-2", "send 2"))
	expect(t, "the second send", out, err, otp.SendSuccess)
	out, err = h.svc.Send(ctx, legacySend("send-3", "send 3"))
	expect(t, "the third send, over the budget of 2", out, err, otp.SendLimitReached)
}

// TestFailedResendIsWithdrawn: a resendOtp whose SMS no provider accepts
// stores nothing (ErrSendFailed, a 503 that Google retries), gives its
// session the resend back and its budgets the send; its retry sends.
func TestFailedResendIsWithdrawn(t *testing.T) {
	ctx := context.Background()
	h, sms := outageHarness(t, tokenAccounts()...)
	out, err := h.svc.Authenticate(ctx, byCard("auth-1", visaCard.Hash, 2030, 1))
	expect(t, "authenticate", out, err, otp.SendSuccess)

	sms.down.Store(true)
	for range 3 {
		if out, err := h.svc.Resend(ctx, resendOf("resend-1", "auth-1")); !errors.Is(err, otp.ErrSendFailed) {
			t.Errorf("a resend with no provider up = %+v, %v; want ErrSendFailed", out, err)
		}
	}
	if r := h.record(t, piaid, "resendOtp", "resend-1"); r != nil {
		t.Errorf("the failed resend left a record: %+v", r)
	}
	if s := h.record(t, piaid, "authenticate", "auth-1"); s.Sends != 1 {
		t.Errorf("session after failed resends: %d sends, want 1", s.Sends)
	}

	sms.down.Store(false)
	out, err = h.svc.Resend(ctx, resendOf("resend-1", "auth-1"))
	expect(t, "the resend retried once a provider is up (the second send of the budget)", out, err, otp.ResendSuccess)
	out, err = h.svc.Resend(ctx, resendOf("resend-2", "auth-1"))
	expect(t, "another resend, over the send budget", out, err, otp.ResendLimitReached)
}
