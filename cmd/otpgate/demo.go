package main

import (
	"strings"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/phone"
)

// demoPIAID is the paymentIntegratorAccountId --dev serves when none is given:
// the one of Google's India Cards examples.
const demoPIAID = "SpeedyPaymentsIndia_INR"

// demoCard is Google's example card, on the active demo account; Google's
// tokenized-card example uses the same digits as its payment token, which
// the demo account has too (tokens and cards are looked up apart).
const demoCard = "4123456789101112"

// demoAccounts are loaded by --dev so that a newcomer can try every path.
func demoAccounts(cards otp.CardHasher) []otp.Account {
	return []otp.Account{
		{ID: "demo-active", Phone: "+919876543210", Status: otp.StatusActive, AssociationIDs: []string{"as-demo-1"},
			Cards:  []otp.Card{{Hash: cards.Hash(demoCard), SecretID: cards.Writer().ID, Last4: demoCard[12:], ExpiryYear: 2030, ExpiryMonth: 1}},
			Tokens: []otp.Card{{Hash: cards.Hash(demoCard), SecretID: cards.Writer().ID, Last4: demoCard[12:], ExpiryYear: 2030, ExpiryMonth: 1}}},
		{ID: "demo-closed", Phone: "+919876543211", Status: otp.StatusClosed, AssociationIDs: []string{"as-demo-closed"}},
		{ID: "demo-fraud", Phone: "+919876543212", Status: otp.StatusClosedFraud, AssociationIDs: []string{"as-demo-fraud"}},
		{ID: "demo-not-eligible", Phone: "+919876543213", Status: otp.StatusNotEligible, AssociationIDs: []string{"as-demo-ne"}},
	}
}

// demoSummary names the demo accounts for the start banner. Like every log
// line it shows phones by their last digits only; the README lists them whole.
func demoSummary() string {
	var parts []string
	for _, a := range demoAccounts(otp.CardHasher{}) {
		parts = append(parts, phone.Mask(a.Phone)+" ("+string(a.Status)+", associationId "+a.AssociationIDs[0]+")")
	}
	return strings.Join(parts, ", ") + "; a card and a payment token ending " + demoCard[12:] + " on the first; PIAID " + demoPIAID
}
