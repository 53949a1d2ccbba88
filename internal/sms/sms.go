// Package sms delivers one-time passwords by SMS and composes their text.
package sms

import "context"

// Message is one SMS to send.
//
// Only To and Text are needed to send it; the other fields are optional, and
// a Sender that has no use for them ignores them. A [TemplateSet] fills them.
type Message struct {
	To   string // E.164
	Text string
	// Flow is the OTP flow the message belongs to, "" when unknown: for
	// metrics, logs and routing, never part of the text.
	Flow Flow
	// DLT carries the ids that India's DLT rules require with the message
	// (TRAI TCCCPR 2018), nil elsewhere. An SMPP provider sends them as
	// TLVs and its source address, an HTTP gateway as body fields
	// ({dlt_entity_id}, {dlt_template_id}, {sender}).
	DLT *DLT
}

// DLT are the India DLT registrations a message is sent under. Each message
// gets its own copy: a Sender may keep it.
type DLT struct {
	// EntityID is the principal entity id (PE ID) of the sender, digits,
	// commonly 19 of them ("1101…"). SMPP aggregators commonly expect it
	// in TLV 0x1400.
	EntityID string
	// TemplateID is the id of the registered content template, digits,
	// commonly 19 of them ("1107…"). Commonly TLV 0x1401.
	TemplateID string
	// Header is the registered sender id (header), e.g. "XYZBNK"; "" when
	// the provider's own configured source address is to be used.
	Header string
}

// Sender hands a message to an SMS provider. Send returns nil only when the
// provider accepted the message; any error means it was not sent.
type Sender interface {
	Send(ctx context.Context, m Message) error
	// Name identifies the provider in metrics and logs ("file", "http").
	Name() string
}

// Submitter is a Sender whose provider gives each message it accepts an id
// (an SMPP message_id, a Twilio MessageSid), which its delivery receipts
// then carry. The HTTP gateway and the file have none.
type Submitter interface {
	Sender
	// SendID is Send, returning the provider's id of the accepted message.
	SendID(ctx context.Context, m Message) (id string, err error)
}

// Receipt says which provider accepted a message and the id it gave it.
type Receipt struct {
	Provider  string // the Sender's Name
	MessageID string // "" when the provider gives none
}

// Submit sends m through s and returns its receipt: a [Router]'s names the
// provider of the route that accepted m, a [Submitter]'s carries its id.
func Submit(ctx context.Context, s Sender, m Message) (Receipt, error) {
	switch s := s.(type) {
	case *Router:
		return s.Submit(ctx, m)
	case Submitter:
		id, err := s.SendID(ctx, m)
		if err != nil {
			return Receipt{}, err
		}
		return Receipt{Provider: s.Name(), MessageID: id}, nil
	}
	if err := s.Send(ctx, m); err != nil {
		return Receipt{}, err
	}
	return Receipt{Provider: s.Name()}, nil
}
