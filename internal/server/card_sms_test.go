package server_test

import (
	"fmt"
	"testing"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/sms"
)

// cardTemplates are an Indian issuer's templates: the card flow's names the
// amount and the card's last four digits, as Indian card OTP messages do.
var cardTemplates = map[sms.Flow]sms.Template{
	sms.FlowLegacy: {Text: sms.DefaultTemplate},
	sms.FlowCard:   {Text: "{code} is your OTP for {amount} on card ending {last4}. Do not share it."},
}

// cardText is the card flow's text of code.
func cardText(code, amount, last4 string) string {
	return code + " is your OTP for " + amount + " on card ending " + last4 + ". Do not share it."
}

// tokenNumber is a network token of A1's card 4123456789101112.
const tokenNumber = "4895370012003478"

// withToken gives A1 the network token tokenNumber besides its card.
func withToken(hasher otp.CardHasher) []otp.Account {
	accts := withCards(hasher)
	for i := range accts {
		if accts[i].ID == "A1" {
			accts[i].Tokens = []otp.Card{{Hash: hasher.Hash(tokenNumber), Last4: tokenNumber[len(tokenNumber)-4:]}}
		}
	}
	return accts
}

// authenticateToken is an authenticate of A1's token, for amount micros of
// INR, with last4DigitsOnCard unless it is "".
func (h *harness) authenticateToken(requestID, micros, last4 string) response {
	h.t.Helper()
	token := map[string]any{"paymentTokenAccountNumber": tokenNumber, "cryptogram": "AgAAAAAABk4DWZ4C28yUQAAAAAA="}
	if last4 != "" {
		token["last4DigitsOnCard"] = last4
	}
	return h.post(cardPath+"authenticate", map[string]any{
		"requestHeader":                h.cardHeader(requestID),
		"accountDetails":               map[string]any{"paymentToken": token},
		"amount":                       map[string]any{"amountMicros": micros, "currencyCode": "INR"},
		"requestedAuthenticationTypes": map[string]any{"nativeOtp": map[string]any{}},
	})
}

// TestCardSMSNamesAmountAndCard: through Google's API, a card
// authentication's SMS states the authenticate's amount and the card's last
// four digits, and each resendOtp, which names only the session, states
// them again with its new code, which verifies.
func TestCardSMSNamesAmountAndCard(t *testing.T) {
	h := newHarness(t, withTemplates(cardTemplates))
	expectOneOf(t, h.authenticate("auth-1", "4123456789101112", "01", "30", nil), "nativeOtpResultCase", "nativeOtpSupport")
	code := h.lastCode()
	if m, _ := h.sms.Last(); m.Text != cardText(code, "INR 728.00", "1112") || m.Flow != sms.FlowCard || m.To != "+919876543210" {
		t.Errorf("authenticate's SMS %+v; want the card flow's text naming INR 728.00 and 1112, to A1", m)
	}
	for i := range 2 {
		expectOneOf(t, h.resend(fmt.Sprint("resend-", i), "auth-1"), "result", "success")
		fresh := h.lastCode()
		if m, _ := h.sms.Last(); m.Text != cardText(fresh, "INR 728.00", "1112") {
			t.Errorf("resend %d's SMS %q; want the amount and card again", i, m.Text)
		}
	}
	if n := len(h.sms.Messages()); n != 3 {
		t.Errorf("%d SMS, want 3", n)
	}
	expectOneOf(t, h.cardVerify("v-1", "auth-1", h.lastCode()), "result", "success")
}

// TestCardSMSOfAToken: a token's SMS names the funding card's last four
// digits when Google sends them (last4DigitsOnCard), which the user knows;
// without them, the directory's last four of the token, the token number's
// own (see otp.AuthenticateRequest.Last4).
func TestCardSMSOfAToken(t *testing.T) {
	h := newHarness(t, withTemplates(cardTemplates), withAccounts(withToken))
	expectOneOf(t, h.authenticateToken("auth-1", "1500000", "1112"), "nativeOtpResultCase", "nativeOtpSupport")
	if m, _ := h.sms.Last(); m.Text != cardText(h.lastCode(), "INR 1.50", "1112") {
		t.Errorf("SMS %q; want it to name INR 1.50 and the card's 1112", m.Text)
	}
	expectOneOf(t, h.resend("resend-1", "auth-1"), "result", "success")
	if m, _ := h.sms.Last(); m.Text != cardText(h.lastCode(), "INR 1.50", "1112") {
		t.Errorf("resent SMS %q; want it to name INR 1.50 and the card's 1112 again", m.Text)
	}

	expectOneOf(t, h.authenticateToken("auth-2", "999999999000000", ""), "nativeOtpResultCase", "nativeOtpSupport")
	if m, _ := h.sms.Last(); m.Text != cardText(h.lastCode(), "INR 999999999.00", "3478") {
		t.Errorf("SMS %q; want it to name INR 999999999.00 and the token's 3478", m.Text)
	}
}

// TestCardSMSLegacyUnchanged: with the same templates, sendOtp's SMS is the
// legacy flow's, its token on the first line, as before.
func TestCardSMSLegacyUnchanged(t *testing.T) {
	h := newHarness(t, withTemplates(cardTemplates))
	if r := h.sendOtp("s1", map[string]any{"associationId": "as-1"}); r.status != 200 || r.str("result") != "SUCCESS" {
		t.Fatalf("sendOtp = %d %s, want SUCCESS", r.status, r.raw)
	}
	code := h.lastCode()
	composer, err := sms.NewComposer(sms.DefaultTemplate, h.policy.CodeLength)
	if err != nil {
		t.Fatal(err)
	}
	want, err := composer.Compose(code, token)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := h.sms.Last(); m.Text != want || m.Flow != sms.FlowLegacy {
		t.Errorf("sendOtp's SMS %+v; want the legacy flow's %q", m, want)
	}
}
