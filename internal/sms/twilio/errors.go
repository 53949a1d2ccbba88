package twilio

import (
	"fmt"
	"net/http"

	"github.com/otpgate/otpgate/internal/sms"
)

// Kind says what a failure means for the message and the provider: the
// router's own classes (sms.Class), shared with the SMPP provider, so that
// a router treats both alike.
type Kind = sms.Class

// The kinds of failure, as Twilio's answers mean them.
const (
	// TryNext: this attempt failed, and another provider, or Twilio a
	// little later, may well succeed (throttling, a full queue, a server
	// error, a timeout, a lost or refused connection).
	TryNext = sms.ClassTryNext
	// Rejected: Twilio refused the message for what it is (its number is
	// invalid, not a mobile, or opted out; its text is empty or too long).
	// No provider should be tried with it.
	Rejected = sms.ClassRejected
	// ConfigError: Twilio refused our credentials, our sender or a setting
	// of this account (geographic permissions, a trial account, a missing
	// Messaging Service): nothing, or nothing to this destination, will go
	// through this account until an operator changes its configuration.
	// Do not retry here; another provider may deliver the message.
	ConfigError = sms.ClassConfigError
)

// Error is the error of every failed [Client.Submit] and [Client.Send]. Its
// methods classify it without the caller importing this package: a router
// can ask any error for
//
//	interface{ Temporary() bool }      // try the next provider
//	interface{ Permanent() bool }      // do not retry the message here
//	interface{ OutcomeUnknown() bool } // sent, no answer: it may arrive
//
// Its text names the provider, the HTTP status and Twilio's error code with
// our own description of it; never the auth token, the phone number or the
// message text. Twilio's own "message" is left out on purpose: for 21211 it
// repeats the number ("The 'To' number +91… is not a valid phone number").
type Error struct {
	Provider   string // Config.Name
	Op         string // "create message", or "check message" before sending
	HTTPStatus int    // Twilio's HTTP status; 0 when no answer was read
	Code       int    // Twilio's error code from the body; 0 when none
	Err        error  // the cause when it is not an answer (transport, timeout), else nil

	kind    Kind
	unknown bool
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("twilio %s: %s", e.Provider, e.Op)
	if e.HTTPStatus != 0 {
		msg += fmt.Sprintf(": HTTP %d %s", e.HTTPStatus, http.StatusText(e.HTTPStatus))
	}
	if e.Code != 0 {
		msg += fmt.Sprintf(": error %d", e.Code)
		if c, ok := codes[e.Code]; ok {
			msg += " (" + c.what + ")"
		}
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Kind classifies the failure.
func (e *Error) Kind() Kind { return e.kind }

// Temporary reports whether another provider, or Twilio later, may
// succeed.
func (e *Error) Temporary() bool { return e.kind == TryNext }

// Permanent reports whether the message must not be retried through this
// provider: it was rejected for what it is ([Rejected]), or Twilio refused
// our account's configuration ([ConfigError]).
func (e *Error) Permanent() bool { return e.kind != TryNext }

// OutcomeUnknown reports whether Twilio may have created the message
// although Send failed: the request was written in full and no answer was
// read (a timeout, a connection lost), or Twilio answered with a 5xx,
// which for a POST that sends an SMS Twilio documents as possibly
// processed. A retry elsewhere may deliver the message twice.
func (e *Error) OutcomeUnknown() bool { return e.unknown }

// code is what we know of one Twilio error code.
type code struct {
	kind Kind
	what string // our description, never Twilio's text
}

// codes classifies the Twilio error codes that creating a Message can
// answer with, and the delivery failures that a status callback's
// ErrorCode may carry when they bear on the choice of provider. Each entry
// names the page of Twilio's Error and Warning Dictionary it rests on,
// https://www.twilio.com/docs/api/errors/<code>.
var codes = map[int]code{
	// --- try another provider, or Twilio again later ---

	// 20429 "Too many requests": "Requests that receive 429 responses
	// aren't processed and are safe to retry after backing off."
	20429: {TryNext, "too many requests"},
	// 20500 "Internal Server Error": "sending an SMS ... not idempotent.
	// If you get a 500 Server Error on these requests, and you retry the
	// request, it is possible for a customer to receive multiple messages."
	20500: {TryNext, "Twilio internal server error"},
	// 20503 "Service unavailable": "temporarily unavailable. Try again a
	// few times with exponential back-off."
	20503: {TryNext, "Twilio service unavailable"},
	// 21611 "This 'From' number has exceeded the maximum number of queued
	// messages": more than 10 hours' worth queued on the sender.
	21611: {TryNext, "sender's queue is full"},
	// 30001 "Queue overflow": "You tried to send too many messages too
	// quickly and your message queue overflowed." (With a Messaging
	// Service it comes after creation, in the status callback.)
	30001: {TryNext, "queue overflow"},

	// --- the message itself is refused: no provider will do better ---

	// 21211 "Invalid 'To' Phone Number" (the example error body of
	// https://www.twilio.com/docs/usage/troubleshooting/debugging-your-application).
	21211: {Rejected, "invalid 'To' number"},
	// 21604 "'To' phone number is required to send a Message".
	21604: {Rejected, "'To' number missing"},
	// 21610 "Attempt to send to unsubscribed recipient": the recipient
	// replied STOP to this sender; sending through another provider would
	// defeat the opt-out.
	21610: {Rejected, "recipient unsubscribed (STOP)"},
	// 21614 "'To' number is not a valid mobile number": "likely ... a
	// landline number or is an invalid number".
	21614: {Rejected, "'To' number is not a mobile number"},
	// 21617 "The concatenated message body exceeds the 1600 character
	// limit".
	21617: {Rejected, "message body too long"},
	// 21635 "'To' number cannot be a landline".
	21635: {Rejected, "'To' number is a landline"},

	// --- this account, sender or setting: an operator must act ---

	// 20003 "Permission Denied" (HTTP 401): "Using the wrong combination
	// of Account SID and Auth Token ... Account is suspended or closed".
	20003: {ConfigError, "authentication failed"},
	// 20404 "Not Found": "The SID in the request does not exist ...
	// sending the request to the wrong product base URL".
	20404: {ConfigError, "account or resource not found"},
	// 21408 "Message blocked: permissions disabled for the destination
	// region": the account's Messaging Geo Permissions. The number is not
	// at fault and another provider may reach it, hence not Rejected.
	21408: {ConfigError, "destination region not enabled in Geo Permissions"},
	// 21606 "The 'From' phone number provided is not a valid
	// message-capable Twilio phone number for this destination/account".
	21606: {ConfigError, "'From' is not a message-capable number of this account"},
	// 21608 "The 'to' phone number provided is not yet verified for this
	// account": a trial account, or no approved compliance profile.
	21608: {ConfigError, "trial account: 'To' number not verified"},
	// 21612 "Message cannot be sent with the current combination of 'To'
	// and/or 'From' parameters": sender restrictions of the destination,
	// or no Twilio connectivity to its carrier. Another provider may
	// reach it.
	21612: {ConfigError, "cannot route from this sender to this destination"},
	// 21701 "The Messaging Service does not exist" (or belongs to another
	// account).
	21701: {ConfigError, "Messaging Service does not exist"},
	// 21705 "The Messaging Service is invalid".
	21705: {ConfigError, "Messaging Service is invalid"},
}

// KindOf classifies Twilio's answer to the request that creates a Message:
// its HTTP status and the code of its error body (0 when it had none).
// A code the table knows decides; otherwise the HTTP status does:
//
//	401, 403, 404, 405, 3xx    ConfigError (credentials, account, base URL)
//	429, 5xx                   TryNext
//	any other status           TryNext
//
// Codes and statuses it does not name are TryNext, as smpp.KindOf does:
// when in doubt, let another provider try, since a user without the code
// is worse than a second provider's attempt.
func KindOf(httpStatus, twilioCode int) Kind {
	if c, ok := codes[twilioCode]; ok {
		return c.kind
	}
	switch {
	case httpStatus == http.StatusUnauthorized, // https://www.twilio.com/docs/api/errors/20003
		httpStatus == http.StatusForbidden,
		httpStatus == http.StatusNotFound, // https://www.twilio.com/docs/api/errors/20404
		httpStatus == http.StatusMethodNotAllowed,
		httpStatus >= 300 && httpStatus < 400: // redirects are not followed: BaseURL is wrong
		return ConfigError
	}
	return TryNext
}
