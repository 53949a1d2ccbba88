package sms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Class says what a provider's failure means for the rest of a route.
type Class int

const (
	// ClassTryNext: this provider failed; the next one may well succeed
	// (throttling, a full queue, a server error, a timeout, a refused or
	// lost connection). It counts against the provider's breaker.
	ClassTryNext Class = iota + 1
	// ClassRejected: the message was refused for what it is (its number is
	// invalid or unsubscribed, its text too long): no provider would do
	// better, so the send fails. The breaker does not count it.
	ClassRejected
	// ClassConfigError: the provider refused our account or settings
	// (credentials, sender, permissions): the next provider is tried, and
	// the breaker counts it, since nothing will go through this one until
	// an operator acts.
	ClassConfigError
)

func (c Class) String() string {
	switch c {
	case ClassTryNext:
		return "try-next"
	case ClassRejected:
		return "rejected"
	case ClassConfigError:
		return "config-error"
	}
	return fmt.Sprintf("class %d", int(c))
}

// Failure is the classification of one provider's error.
type Failure struct {
	Class Class
	// Unknown: the provider may have accepted the message although it
	// failed (the request was written and no answer came in time), so
	// another provider could deliver it a second time.
	Unknown bool
}

// ClassifyError classifies the error of a provider that says nothing of its
// kind: ClassTryNext, unknown when the error (or one it wraps) has an
// OutcomeUnknown method that says so.
func ClassifyError(err error) Failure {
	f := Failure{Class: ClassTryNext}
	var u interface{ OutcomeUnknown() bool }
	if errors.As(err, &u) {
		f.Unknown = u.OutcomeUnknown()
	}
	return f
}

// ClassifyKind classifies the errors of a provider whose errors have a
// method Kind() Class and, optionally, OutcomeUnknown() bool, as smpp.Error
// and twilio.Error do. An error without Kind is ClassTryNext.
func ClassifyKind(err error) Failure {
	f := ClassifyError(err)
	var k interface{ Kind() Class }
	if errors.As(err, &k) {
		switch c := k.Kind(); c {
		case ClassRejected, ClassConfigError, ClassTryNext:
			f.Class = c
		}
	}
	return f
}

// ClassifyHTTP classifies the errors of an [HTTPSender]. A generic gateway
// documents nothing, so:
//
//   - a redirect, 401, 403, 404 or 405 is ClassConfigError: the URL or the
//     credentials are wrong;
//   - any other status, or a connection that failed, is ClassTryNext;
//   - a timeout is ClassTryNext with an unknown outcome: the gateway may
//     have taken the message and not answered in time.
func ClassifyHTTP(err error) Failure {
	f := ClassifyError(err)
	var se *HTTPStatusError
	switch {
	case errors.As(err, &se):
		switch s := se.StatusCode; {
		case s >= 300 && s < 400, s == http.StatusUnauthorized, s == http.StatusForbidden,
			s == http.StatusNotFound, s == http.StatusMethodNotAllowed:
			f.Class = ClassConfigError
		}
	case errors.Is(err, context.DeadlineExceeded):
		f.Unknown = true
	}
	return f
}
