package otp_test

import (
	"context"
	"testing"

	"github.com/otpgate/otpgate/internal/otp"
)

// Network tokens on file (Google's paymentToken), by the keyed hash of their
// numbers, as the import stores them.
var (
	// openToken has no expiry on file.
	openToken = otp.Card{Hash: cardHasher.Hash("4895370012003478"), Last4: "3478"}
	// datedToken expires in June 2029.
	datedToken  = otp.Card{Hash: cardHasher.Hash("4895370012009999"), Last4: "9999", ExpiryYear: 2029, ExpiryMonth: 6}
	closedToken = otp.Card{Hash: cardHasher.Hash("4895370012000001"), Last4: "0001"}
	barredToken = otp.Card{Hash: cardHasher.Hash("4895370012000002"), Last4: "0002"}
)

// tokenAccounts: A1 holds a card and two tokens; A2 is closed and A3 not
// eligible, each with a token.
func tokenAccounts() []otp.Account {
	return []otp.Account{
		{ID: "A1", Phone: phone1, Status: otp.StatusActive, Cards: []otp.Card{visaCard}, Tokens: []otp.Card{openToken, datedToken}},
		{ID: "A2", Phone: phone2, Status: otp.StatusClosed, Tokens: []otp.Card{closedToken}},
		{ID: "A3", Phone: phone2, Status: otp.StatusNotEligible, Tokens: []otp.Card{barredToken}},
	}
}

// byToken is an authenticate asking for a native OTP for the token hash with
// the given expiry, 0 and 0 for none.
func byToken(id string, hash []byte, year, month int) otp.AuthenticateRequest {
	return otp.AuthenticateRequest{Ref: ref(piaid, "authenticate", id, "authenticate "+id),
		TokenHashes: lookup(hash), ExpiryYear: year, ExpiryMonth: month, NativeOtp: true,
		AmountMicros: 728_000_000, CurrencyCode: "INR"}
}

// TestAuthenticateByToken: a token finds its account as a card does, with
// the expiry checked only as far as it is known (the tests' today is
// 15 March 2026).
func TestAuthenticateByToken(t *testing.T) {
	for _, c := range []struct {
		name string
		req  otp.AuthenticateRequest
		want string
	}{
		{"token found", byToken("auth-1", datedToken.Hash, 2029, 6), otp.SendSuccess},
		{"no expiry on either side", byToken("auth-1", openToken.Hash, 0, 0), otp.SendSuccess},
		{"no expiry in the request", byToken("auth-1", datedToken.Hash, 0, 0), otp.SendSuccess},
		{"no expiry on file", byToken("auth-1", openToken.Hash, 2031, 12), otp.SendSuccess},
		{"expiring this month", byToken("auth-1", openToken.Hash, 2026, 3), otp.SendSuccess},
		{"expiry not the one on file", byToken("auth-1", datedToken.Hash, 2029, 7), otp.AuthCardUnknown},
		{"expired", byToken("auth-1", openToken.Hash, 2026, 2), otp.AuthCardExpired},
		{"token unknown", byToken("auth-1", cardHasher.Hash("4895370099999999"), 0, 0), otp.AuthCardUnknown},
		{"a card's number as a token", byToken("auth-1", visaCard.Hash, 2030, 1), otp.AuthCardUnknown},
		{"a token's number as a card", byCard("auth-1", openToken.Hash, 2030, 1), otp.AuthCardUnknown},
		{"the card itself", byCard("auth-1", visaCard.Hash, 2030, 1), otp.SendSuccess},
		{"account closed", byToken("auth-1", closedToken.Hash, 0, 0), otp.AuthClosed},
		{"account not eligible", byToken("auth-1", barredToken.Hash, 0, 0), otp.AuthNotEligible},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, tokenAccounts()...)
			out, err := h.svc.Authenticate(context.Background(), c.req)
			expect(t, "Authenticate", out, err, c.want)
			texts := h.sms.sent()
			switch {
			case c.want != otp.SendSuccess && len(texts) != 0:
				t.Errorf("%d SMS for a refused authenticate", len(texts))
			case c.want == otp.SendSuccess && (len(texts) != 1 || texts[0].phone != phone1):
				t.Errorf("SMS sent: %+v; want one, to A1's phone", texts)
			}
		})
	}
}

