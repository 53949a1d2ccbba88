package sms

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Failover is a Sender that tries several senders in order.
type Failover struct {
	senders []Sender
	name    string
}

// NewFailover returns a Sender that tries each of senders in turn until one
// accepts the message. It panics if a sender is nil: that is a wiring
// mistake, better found at start than at the first message.
//
// A sender that fails by timing out may still have delivered the message, so
// the user can receive it twice; that is harmless here, both copies carry the
// same code, and it beats not receiving it at all.
func NewFailover(senders ...Sender) *Failover {
	names := make([]string, len(senders))
	for i, s := range senders {
		if s == nil {
			panic(fmt.Sprintf("sms: NewFailover: sender %d is nil", i))
		}
		names[i] = s.Name()
	}
	return &Failover{senders: senders, name: strings.Join(names, "+")}
}

// Name joins the names of the senders with "+", e.g. "http+file".
func (f *Failover) Name() string { return f.name }

// Send returns nil as soon as one sender accepts m. When all fail it returns
// their errors joined, each prefixed with the sender's name. It stops early
// when ctx ends, since every later sender would fail the same way.
func (f *Failover) Send(ctx context.Context, m Message) error {
	if len(f.senders) == 0 {
		return errors.New("sms: failover: no senders")
	}
	var errs []error
	for _, s := range f.senders {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, fmt.Errorf("sms: failover: %w", err))...)
		}
		err := s.Send(ctx, m)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
	}
	return errors.Join(errs...)
}
