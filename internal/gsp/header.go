package gsp

import (
	"math"
	"time"
)

// MaxRequestIDLength is the longest requestId accepted (SPEC §2).
const MaxRequestIDLength = 100

// LegacyVersion is the protocolVersion of the legacy dialect.
type LegacyVersion struct {
	Major    *int `json:"major"`
	Minor    int  `json:"minor,omitempty"`
	Revision int  `json:"revision,omitempty"`
}

// LegacyRequestHeader is the requestHeader of the legacy dialect.
type LegacyRequestHeader struct {
	ProtocolVersion  *LegacyVersion `json:"protocolVersion"`
	RequestID        string         `json:"requestId"`
	RequestTimestamp *Millis        `json:"requestTimestamp"`
	// UserLocale is deprecated by Google and ignored.
	UserLocale string `json:"userLocale,omitempty"`
}

// LegacyResponseHeader is the responseHeader of the legacy dialect.
type LegacyResponseHeader struct {
	ResponseTimestamp Millis `json:"responseTimestamp"`
}

// LegacyMajorVersion is the only protocolVersion.major of the legacy methods.
const LegacyMajorVersion = 1

// Validate applies the header checks of SPEC §2 in their order: major version,
// requestId, timestamp window.
func (h *LegacyRequestHeader) validate(now time.Time, window time.Duration) *Error {
	if h == nil {
		return missing("requestHeader")
	}
	if h.ProtocolVersion == nil || h.ProtocolVersion.Major == nil {
		return missing("requestHeader.protocolVersion.major")
	}
	if *h.ProtocolVersion.Major != LegacyMajorVersion {
		return wrongVersion(*h.ProtocolVersion.Major, LegacyMajorVersion)
	}
	if err := ValidateRequestID("requestHeader.requestId", h.RequestID); err != nil {
		return err
	}
	if h.RequestTimestamp == nil {
		return missing("requestHeader.requestTimestamp")
	}
	return checkWindow(*h.RequestTimestamp, now, window)
}

func checkWindow(ts Millis, now time.Time, window time.Duration) *Error {
	ahead := ts.Time().Sub(now) // saturates beyond ±292 years
	if ahead > window || ahead < -window {
		return Errorf(RequestTimestampOutOfRange, "requestTimestamp %d is %s server time %d; the window is ±%s",
			int64(ts), describeSkew(ahead), now.UnixMilli(), window)
	}
	return nil
}

// describeSkew says how far a timestamp is from server time, and which way:
// "1h0m0s ahead of", "2m30s behind". A distance beyond what a Duration holds
// (time.Sub saturates there) is "more than 292 years".
func describeSkew(ahead time.Duration) string {
	dir := "ahead of"
	d := ahead
	if ahead < 0 {
		dir, d = "behind", -ahead // -minDuration overflows back to itself, caught below
	}
	if d < 0 || d == math.MaxInt64 {
		return "more than 292 years " + dir
	}
	return d.Round(time.Millisecond).String() + " " + dir
}

// ValidateRequestID checks a requestId-like field: 1 to 100 characters of
// [A-Za-z0-9:_-].
func ValidateRequestID(field, id string) *Error {
	if id == "" {
		return missing(field)
	}
	if len(id) > MaxRequestIDLength {
		return invalid(field, "%s is %d characters; at most %d are allowed", field, len(id), MaxRequestIDLength)
	}
	for i := 0; i < len(id); i++ {
		if !idChar(id[i]) {
			return invalid(field, "%s has a character outside [A-Za-z0-9:_-] at position %d", field, i+1)
		}
	}
	return nil
}

func idChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '_' || c == '-'
}
