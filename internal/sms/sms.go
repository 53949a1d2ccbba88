// Package sms delivers one-time passwords by SMS and composes their text.
package sms

import "context"

// Message is one SMS to send.
type Message struct {
	To   string // E.164
	Text string
}

// Sender hands a message to an SMS provider. Send returns nil only when the
// provider accepted the message; any error means it was not sent.
type Sender interface {
	Send(ctx context.Context, m Message) error
	// Name identifies the provider in metrics and logs ("file", "http").
	Name() string
}
