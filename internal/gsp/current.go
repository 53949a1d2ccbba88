package gsp

import (
	"slices"
	"time"
)

// Current-dialect (India Cards) methods, by the last element of their path.
const (
	MethodAuthenticate  = "authenticate"
	MethodCardVerifyOtp = "cardVerifyOtp" // path …/verifyOtp; named apart from the legacy method
	MethodResendOtp     = "resendOtp"
	MethodEchoV2        = "echoV2" // path /v2/echo
)

// The protocolVersion.major of the current dialect's methods (SPEC §1):
// 1 for the card FOP methods; /v2/echo speaks 2 and also accepts 1, which
// Google's own India Cards echo example sends on the v2 path.
const (
	CardMajorVersion = 1
	EchoV2Major      = 2
)

var (
	cardMajors   = []int{CardMajorVersion}
	echoV2Majors = []int{EchoV2Major, CardMajorVersion}
)

// EpochMillis is the current dialect's timestamp object.
type EpochMillis struct {
	EpochMillis *Millis `json:"epochMillis"`
}

// CurrentVersion is the protocolVersion of the current dialect: major only.
type CurrentVersion struct {
	Major *int `json:"major"`
}

// RequestHeader is the requestHeader of the current dialect.
type RequestHeader struct {
	ProtocolVersion            *CurrentVersion `json:"protocolVersion"`
	RequestID                  string          `json:"requestId"`
	RequestTimestamp           *EpochMillis    `json:"requestTimestamp"`
	PaymentIntegratorAccountID string          `json:"paymentIntegratorAccountId"`
}

// ResponseHeader is the responseHeader of the current dialect.
type ResponseHeader struct {
	ResponseTimestamp EpochMillis `json:"responseTimestamp"`
}

// NewResponseHeader stamps a current-dialect response header.
func NewResponseHeader(now time.Time) ResponseHeader {
	m := MillisOf(now)
	return ResponseHeader{ResponseTimestamp: EpochMillis{EpochMillis: &m}}
}

// validate applies SPEC §2 in order: major version (one of majors, the
// first being the method's own), requestId, timestamp, then the PIAID, which
// must be one the deployment serves.
func (h *RequestHeader) validate(majors []int, l Limits) *Error {
	if h == nil {
		return missing("requestHeader")
	}
	if h.ProtocolVersion == nil || h.ProtocolVersion.Major == nil {
		return missing("requestHeader.protocolVersion.major")
	}
	if !slices.Contains(majors, *h.ProtocolVersion.Major) {
		return wrongVersion(*h.ProtocolVersion.Major, majors[0])
	}
	if err := ValidateRequestID("requestHeader.requestId", h.RequestID); err != nil {
		return err
	}
	if h.RequestTimestamp == nil || h.RequestTimestamp.EpochMillis == nil {
		return missing("requestHeader.requestTimestamp.epochMillis")
	}
	if err := checkWindow(*h.RequestTimestamp.EpochMillis, l.Now, l.Window); err != nil {
		return err
	}
	if h.PaymentIntegratorAccountID == "" {
		return missing("requestHeader.paymentIntegratorAccountId")
	}
	if !l.PIAIDs[h.PaymentIntegratorAccountID] {
		return Errorf(InvalidIdentifier, "paymentIntegratorAccountId %.100q is not served by this deployment", h.PaymentIntegratorAccountID)
	}
	return nil
}

func (h *RequestHeader) forFingerprint() *RequestHeader {
	c := *h
	c.RequestTimestamp = nil
	return &c
}

// EchoV2Request is the body of POST /v2/echo.
type EchoV2Request struct {
	RequestHeader *RequestHeader `json:"requestHeader"`
	ClientMessage string         `json:"clientMessage"`
}

// EchoV2Response is the 200 body of /v2/echo.
type EchoV2Response struct {
	ResponseHeader ResponseHeader `json:"responseHeader"`
	ClientMessage  string         `json:"clientMessage"`
	ServerMessage  string         `json:"serverMessage"`
}

// DecodeEchoV2 parses and validates a /v2/echo body.
func DecodeEchoV2(body []byte, l Limits) (*EchoV2Request, *Error) {
	var r EchoV2Request
	if err := decodeJSON(body, &r); err != nil {
		return nil, err
	}
	if err := r.RequestHeader.validate(echoV2Majors, l); err != nil {
		return nil, err
	}
	if r.ClientMessage == "" {
		return nil, missing("clientMessage")
	}
	return &r, nil
}
