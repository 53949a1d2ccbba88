package sms

import "context"

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

// SendCode is the otp engine's Messenger as it stands: a message with an
// smsMatchingToken is sendOtp's (FlowLegacy), one without India Cards'
// (FlowCard), with no amount nor card digits; a card template that names
// them fails until the engine passes them through Send.
func (m Messenger) SendCode(ctx context.Context, phone, code, smsMatchingToken string) error {
	flow := FlowCard
	if smsMatchingToken != "" {
		flow = FlowLegacy
	}
	return m.Send(ctx, phone, flow, Vars{Code: code, SMSMatchingToken: smsMatchingToken})
}
