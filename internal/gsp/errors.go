// Package gsp holds Google Standard Payments wire types of both dialects, their
// result codes, the ErrorResponse and the header and field validation rules of
// SPEC §2–3. It is pure: no I/O and no clock of its own.
package gsp

import (
	"fmt"
	"net/http"
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
	// ServiceUnavailable is not one of Google's codes: it marks the 503 answer to a
	// temporary outage, after which Google retries with the same requestId.
	ServiceUnavailable ErrorCode = "SERVICE_UNAVAILABLE"
)

// HTTPStatus is the status that goes with the code (SPEC §3).
func (c ErrorCode) HTTPStatus() int {
	switch c {
	case InvalidPayloadSignature:
		return http.StatusUnauthorized
	case InvalidIdentifier:
		return http.StatusNotFound
	case IdempotencyViolation:
		return http.StatusPreconditionFailed
	case UserActionInProgress:
		return http.StatusLocked
	case Forbidden:
		return http.StatusForbidden
	case ServiceUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

// Error is a protocol error, answered with an ErrorResponse and a non-200 status.
// Description is for engineers: it names what was wrong and never holds a secret.
type Error struct {
	Code        ErrorCode
	Description string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Description }

// Errorf builds an Error with a formatted description.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

func missing(field string) *Error {
	return Errorf(MissingRequiredField, "%s is required", field)
}
