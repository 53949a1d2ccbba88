// Package gsp holds Google Standard Payments wire types of both dialects, their
// result codes, the ErrorResponse and the header and field validation rules of
// SPEC §2–3. It is pure: no I/O and no clock of its own.
package gsp

import (
	"fmt"
	"net/http"
	"time"
)

// ErrorCode is an ErrorResponse errorResponseCode.
type ErrorCode string

// The error codes of SPEC §3.
const (
	InvalidAPIVersion          ErrorCode = "INVALID_API_VERSION"
	InvalidPayloadSignature    ErrorCode = "INVALID_PAYLOAD_SIGNATURE"
	InvalidPayloadEncryption   ErrorCode = "INVALID_PAYLOAD_ENCRYPTION"
	RequestTimestampOutOfRange ErrorCode = "REQUEST_TIMESTAMP_OUT_OF_RANGE"
	InvalidIdentifier          ErrorCode = "INVALID_IDENTIFIER"
	IdempotencyViolation       ErrorCode = "IDEMPOTENCY_VIOLATION"
	InvalidFieldValue          ErrorCode = "INVALID_FIELD_VALUE"
	MissingRequiredField       ErrorCode = "MISSING_REQUIRED_FIELD"
	PreconditionViolation      ErrorCode = "PRECONDITION_VIOLATION"
	UserActionInProgress       ErrorCode = "USER_ACTION_IN_PROGRESS"
	InvalidDecryptedRequest    ErrorCode = "INVALID_DECRYPTED_REQUEST"
	Forbidden                  ErrorCode = "FORBIDDEN"
	// ServiceUnavailable is not one of Google's codes and is never sent
	// (SPEC §3): it marks the 503 answer to a temporary outage, after which
	// Google retries with the same requestId, for our logs and metrics. Its
	// ErrorResponse carries no code at all.
	ServiceUnavailable ErrorCode = "SERVICE_UNAVAILABLE"
)

// errorCodes is the one table of what each code means on the wire: its HTTP
// status and, for the current dialect, its member of the errorResponseResult
// one-of. The member names are Google's on the current dialect's
// ErrorResponse pages (SPEC §3).
var errorCodes = map[ErrorCode]struct {
	status int
	member string
}{
	InvalidAPIVersion:          {http.StatusBadRequest, "invalidApiVersion"},
	InvalidPayloadSignature:    {http.StatusUnauthorized, "invalidPayloadSignature"},
	InvalidPayloadEncryption:   {http.StatusBadRequest, "invalidPayloadEncryption"},
	RequestTimestampOutOfRange: {http.StatusBadRequest, "requestTimestampOutOfRange"},
	InvalidIdentifier:          {http.StatusNotFound, "invalidIdentifier"},
	IdempotencyViolation:       {http.StatusPreconditionFailed, "idempotencyViolation"},
	InvalidFieldValue:          {http.StatusBadRequest, "invalidFieldValue"},
	MissingRequiredField:       {http.StatusBadRequest, "missingRequiredField"},
	PreconditionViolation:      {http.StatusBadRequest, "preconditionViolation"},
	UserActionInProgress:       {http.StatusLocked, "userActionInProgress"},
	InvalidDecryptedRequest:    {http.StatusBadRequest, "invalidDecryptedRequest"},
	Forbidden:                  {http.StatusForbidden, "forbidden"},
	ServiceUnavailable:         {http.StatusServiceUnavailable, ""},
}

// HTTPStatus is the status that goes with the code (SPEC §3).
func (c ErrorCode) HTTPStatus() int {
	if e, ok := errorCodes[c]; ok {
		return e.status
	}
	return http.StatusBadRequest
}

// Member is the code's member of the current dialect's errorResponseResult,
// "" for ServiceUnavailable, which has none.
func (c ErrorCode) Member() string { return errorCodes[c].member }

