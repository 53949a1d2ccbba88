package smpp

import (
	"errors"
	"fmt"
)

// ErrClosed is wrapped by the errors of a [Client] that was closed.
var ErrClosed = errors.New("smpp: client closed")

// Error is the error of every failed [Client.Submit] and [Client.Send]. Its
// methods classify it without the caller importing this package: a router
// can ask any error for
//
//	interface{ Temporary() bool }      // try the next provider
//	interface{ Permanent() bool }      // do not retry the message
//	interface{ OutcomeUnknown() bool } // sent, no answer: it may arrive
type Error struct {
	Addr   string // the SMSC's host:port
	Op     string // "connect", "bind", "session" (a bind that ended) or "submit_sm"
	Status Status // the SMSC's command_status; StatusOK when the failure is not an answer
	Err    error  // the cause, nil when Status says it all

	kind    Kind
	unknown bool
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("smpp %s: %s", e.Addr, e.Op)
	if e.Status != StatusOK {
		msg += fmt.Sprintf(": %s (0x%X)", e.Status, uint32(e.Status))
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Kind classifies the failure.
func (e *Error) Kind() Kind { return e.kind }

// Temporary reports whether another provider, or this one later, may
// succeed: throttling, a full queue, a system error, a timeout, a lost or
// refused connection.
func (e *Error) Temporary() bool { return e.kind == TryNext }

// Permanent reports whether the message must not be retried through this
// provider: it was rejected for what it is ([Rejected]), or the provider
// refused our bind or options ([ConfigError]).
func (e *Error) Permanent() bool { return e.kind != TryNext }

// OutcomeUnknown reports whether the submit_sm was written in full and no
// answer came (a timeout, or the connection was lost): the SMSC may have
// accepted it, and a retry elsewhere may deliver the message twice.
func (e *Error) OutcomeUnknown() bool { return e.unknown }
