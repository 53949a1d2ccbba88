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

// Send renders the message of flow with v and sends it to phone (E.164). A
// message that cannot be rendered is not sent; the error says why, never
// with the code.
func (m Messenger) Send(ctx context.Context, phone string, flow Flow, v Vars) error {
	msg, err := m.Templates.Render(flow, v)
	if err != nil {
		return err
	}
	msg.To = phone
	return m.Sender.Send(ctx, msg)
}

// SendCode is the otp engine's Messenger: a message with no card is
// sendOtp's (FlowLegacy, with its smsMatchingToken line), one with a card is
// India Cards' authenticate or resendOtp (FlowCard), whose template may name
// the amount and the card's last four digits. A card template that names
// what the engine did not know (an amount without its currency, no last
// four digits) fails to render, and nothing is sent.
func (m Messenger) SendCode(ctx context.Context, c otp.CodeSMS) error {
	if c.Card == nil {
		return m.Send(ctx, c.Phone, FlowLegacy, Vars{Code: c.Code, SMSMatchingToken: c.SMSMatchingToken})
	}
	v := Vars{Code: c.Code, Last4: c.Card.Last4}
	if c.Card.CurrencyCode != "" {
		v.Amount = &Amount{Micros: c.Card.AmountMicros, Currency: c.Card.CurrencyCode}
	}
	return m.Send(ctx, c.Phone, FlowCard, v)
}