// TestAuthenticateByTokenVerifies: the session of a token is one like any
// other: verifyOtp takes its code.
func TestAuthenticateByTokenVerifies(t *testing.T) {
	h := newHarness(t, tokenAccounts()...)
	ctx := context.Background()
	out, err := h.svc.Authenticate(ctx, byToken("auth-1", openToken.Hash, 0, 0))
	expect(t, "Authenticate", out, err, otp.SendSuccess)
	code := h.sms.last(t).code
	out, err = h.svc.Verify(ctx, otp.VerifyRequest{Ref: ref(piaid, "cardVerifyOtp", "verify-1", "verify "+code),
		SendRequestID: "auth-1", SendMethod: "authenticate", Code: code})
	expect(t, "verifyOtp", out, err, otp.VerifySuccess)
}

// TestAuthenticateRequestMisbuilt: a request with both hashes, neither, a
// card without its expiry, or an amount or last four digits its SMS cannot
// state is the caller's bug; it is refused before anything is claimed or
// sent.
func TestAuthenticateRequestMisbuilt(t *testing.T) {
	both := byCard("auth-1", visaCard.Hash, 2030, 1)
	both.TokenHashes = lookup(openToken.Hash)
	neither := byCard("auth-2", nil, 2030, 1)
	undated := byCard("auth-3", visaCard.Hash, 0, 0)
	noCurrency := byCard("auth-4", visaCard.Hash, 2030, 1)
	noCurrency.CurrencyCode = ""
	negative := byCard("auth-5", visaCard.Hash, 2030, 1)
	negative.AmountMicros = -1
	badLast4 := byToken("auth-6", openToken.Hash, 0, 0)
	badLast4.Last4 = "12a4"
	h := newHarness(t, tokenAccounts()...)
	for name, r := range map[string]otp.AuthenticateRequest{
		"card and token": both, "neither": neither, "card without expiry": undated,
		"amount without currency": noCurrency, "negative amount": negative, "last4 not four digits": badLast4,
	} {
		if out, err := h.svc.Authenticate(context.Background(), r); err == nil {
			t.Errorf("%s: Authenticate = %+v, want an error", name, out)
		}
		if rec := h.record(t, r.Scope, r.Method, r.RequestID); rec != nil {
			t.Errorf("%s: a record was stored: %+v", name, rec)
		}
	}
	if n := len(h.sms.sent()); n != 0 {
		t.Errorf("%d SMS for misbuilt requests", n)
	}
}

// TestResendRetiresTheAccountsOtherCodes: a resent code, once out, is the
// account's one valid code, as every other send's is: a sendOtp's code
// sent between the authenticate and its resend is retired.
func TestResendRetiresTheAccountsOtherCodes(t *testing.T) {
	h := newHarness(t, tokenAccounts()...)
	ctx := context.Background()
	out, err := h.svc.Authenticate(ctx, byCard("auth-1", visaCard.Hash, 2030, 1))
	expect(t, "authenticate", out, err, otp.SendSuccess)
	out, err = h.svc.Send(ctx, legacySend("send-1", "send"))
	expect(t, "sendOtp", out, err, otp.SendSuccess)
	sendCode := h.sms.last(t).code
	out, err = h.svc.Resend(ctx, otp.ResendRequest{Ref: ref(piaid, "resendOtp", "resend-1", "resend"),
		AuthenticateRequestID: "auth-1", SessionMethod: "authenticate"})
	expect(t, "resendOtp", out, err, otp.ResendSuccess)
	out, err = h.svc.Verify(ctx, legacyVerify("verify-1", "send-1", sendCode))
	expect(t, "verifyOtp of the sendOtp's code after the resend", out, err, otp.VerifyNotMatched)
	resent := h.sms.last(t).code
	out, err = h.svc.Verify(ctx, otp.VerifyRequest{Ref: ref(piaid, "cardVerifyOtp", "verify-2", "verify "+resent),
		SendRequestID: "auth-1", SendMethod: "authenticate", Code: resent})
	expect(t, "verifyOtp of the resent code", out, err, otp.VerifySuccess)
}
