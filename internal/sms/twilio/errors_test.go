package twilio

import (
	"errors"
	"strings"
	"testing"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		name   string
		status int
		code   int
		want   Kind
	}{
		// The codes Twilio documents for creating a message.
		{"invalid To", 400, 21211, Rejected},
		{"To missing", 400, 21604, Rejected},
		{"unsubscribed (STOP)", 400, 21610, Rejected},
		{"not a mobile number", 400, 21614, Rejected},
		{"body too long", 400, 21617, Rejected},
		{"landline", 400, 21635, Rejected},
		{"authentication", 401, 20003, ConfigError},
		{"not found", 404, 20404, ConfigError},
		{"geo permissions", 400, 21408, ConfigError},
		{"From not message-capable", 400, 21606, ConfigError},
		{"trial account", 400, 21608, ConfigError},
		{"cannot route To/From", 400, 21612, ConfigError},
		{"no such Messaging Service", 400, 21701, ConfigError},
		{"invalid Messaging Service", 400, 21705, ConfigError},
		{"too many requests", 429, 20429, TryNext},
		{"sender queue full", 400, 21611, TryNext},
		{"queue overflow", 400, 30001, TryNext},
		{"internal error", 500, 20500, TryNext},
		{"service unavailable", 503, 20503, TryNext},

		// The code decides over the status.
		{"known code, odd status", 500, 21211, Rejected},

		// Without a code the status decides.
		{"401 without a body", 401, 0, ConfigError},
		{"403", 403, 0, ConfigError},
		{"404: wrong account or base URL", 404, 0, ConfigError},
		{"405", 405, 0, ConfigError},
		{"redirect not followed", 302, 0, ConfigError},
		{"429 without a body", 429, 0, TryNext},
		{"500", 500, 0, TryNext},
		{"502 from a proxy", 502, 0, TryNext},
		{"503", 503, 0, TryNext},
		{"504", 504, 0, TryNext},

		// Unknown: let another provider try.
		{"unknown code", 400, 29999, TryNext},
		{"400 without a code", 400, 0, TryNext},
		{"418", 418, 0, TryNext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.status, tt.code); got != tt.want {
				t.Errorf("KindOf(%d, %d) = %s, want %s", tt.status, tt.code, got, tt.want)
			}
		})
	}
}

// Every code of the table has a description and a kind.
func TestCodesComplete(t *testing.T) {
	for n, c := range codes {
		if c.what == "" || c.kind < TryNext || c.kind > ConfigError {
			t.Errorf("code %d: %+v", n, c)
		}
	}
}

// The router tests an error through these interfaces, without importing
// this package; they must agree with Kind.
func TestErrorMethods(t *testing.T) {
	type temporary interface{ Temporary() bool }
	type permanent interface{ Permanent() bool }
	type unknownOutcome interface{ OutcomeUnknown() bool }

	for _, tt := range []struct {
		kind            Kind
		temp, perm, unk bool
	}{
		{TryNext, true, false, false},
		{Rejected, false, true, false},
		{ConfigError, false, true, false},
	} {
		var err error = &Error{Provider: "twilio", Op: "create message", kind: tt.kind}
		if got := err.(temporary).Temporary(); got != tt.temp {
			t.Errorf("%s: Temporary() = %v", tt.kind, got)
		}
		if got := err.(permanent).Permanent(); got != tt.perm {
			t.Errorf("%s: Permanent() = %v", tt.kind, got)
		}
		if got := err.(unknownOutcome).OutcomeUnknown(); got != tt.unk {
			t.Errorf("%s: OutcomeUnknown() = %v", tt.kind, got)
		}
	}

	cause := errors.New("cause")
	err := &Error{Provider: "tw", Op: "create message", HTTPStatus: 400, Code: 21610, Err: cause, kind: Rejected}
	if !errors.Is(err, cause) {
		t.Error("Unwrap does not reach the cause")
	}
	const want = "twilio tw: create message: HTTP 400 Bad Request: error 21610 (recipient unsubscribed (STOP)): cause"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q\nwant      %q", got, want)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{TryNext: "try-next", Rejected: "rejected", ConfigError: "config-error", 9: "class 9"} {
		if got := k.String(); !strings.EqualFold(got, want) {
			t.Errorf("%d: %q, want %q", int(k), got, want)
		}
	}
}
