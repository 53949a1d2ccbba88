package sms

import (
	"context"

	"github.com/otpgate/otpgate/internal/otp"
)

// Messenger renders the SMS of a code from its flow's template and hands it
// to a Sender. It replaces [CodeMessenger] where templates are per flow or
// registered for DLT.
type Messenger struct {
	Templates *TemplateSet
	Sender    Sender
}

// Send renders the message of flow with v and sends it to phone (E.164),
// returning the receipt of the provider that accepted it (see [Submit]). A
// message that cannot be rendered is not sent; the error says why, never
// with the code.
func (m Messenger) Send(ctx context.Context, phone string, flow Flow, v Vars) (Receipt, error) {
	msg, err := m.Templates.Render(flow, v)
	if err != nil {
		return Receipt{}, err
	}
	msg.To = phone
	return Submit(ctx, m.Sender, msg)
}

// SendCode is the otp engine's Messenger: a message with no card is
// sendOtp's (FlowLegacy, with its smsMatchingToken line), one with a card is
// India Cards' authenticate or resendOtp (FlowCard), whose template may name
// the amount and the card's last four digits. A card template that names
// what the engine did not know (an amount without its currency, no last
// four digits) fails to render, and nothing is sent.
func (m Messenger) SendCode(ctx context.Context, c otp.CodeSMS) (otp.Submission, error) {
	flow, v := FlowLegacy, Vars{Code: c.Code, SMSMatchingToken: c.SMSMatchingToken}
	if c.Card != nil {
		flow, v = FlowCard, Vars{Code: c.Code, Last4: c.Card.Last4}
		if c.Card.CurrencyCode != "" {
			v.Amount = &Amount{Micros: c.Card.AmountMicros, Currency: c.Card.CurrencyCode}
		}
	}
	rc, err := m.Send(ctx, c.Phone, flow, v)
	return otp.Submission(rc), err
}
