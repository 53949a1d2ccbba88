package otp_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/otp"
)

// inrCard is what the SMS of the tests' authenticates states, by the last
// four digits it names.
func inrCard(last4 string) *otp.CardSMS {
	return &otp.CardSMS{AmountMicros: 728_000_000, CurrencyCode: "INR", Last4: last4}
}

func resendOf(id, authID string) otp.ResendRequest {
	return otp.ResendRequest{Ref: ref(piaid, "resendOtp", id, "resend "+id),
		AuthenticateRequestID: authID, SessionMethod: "authenticate"}
}

// TestCardSMS: an authenticate's SMS carries its amount and the card's last
// four digits, and each resendOtp, which names only the session, carries
// them again; a sendOtp's carries its token and no card.
func TestCardSMS(t *testing.T) {
	ctx := context.Background()
	withToken := func(r otp.AuthenticateRequest, last4 string) otp.AuthenticateRequest {
		r.Last4 = last4
		return r
	}
	for _, c := range []struct {
		name string
		req  otp.AuthenticateRequest
		want *otp.CardSMS
	}{
		// The server passes a card number's last four: the directory's are
		// the same, and are what an authenticate without them states.
		{"card, last four given", withToken(byCard("auth-1", visaCard.Hash, 2030, 1), "1111"), inrCard("1111")},
		{"card, last four from the directory", byCard("auth-1", visaCard.Hash, 2030, 1), inrCard("1111")},
		// A token's last4DigitsOnCard are the funding card's, which the
		// user knows: they win over the token number's own.
		{"token with last4DigitsOnCard", withToken(byToken("auth-1", openToken.Hash, 0, 0), "1111"), inrCard("1111")},
		{"token without them: the token's own", byToken("auth-1", datedToken.Hash, 0, 0), inrCard("9999")},
		{"another currency and amount", func() otp.AuthenticateRequest {
			r := byCard("auth-1", visaCard.Hash, 2030, 1)
			r.AmountMicros, r.CurrencyCode = 1_500_000_000, "JPY"
			return r
		}(), &otp.CardSMS{AmountMicros: 1_500_000_000, CurrencyCode: "JPY", Last4: "1111"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, tokenAccounts()...)
			out, err := h.svc.Authenticate(ctx, c.req)
			expect(t, "authenticate", out, err, otp.SendSuccess)
			for i := 1; i <= 2; i++ {
				out, err := h.svc.Resend(ctx, resendOf(fmt.Sprint("resend-", i), "auth-1"))
				expect(t, "resendOtp", out, err, otp.ResendSuccess)
			}
			texts := h.sms.sent()
			if len(texts) != 3 {
				t.Fatalf("%d SMS after authenticate and two resends, want 3", len(texts))
			}
			for i, m := range texts {
				if m.phone != phone1 || m.token != "" {
					t.Errorf("SMS %d to %s with token %q: want A1's phone, no token", i, m.phone, m.token)
				}
				if diff := cmp.Diff(c.want, m.card); diff != "" {
					t.Errorf("SMS %d states (-want +got):\n%s", i, diff)
				}
			}
			// Kept with the session, and nothing more than the SMS states.
			if rec := h.record(t, piaid, "authenticate", "auth-1"); rec == nil || !cmp.Equal(rec.Card, c.want) {
				t.Errorf("authenticate's record keeps %+v, want %+v", rec, c.want)
			}
		})
	}

	t.Run("sendOtp", func(t *testing.T) {
		h := newHarness(t, tokenAccounts()...)
		r := legacySend("send-1", "send")
		r.SMSMatchingToken = "AB12345678C"
		out, err := h.svc.Send(ctx, r)
		expect(t, "sendOtp", out, err, otp.SendSuccess)
		if m := h.sms.last(t); m.card != nil || m.token != r.SMSMatchingToken {
			t.Errorf("sendOtp's SMS has card %+v and token %q; want no card, its token", m.card, m.token)
		}
		if rec := h.record(t, "", "sendOtp", "send-1"); rec == nil || rec.Card != nil {
			t.Errorf("sendOtp's record: %+v, want one without a card", rec)
		}
	})
}

