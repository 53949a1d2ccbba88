package gsp

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// NumericString is a field Google documents as a string of digits and that we
// also accept as a JSON number ("01" or 1). Its errors never echo the value:
// it may be part of a card.
type NumericString string

// UnmarshalJSON reads a string or a whole number.
func (n *NumericString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return errors.New("expected a string of digits")
		}
		*n = NumericString(s)
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if _, err := strconv.ParseUint(string(b), 10, 64); err != nil {
		return errors.New("expected a string of digits or a whole number")
	}
	*n = NumericString(b)
	return nil
}

func (n NumericString) digits() bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

// Card is accountDetails.card of authenticate. AccountNumber and CVN are
// secrets: they are never logged, stored or echoed.
type Card struct {
	AccountNumber string        `json:"accountNumber"`
	NameOnCard    string        `json:"nameOnCard,omitempty"`
	ExpiryMonth   NumericString `json:"expiryMonth"`
	ExpiryYear    NumericString `json:"expiryYear"`
	CVN           string        `json:"cvn,omitempty"`
}

// Amount is a money amount in micros of a currency.
type Amount struct {
	AmountMicros NumericString `json:"amountMicros"`
	CurrencyCode string        `json:"currencyCode"`
}

// AuthenticationTypes says which ways of authenticating Google asks for.
type AuthenticationTypes struct {
	NativeOtp   *NativeOtpRequest   `json:"nativeOtp,omitempty"`
	RedirectURL *RedirectURLRequest `json:"redirectUrl,omitempty"`
}

// NativeOtpRequest asks the issuer to text an OTP at once.
type NativeOtpRequest struct {
	DeviceInformation json.RawMessage `json:"deviceInformation,omitempty"`
}

// RedirectURLRequest asks for a redirect authentication (unsupported here).
type RedirectURLRequest struct {
	CallbackURL string `json:"callbackUrl,omitempty"`
}

// AuthenticateRequest is the body of …/authenticate.
type AuthenticateRequest struct {
	RequestHeader  *RequestHeader `json:"requestHeader"`
	AccountDetails *struct {
		Card *Card `json:"card"`
	} `json:"accountDetails"`
	Amount                       *Amount              `json:"amount"`
	RequestedAuthenticationTypes *AuthenticationTypes `json:"requestedAuthenticationTypes"`
}

// Card returns the request's card; DecodeAuthenticate guarantees it is there.
func (r *AuthenticateRequest) Card() *Card { return r.AccountDetails.Card }

// DecodeAuthenticate parses and validates an authenticate body (SPEC §8).
func DecodeAuthenticate(body []byte, l Limits) (*AuthenticateRequest, *Error) {
	var r AuthenticateRequest
	if err := decodeJSON(body, &r); err != nil {
		return nil, err
	}
	if err := r.RequestHeader.validate(CardMajorVersion, l); err != nil {
		return nil, err
	}
	if r.AccountDetails == nil || r.AccountDetails.Card == nil {
		return nil, missing("accountDetails.card")
	}
	c := r.AccountDetails.Card
	switch {
	case c.AccountNumber == "":
		return nil, missing("accountDetails.card.accountNumber")
	case len(c.AccountNumber) < 12 || len(c.AccountNumber) > 19 || !NumericString(c.AccountNumber).digits():
		return nil, Errorf(InvalidFieldValue, "accountDetails.card.accountNumber must be 12 to 19 digits")
	case c.ExpiryMonth == "":
		return nil, missing("accountDetails.card.expiryMonth")
	case c.ExpiryYear == "":
		return nil, missing("accountDetails.card.expiryYear")
	}
	if _, ok := c.Expiry(); !ok {
		return nil, Errorf(InvalidFieldValue, "accountDetails.card expiryMonth must be 1 to 12 and expiryYear two or four digits")
	}
	if c.CVN != "" && (len(c.CVN) < 3 || len(c.CVN) > 4 || !NumericString(c.CVN).digits()) {
		return nil, Errorf(InvalidFieldValue, "accountDetails.card.cvn must be 3 or 4 digits")
	}
	if r.Amount == nil {
		return nil, missing("amount")
	}
	if r.Amount.AmountMicros == "" {
		return nil, missing("amount.amountMicros")
	}
	if !r.Amount.AmountMicros.digits() || len(r.Amount.AmountMicros) > 18 {
		return nil, Errorf(InvalidFieldValue, "amount.amountMicros must be a whole, non-negative number of micros")
	}
	if r.Amount.CurrencyCode == "" {
		return nil, missing("amount.currencyCode")
	}
	if !currencyCode(r.Amount.CurrencyCode) {
		return nil, Errorf(InvalidFieldValue, "amount.currencyCode must be three capital letters (ISO 4217)")
	}
	t := r.RequestedAuthenticationTypes
	if t == nil || (t.NativeOtp == nil && t.RedirectURL == nil) {
		return nil, missing("requestedAuthenticationTypes (nativeOtp or redirectUrl)")
	}
	return &r, nil
}

