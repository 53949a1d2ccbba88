package otp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// guesser plays an attacker against one harness: it sends codes to accounts
// by phone and guesses them wrong.
type guesser struct {
	t     *testing.T
	h     *harness
	clock *clock
	n     int // requests so far, for their ids
}

func (g *guesser) id(kind string) string {
	g.n++
	return fmt.Sprintf("%s-%d", kind, g.n)
}

// send sends a code to the account of phone by association id and returns
// the request's id and the code.
func (g *guesser) send(association, want string) (string, string) {
	g.t.Helper()
	id := g.id("send")
	out, err := g.h.svc.Send(context.Background(), otp.SendRequest{Ref: ref("", "sendOtp", id, id), AssociationID: association})
	expect(g.t, "sendOtp "+id, out, err, want)
	if want != otp.SendSuccess {
		return id, ""
	}
	return id, g.h.sms.last(g.t).code
}

func (g *guesser) verify(sendID, code, want string) {
	g.t.Helper()
	id := g.id("verify")
	out, err := g.h.svc.Verify(context.Background(), otp.VerifyRequest{Ref: ref("", "verifyOtp", id, id+" "+code),
		SendRequestID: sendID, SendMethod: "sendOtp", Code: code})
	expect(g.t, "verifyOtp "+id, out, err, want)
}

// attempts is how many guesses the challenge of a send has counted.
func (g *guesser) attempts(sendID string) int {
	g.t.Helper()
	rec := g.h.record(g.t, "", "sendOtp", sendID)
	var ch *otp.Challenge
	err := g.h.store.Tx(context.Background(), func(tx otp.Tx) (err error) {
		ch, err = tx.LockChallenge(rec.ChallengeID)
		return err
	})
	if err != nil || ch == nil {
		g.t.Fatalf("challenge of %s: %v, %v", sendID, ch, err)
	}
	return ch.Attempts
}

func newGuesser(t *testing.T, accounts ...otp.Account) *guesser {
	c := &clock{t: now}
	h := newHarnessWith(t, func(cfg *otp.Config) { cfg.Now = c.Now }, accounts...)
	return &guesser{t: t, h: h, clock: c}
}

// TestGuessBound: with the default policy the failure budget, 20 per 24 h, is
// a hard bound on guesses (SPEC §10). Spent across several codes, it stops
// the guesses at a code that still has attempts left: the 21st guess is
// answered OTP_NOT_MATCHED without being compared, even when it is right.
func TestGuessBound(t *testing.T) {
	p := otp.DefaultPolicy()
	if p.FailBudgets[0] != (otp.Budget{Count: 20, Per: 24 * time.Hour}) || p.MaxAttempts != 5 {
		t.Fatalf("the defaults changed: %v, %d attempts; this test counts on 20/24h and 5", p.FailBudgets, p.MaxAttempts)
	}
	t.Run("per account", func(t *testing.T) {
		g := newGuesser(t, otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive, AssociationIDs: []string{"as-1"}})
		// 19 wrong guesses over four codes, inside the send budgets.
		for fails := 0; fails < 19; {
			sendID, code := g.send("as-1", otp.SendSuccess)
			for a := 0; a < p.MaxAttempts && fails < 19; a++ {
				g.verify(sendID, wrong(code), otp.VerifyNotMatched)
				fails++
			}
			g.clock.Advance(16 * time.Minute)
		}
		// One short of the budget, a new code goes out, with 5 attempts.
		sendID, code := g.send("as-1", otp.SendSuccess)
		g.verify(sendID, wrong(code), otp.VerifyNotMatched) // the 20th: compared
		if n := g.attempts(sendID); n != 1 {
			t.Fatalf("the 20th guess: %d attempts counted, want 1", n)
		}
		g.verify(sendID, code, otp.VerifyNotMatched) // the 21st: right, and not compared
		if n := g.attempts(sendID); n != 1 {
			t.Errorf("a guess past the budget was counted: %d attempts, want 1", n)
		}
		g.send("as-1", otp.SendLimitReached)
		// Until the window frees up: the first failures are 24 h old.
		g.clock.Advance(24*time.Hour - 4*16*time.Minute)
		g.verify(sendID, code, otp.VerifyNotMatched) // expired by now
		sendID, code = g.send("as-1", otp.SendSuccess)
		g.verify(sendID, code, otp.VerifySuccess)
	})
	t.Run("per phone", func(t *testing.T) {
		// Two accounts share a phone: failures on one spend the phone's
		// budget, and the other's live code takes no more guesses.
		g := newGuesser(t,
			otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive, AssociationIDs: []string{"as-1"}},
			otp.Account{ID: "A2", Phone: phone1, Status: otp.StatusActive, AssociationIDs: []string{"as-2"}})
		fails := 0
		for range 3 {
			sendID, code := g.send("as-1", otp.SendSuccess)
			for range p.MaxAttempts {
				g.verify(sendID, wrong(code), otp.VerifyNotMatched)
				fails++
			}
			g.clock.Advance(16 * time.Minute)
		}
		other, otherCode := g.send("as-2", otp.SendSuccess)
		sendID, code := g.send("as-1", otp.SendSuccess)
		for range p.MaxAttempts {
			g.verify(sendID, wrong(code), otp.VerifyNotMatched)
			fails++
		}
		if fails != 20 {
			t.Fatalf("%d failures, want 20", fails)
		}
		g.verify(other, otherCode, otp.VerifyNotMatched)
		if n := g.attempts(other); n != 0 {
			t.Errorf("a guess past the phone's budget was counted: %d attempts, want 0", n)
		}
	})
}