// TestCardSMSOfASessionFromBefore: a session recorded before the store kept
// what its SMS states (migration 0006) still resends in the card flow,
// with nothing to state, never as a sendOtp's message.
func TestCardSMSOfASessionFromBefore(t *testing.T) {
	h := newHarness(t, tokenAccounts()...)
	ctx := context.Background()
	out, err := h.svc.Authenticate(ctx, byCard("auth-1", visaCard.Hash, 2030, 1))
	expect(t, "authenticate", out, err, otp.SendSuccess)
	err = h.store.Tx(ctx, func(tx otp.Tx) error {
		rec, err := tx.LockRequest(piaid, "authenticate", "auth-1")
		if err != nil {
			return err
		}
		if err := tx.DeleteRequest(piaid, "authenticate", "auth-1"); err != nil {
			return err
		}
		rec.Card = nil // as an older release wrote it
		return tx.InsertRequest(rec)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err = h.svc.Resend(ctx, resendOf("resend-1", "auth-1"))
	expect(t, "resendOtp", out, err, otp.ResendSuccess)
	if m := h.sms.last(t); m.card == nil || *m.card != (otp.CardSMS{}) || m.token != "" {
		t.Errorf("resent SMS has card %+v and token %q; want an empty card, no token", m.card, m.token)
	}
}

// stallNth is a Messenger whose at-th SMS goes out and then stalls, as an
// instance that froze before recording it would.
type stallNth struct {
	*recorder
	at      int32
	n       atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (s *stallNth) SendCode(ctx context.Context, m otp.CodeSMS) (otp.Submission, error) {
	sub, err := s.recorder.SendCode(ctx, m)
	if s.n.Add(1) == s.at {
		close(s.entered)
		<-s.release
	}
	return sub, err
}

// TestCardSMSOnTakeover: a retry that takes over an authenticate, or a
// resendOtp, whose instance froze mid-send states what the first attempt
// stated.
func TestCardSMSOnTakeover(t *testing.T) {
	for _, resend := range []bool{false, true} {
		name := map[bool]string{false: "authenticate", true: "resendOtp"}[resend]
		t.Run(name, func(t *testing.T) {
			clk := &clock{t: now}
			stall := &stallNth{at: 1, entered: make(chan struct{}), release: make(chan struct{})}
			if resend {
				stall.at = 2 // the authenticate goes through; its resend stalls
			}
			h := newHarnessWith(t, func(c *otp.Config) {
				c.Now = clk.Now
				stall.recorder = c.Messenger.(*recorder)
				c.Messenger = stall
			}, tokenAccounts()...)
			ctx := context.Background()
			auth := byToken("auth-1", openToken.Hash, 0, 0)
			auth.Last4 = "1111"
			run := func() (otp.Outcome, error) { return h.svc.Authenticate(ctx, auth) }
			if resend {
				out, err := run()
				expect(t, "authenticate", out, err, otp.SendSuccess)
				run = func() (otp.Outcome, error) {
					return h.svc.Resend(ctx, resendOf("resend-1", "auth-1"))
				}
			}
			first := make(chan error, 1)
			go func() { _, err := run(); first <- err }()
			<-stall.entered
			clk.Advance(h.cfg.Policy.ClaimLease + time.Second)
			out, err := run()
			expect(t, name+" taking over", out, err, otp.SendSuccess)
			close(stall.release)
			if err := <-first; !errors.Is(err, otp.ErrInFlight) {
				t.Errorf("the stalled attempt = %v, want ErrInFlight: its claim was taken over", err)
			}
			texts := h.sms.sent()
			if want := int(stall.at) + 1; len(texts) != want {
				t.Errorf("%d SMS, want %d", len(texts), want)
			}
			for i, m := range texts {
				if diff := cmp.Diff(inrCard("1111"), m.card); diff != "" {
					t.Errorf("SMS %d of %d states (-want +got):\n%s", i, len(texts), diff)
				}
			}
		})
	}
}
