package sms

import (
	"context"

	"github.com/otpgate/otpgate/internal/otp"
)

// CodeMessenger composes the SMS of a code and hands it to a Sender. It is the
// otp engine's Messenger.
type CodeMessenger struct {
	Composer *Composer
	Sender   Sender
}

// SendCode composes the text and sends it. The code is only ever in the
// message; errors never carry it. Its one template states neither the amount nor the card of an India Cards
// message: use [Messenger] for that.
func (m CodeMessenger) SendCode(ctx context.Context, c otp.CodeSMS) (otp.Submission, error) {
	text, err := m.Composer.Compose(c.Code, c.SMSMatchingToken)
	if err != nil {
		return otp.Submission{}, err
	}
	rc, err := Submit(ctx, m.Sender, Message{To: c.Phone, Text: text})
	return otp.Submission(rc), err
}
