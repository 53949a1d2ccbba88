package gsp

import (
	"time"
	"unicode/utf8"
)

// Method names of the legacy dialect, used in paths, metrics and idempotency.
const (
	MethodSendOtp   = "sendOtp"
	MethodVerifyOtp = "verifyOtp"
	MethodEcho      = "echo"
)

// SMSMatchingTokenLength is the length Google gives the smsMatchingToken.
const SMSMatchingTokenLength = 11

// maxFieldLength bounds free-form identifiers and codes so that a hostile body
// cannot make us store or hash megabytes.
const maxFieldLength = 256

// Empty is Google's Empty message, {}.
type Empty struct{}

// OtpContext is the optional context of a sendOtp: at most one member is set.
type OtpContext struct {
	Association                    *Empty `json:"association,omitempty"`
	MandateCreation                *Empty `json:"mandateCreation,omitempty"`
	AssociationWithMandateCreation *Empty `json:"associationWithMandateCreation,omitempty"`
}

// SendOtpRequest is the body of POST /v1/sendOtp.
type SendOtpRequest struct {
	RequestHeader      *LegacyRequestHeader `json:"requestHeader"`
	SMSMatchingToken   string               `json:"smsMatchingToken"`
	OtpContext         *OtpContext          `json:"otpContext,omitempty"`
	AccountPhoneNumber string               `json:"accountPhoneNumber,omitempty"`
	AssociationID      string               `json:"associationId,omitempty"`
}

// VerifyOtpRequest is the body of POST /v1/verifyOtp.
type VerifyOtpRequest struct {
	RequestHeader    *LegacyRequestHeader `json:"requestHeader"`
	SendOtpRequestID string               `json:"sendOtpRequestId"`
	OTP              string               `json:"otp"`
}

// EchoRequest is the body of POST /v1/echo (and, with the current header, /v2/echo).
type EchoRequest struct {
	RequestHeader *LegacyRequestHeader `json:"requestHeader"`
	ClientMessage string               `json:"clientMessage"`
}

// Limits is what request validation needs to know of the deployment.
type Limits struct {
	Now    time.Time
	Window time.Duration // the requestTimestamp window, ± this much
	// PIAIDs are the paymentIntegratorAccountIds this deployment serves
	// (current dialect only).
	PIAIDs map[string]bool
}

// DecodeSendOtp parses and validates a sendOtp body (SPEC §2, §6). A phone number
// that is not E.164 is not an error here: it is the INVALID_PHONE_NUMBER result.
func DecodeSendOtp(body []byte, l Limits) (*SendOtpRequest, *Error) {
	var r SendOtpRequest
	if err := decodeJSON(body, &r); err != nil {
		return nil, err
	}
	if err := r.RequestHeader.validate(l.Now, l.Window); err != nil {
		return nil, err
	}
	if r.SMSMatchingToken == "" {
		return nil, missing("smsMatchingToken")
	}
	if n := utf8.RuneCountInString(r.SMSMatchingToken); n != SMSMatchingTokenLength || !printableASCII(r.SMSMatchingToken) {
		return nil, invalid("smsMatchingToken", "smsMatchingToken must be %d printable ASCII characters without spaces; got %d characters",
			SMSMatchingTokenLength, n)
	}
	if r.OtpContext != nil && r.OtpContext.members() > 1 {
		return nil, invalid("otpContext", "otpContext must set at most one of association, mandateCreation, associationWithMandateCreation")
	}
	if r.AccountPhoneNumber == "" && r.AssociationID == "" {
		return nil, missing("accountPhoneNumber or associationId")
	}
	if len(r.AccountPhoneNumber) > maxFieldLength {
		return nil, invalid("accountPhoneNumber", "accountPhoneNumber is %d bytes long", len(r.AccountPhoneNumber))
	}
	if err := validateIdentifier("associationId", r.AssociationID); err != nil {
		return nil, err
	}
	return &r, nil
}

// Fingerprint identifies the payload for idempotency, excluding the timestamp.
func (r *SendOtpRequest) Fingerprint() []byte {
	c := *r
	c.RequestHeader = r.RequestHeader.forFingerprint()
	return fingerprint(MethodSendOtp, c)
}

// DecodeVerifyOtp parses and validates a verifyOtp body (SPEC §2, §7).
func DecodeVerifyOtp(body []byte, l Limits) (*VerifyOtpRequest, *Error) {
	var r VerifyOtpRequest
	if err := decodeJSON(body, &r); err != nil {
		return nil, err
	}
	if err := r.RequestHeader.validate(l.Now, l.Window); err != nil {
		return nil, err
	}
	if err := ValidateRequestID("sendOtpRequestId", r.SendOtpRequestID); err != nil {
		return nil, err
	}
	if err := checkOTP(r.OTP); err != nil {
		return nil, err
	}
	return &r, nil
}

