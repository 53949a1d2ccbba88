package sms

import (
	"context"
)

// CodeMessenger composes the SMS of a code and hands it to a Sender. It is the
// otp engine's Messenger.
type CodeMessenger struct {
	Composer *Composer
	Sender   Sender
}

// SendCode composes the text and sends it. The code is only ever in the
// message; errors never carry it.
func (m CodeMessenger) SendCode(ctx context.Context, phone, code, smsMatchingToken string) error {
	text, err := m.Composer.Compose(code, smsMatchingToken)
	if err != nil {
		return err
	}
	return m.Sender.Send(ctx, Message{To: phone, Text: text})
}