// Expiry returns the card's expiry as (year, month), the year in four digits.
func (c *Card) Expiry() (CardExpiry, bool) {
	if !c.ExpiryMonth.digits() || !c.ExpiryYear.digits() || len(c.ExpiryMonth) > 2 {
		return CardExpiry{}, false
	}
	month, _ := strconv.Atoi(string(c.ExpiryMonth))
	year, _ := strconv.Atoi(string(c.ExpiryYear))
	switch len(c.ExpiryYear) {
	case 2:
		year += 2000
	case 4:
	default:
		return CardExpiry{}, false
	}
	if month < 1 || month > 12 {
		return CardExpiry{}, false
	}
	return CardExpiry{Year: year, Month: month}, true
}

// CardExpiry is the last month a card is valid.
type CardExpiry struct{ Year, Month int }

func currencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// Fingerprint identifies the payload for idempotency. The card number and CVN
// are replaced by cardDigest, a keyed digest the caller computes, so that the
// stored fingerprint is no unkeyed hash of a card number.
func (r *AuthenticateRequest) Fingerprint(cardDigest string) []byte {
	c := *r
	c.RequestHeader = r.RequestHeader.forFingerprint()
	card := *r.AccountDetails.Card
	card.AccountNumber, card.CVN = cardDigest, ""
	c.AccountDetails = &struct {
		Card *Card `json:"card"`
	}{Card: &card}
	return fingerprint(MethodAuthenticate, c)
}

// CardVerifyOtpRequest is the body of …/payment-integrator-authenticated-card-fop-api/verifyOtp.
type CardVerifyOtpRequest struct {
	RequestHeader         *RequestHeader `json:"requestHeader"`
	AuthenticateRequestID string         `json:"authenticateRequestId"`
	OTP                   string         `json:"otp"`
}

// DecodeCardVerifyOtp parses and validates a card verifyOtp body.
func DecodeCardVerifyOtp(body []byte, l Limits) (*CardVerifyOtpRequest, *Error) {
	var r CardVerifyOtpRequest
	if err := decodeJSON(body, &r); err != nil {
		return nil, err
	}
	if err := r.RequestHeader.validate(CardMajorVersion, l); err != nil {
		return nil, err
	}
	if err := ValidateRequestID("authenticateRequestId", r.AuthenticateRequestID); err != nil {
		return nil, err
	}
	if err := checkOTP(r.OTP); err != nil {
		return nil, err
	}
	return &r, nil
}

// Fingerprint identifies the payload for idempotency.
func (r *CardVerifyOtpRequest) Fingerprint() []byte {
	c := *r
	c.RequestHeader = r.RequestHeader.forFingerprint()
	return fingerprint(MethodCardVerifyOtp, c)
}