// checkOTP checks the shape of a code the user typed. Any other mismatch is
// a business result (not matched), not an error.
func checkOTP(otp string) *Error {
	if otp == "" {
		return missing("otp")
	}
	if len(otp) > maxFieldLength {
		return invalid("otp", "otp is %d bytes long", len(otp))
	}
	return nil
}

// Fingerprint identifies the payload for idempotency, excluding the timestamp.
func (r *VerifyOtpRequest) Fingerprint() []byte {
	c := *r
	c.RequestHeader = r.RequestHeader.forFingerprint()
	return fingerprint(MethodVerifyOtp, c)
}

// DecodeEcho parses and validates a legacy echo body (SPEC §9).
func DecodeEcho(body []byte, l Limits) (*EchoRequest, *Error) {
	var r EchoRequest
	if err := decodeJSON(body, &r); err != nil {
		return nil, err
	}
	if err := r.RequestHeader.validate(l.Now, l.Window); err != nil {
		return nil, err
	}
	if r.ClientMessage == "" {
		return nil, missing("clientMessage")
	}
	return &r, nil
}

func (h *LegacyRequestHeader) forFingerprint() *LegacyRequestHeader {
	c := *h
	c.RequestTimestamp = nil
	c.UserLocale = ""
	return &c
}

func (c *OtpContext) members() int {
	n := 0
	for _, set := range []bool{c.Association != nil, c.MandateCreation != nil, c.AssociationWithMandateCreation != nil} {
		if set {
			n++
		}
	}
	return n
}

// validateIdentifier checks an optional identifier of ours that Google echoes
// back (associationId): bounded and free of control characters.
func validateIdentifier(field, v string) *Error {
	if len(v) > maxFieldLength {
		return invalid(field, "%s is %d bytes; at most %d are allowed", field, len(v), maxFieldLength)
	}
	if !utf8.ValidString(v) {
		return invalid(field, "%s is not valid UTF-8", field)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return invalid(field, "%s holds a control character", field)
		}
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// SendOtpResult is a SendOtpResultCode. UNKNOWN_RESULT is deliberately absent.
type SendOtpResult string

// The sendOtp result codes (SPEC §6).
const (
	SendSuccess                       SendOtpResult = "SUCCESS"
	SendPhoneNotAssociated            SendOtpResult = "PHONE_NUMBER_NOT_ASSOCIATED_WITH_ACCOUNT"
	SendUnknownPhoneNumber            SendOtpResult = "UNKNOWN_PHONE_NUMBER"
	SendMessageUnableToBeSent         SendOtpResult = "MESSAGE_UNABLE_TO_BE_SENT"
	SendInvalidPhoneNumber            SendOtpResult = "INVALID_PHONE_NUMBER"
	SendNotEligible                   SendOtpResult = "NOT_ELIGIBLE"
	SendOtpLimitReached               SendOtpResult = "OTP_LIMIT_REACHED"
	SendAccountClosed                 SendOtpResult = "ACCOUNT_CLOSED"
	SendAccountClosedAccountTakenOver SendOtpResult = "ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER"
	SendAccountClosedFraud            SendOtpResult = "ACCOUNT_CLOSED_FRAUD"
)

// VerifyOtpResult is a VerifyOtpResultCode. UNKNOWN_RESULT is deliberately absent.
type VerifyOtpResult string

// The verifyOtp result codes (SPEC §7).
const (
	VerifySuccess        VerifyOtpResult = "SUCCESS"
	VerifyOtpNotMatched  VerifyOtpResult = "OTP_NOT_MATCHED"
	VerifyOtpAlreadyUsed VerifyOtpResult = "OTP_ALREADY_USED"
)

// SendOtpResponse is the 200 body of sendOtp.
type SendOtpResponse struct {
	ResponseHeader             LegacyResponseHeader `json:"responseHeader"`
	PaymentIntegratorSendOtpID string               `json:"paymentIntegratorSendOtpId,omitempty"`
	Result                     SendOtpResult        `json:"result"`
}

// VerifyOtpResponse is the 200 body of verifyOtp.
type VerifyOtpResponse struct {
	ResponseHeader               LegacyResponseHeader `json:"responseHeader"`
	PaymentIntegratorVerifyOtpID string               `json:"paymentIntegratorVerifyOtpId,omitempty"`
	Result                       VerifyOtpResult      `json:"result"`
}

// EchoResponse is the 200 body of echo.
type EchoResponse struct {
	ResponseHeader LegacyResponseHeader `json:"responseHeader"`
	ClientMessage  string               `json:"clientMessage"`
	ServerMessage  string               `json:"serverMessage"`
}