// Error is a protocol error, answered with an ErrorResponse and a non-200 status.
// Description is for engineers: it names what was wrong and never holds a secret.
type Error struct {
	Code        ErrorCode
	Description string
	// Field names the offending field of an INVALID_FIELD_VALUE (the current
	// dialect's invalidFieldValue.invalidFieldName).
	Field string
	// RequestMajor and ExpectedMajor are the versions of an
	// INVALID_API_VERSION (invalidApiVersion's requestVersion and
	// expectedVersion).
	RequestMajor, ExpectedMajor int
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Description }

// Errorf builds an Error with a formatted description.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

// Unavailable is the 503 of a temporary outage: Google retries it with the
// same requestId.
func Unavailable(format string, args ...any) *Error {
	return Errorf(ServiceUnavailable, format, args...)
}

func missing(field string) *Error {
	return Errorf(MissingRequiredField, "%s is required", field)
}

// invalid is an INVALID_FIELD_VALUE that names its field.
func invalid(field, format string, args ...any) *Error {
	e := Errorf(InvalidFieldValue, format, args...)
	e.Field = field
	return e
}

func wrongVersion(got, want int) *Error {
	e := Errorf(InvalidAPIVersion, "protocolVersion.major %d is not supported; this method speaks major %d", got, want)
	e.RequestMajor, e.ExpectedMajor = got, want
	return e
}

// LegacyErrorResponse is the legacy dialect's ErrorResponse [G]. A 503
// carries no errorResponseCode: Google's list has none for it.
type LegacyErrorResponse struct {
	ResponseHeader                   LegacyResponseHeader `json:"responseHeader"`
	ErrorResponseCode                ErrorCode            `json:"errorResponseCode,omitempty"`
	ErrorDescription                 string               `json:"errorDescription,omitempty"`
	PaymentIntegratorErrorIdentifier string               `json:"paymentIntegratorErrorIdentifier,omitempty"`
}

// CurrentErrorResponse is the current dialect's ErrorResponse [G, India Cards
// ErrorResponse page]: the code is a one-of object, errorResponseResult.
type CurrentErrorResponse struct {
	ResponseHeader                   ResponseHeader `json:"responseHeader"`
	ErrorDescription                 string         `json:"errorDescription,omitempty"`
	PaymentIntegratorErrorIdentifier string         `json:"paymentIntegratorErrorIdentifier,omitempty"`
	ErrorResponseResult              map[string]any `json:"errorResponseResult,omitempty"`
}

// Version is the current dialect's protocolVersion as an error reports it.
type Version struct {
	Major int `json:"major"`
}

// NewLegacyErrorResponse is the body of a legacy-dialect error.
func NewLegacyErrorResponse(e *Error, now time.Time, callID string) LegacyErrorResponse {
	r := LegacyErrorResponse{
		ResponseHeader:                   LegacyResponseHeader{ResponseTimestamp: MillisOf(now)},
		ErrorDescription:                 e.Description,
		PaymentIntegratorErrorIdentifier: callID,
	}
	if e.Code != ServiceUnavailable {
		r.ErrorResponseCode = e.Code
	}
	return r
}

// NewCurrentErrorResponse is the body of a current-dialect error.
//
// [?] The members' own fields (invalidApiVersion's requestVersion and
// expectedVersion, invalidFieldValue's invalidFieldName) are reported on
// Google's sibling current-dialect pages but could not be confirmed on the
// India Cards page (SPEC §3); they are written here and nowhere else.
func NewCurrentErrorResponse(e *Error, now time.Time, callID string) CurrentErrorResponse {
	r := CurrentErrorResponse{
		ResponseHeader:                   NewResponseHeader(now),
		ErrorDescription:                 e.Description,
		PaymentIntegratorErrorIdentifier: callID,
	}
	member := e.Code.Member()
	if member == "" {
		return r
	}
	detail := map[string]any{}
	switch {
	case e.Code == InvalidAPIVersion && e.ExpectedMajor != 0:
		detail["requestVersion"] = Version{Major: e.RequestMajor}
		detail["expectedVersion"] = Version{Major: e.ExpectedMajor}
	case e.Code == InvalidFieldValue && e.Field != "":
		detail["invalidFieldName"] = e.Field
	}
	r.ErrorResponseResult = map[string]any{member: detail}
	return r
}