// ResendOtpRequest is the body of …/resendOtp.
type ResendOtpRequest struct {
	RequestHeader         *RequestHeader `json:"requestHeader"`
	AuthenticateRequestID string         `json:"authenticateRequestId"`
}

// DecodeResendOtp parses and validates a resendOtp body.
func DecodeResendOtp(body []byte, l Limits) (*ResendOtpRequest, *Error) {
	var r ResendOtpRequest
	if err := decodeJSON(body, &r); err != nil {
		return nil, err
	}
	if err := r.RequestHeader.validate(CardMajorVersion, l); err != nil {
		return nil, err
	}
	if err := ValidateRequestID("authenticateRequestId", r.AuthenticateRequestID); err != nil {
		return nil, err
	}
	return &r, nil
}

// Fingerprint identifies the payload for idempotency.
func (r *ResendOtpRequest) Fingerprint() []byte {
	c := *r
	c.RequestHeader = r.RequestHeader.forFingerprint()
	return fingerprint(MethodResendOtp, c)
}

// AuthenticateResponse is the 200 body of authenticate.
//
// [?] Google's reference names the outcome of each requested authentication
// type (native OTP: sent, unsupported with a reason, or not requested), but
// its exact field names could not be confirmed (SPEC §8). This type is our
// reading and the only place it lives; the rest of otpgate never sees it.
type AuthenticateResponse struct {
	ResponseHeader                  ResponseHeader     `json:"responseHeader"`
	PaymentIntegratorAuthenticateID string             `json:"paymentIntegratorAuthenticateId,omitempty"`
	NativeOtpResult                 *NativeOtpResult   `json:"nativeOtpResult,omitempty"`
	RedirectURLResult               *RedirectURLResult `json:"redirectUrlResult,omitempty"`
}

// NativeOtpResult is one-of: otpSent, unsupported (with a reason), notRequested.
type NativeOtpResult struct {
	OtpSent      *Empty       `json:"otpSent,omitempty"`
	Unsupported  *Unsupported `json:"unsupported,omitempty"`
	NotRequested *Empty       `json:"notRequested,omitempty"`
}

// RedirectURLResult is one-of: unsupported, notRequested. otpgate never offers
// redirect authentication.
type RedirectURLResult struct {
	Unsupported  *Unsupported `json:"unsupported,omitempty"`
	NotRequested *Empty       `json:"notRequested,omitempty"`
}

// Unsupported says why an authentication type cannot be used for this card.
type Unsupported struct {
	Reason string `json:"reason,omitempty"`
}

// CardVerifyOtpResponse is the 200 body of card verifyOtp.
type CardVerifyOtpResponse struct {
	ResponseHeader               ResponseHeader   `json:"responseHeader"`
	PaymentIntegratorVerifyOtpID string           `json:"paymentIntegratorVerifyOtpId,omitempty"`
	Eci                          string           `json:"eci,omitempty"`
	Result                       CardVerifyResult `json:"result"`
}

// CardVerifyResult is one-of: success, otpNotMatched, otpAlreadyUsed.
type CardVerifyResult struct {
	Success        *Empty `json:"success,omitempty"`
	OtpNotMatched  *Empty `json:"otpNotMatched,omitempty"`
	OtpAlreadyUsed *Empty `json:"otpAlreadyUsed,omitempty"`
}

// ResendOtpResponse is the 200 body of resendOtp.
type ResendOtpResponse struct {
	ResponseHeader ResponseHeader  `json:"responseHeader"`
	Result         ResendOtpResult `json:"result"`
}

// ResendOtpResult is one-of: success, requestExpired, otpRequestLimitReached.
type ResendOtpResult struct {
	Success                *Empty `json:"success,omitempty"`
	RequestExpired         *Empty `json:"requestExpired,omitempty"`
	OtpRequestLimitReached *Empty `json:"otpRequestLimitReached,omitempty"`
}
