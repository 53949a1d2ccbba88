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

// PaymentToken is accountDetails.paymentToken of authenticate: a card
// tokenized by its network [G, India Cards PaymentToken page]. The token
// number, cryptogram and CVN are secrets like a card number: never logged,
// stored or echoed. additionalPaymentTokenInfo is ignored.
type PaymentToken struct {
	NameOnCard                string        `json:"nameOnCard,omitempty"`
	PaymentTokenAccountNumber string        `json:"paymentTokenAccountNumber"`
	ExpiryMonth               NumericString `json:"expiryMonth,omitempty"`
	ExpiryYear                NumericString `json:"expiryYear,omitempty"`
	Cryptogram                string        `json:"cryptogram,omitempty"`
	CVN                       string        `json:"cvn,omitempty"`
	Last4DigitsOnCard         string        `json:"last4DigitsOnCard,omitempty"`
}

// AccountDetails is a one-of: the card itself or a payment token for it.
type AccountDetails struct {
	Card         *Card         `json:"card,omitempty"`
	PaymentToken *PaymentToken `json:"paymentToken,omitempty"`
}

// AuthenticateRequest is the body of …/authenticate.
type AuthenticateRequest struct {
	RequestHeader                *RequestHeader       `json:"requestHeader"`
	AccountDetails               *AccountDetails      `json:"accountDetails"`
	Amount                       *Amount              `json:"amount"`
	RequestedAuthenticationTypes *AuthenticationTypes `json:"requestedAuthenticationTypes"`
}

// Instrument is what authenticate names the account by: a card or a token
// number, and its expiry when the request gives one (a token's is optional).
type Instrument struct {
	Token     bool   // a paymentToken, not a card
	Number    string // secret: hash it, never keep it
	Expiry    CardExpiry
	HasExpiry bool
}

// Instrument returns the request's card or token; DecodeAuthenticate
// guarantees exactly one is there and well-formed.
func (r *AuthenticateRequest) Instrument() Instrument {
	if c := r.AccountDetails.Card; c != nil {
		e, _ := expiry(c.ExpiryMonth, c.ExpiryYear)
		return Instrument{Number: c.AccountNumber, Expiry: e, HasExpiry: true}
	}
	t := r.AccountDetails.PaymentToken
	e, ok := expiry(t.ExpiryMonth, t.ExpiryYear)
	return Instrument{Token: true, Number: t.PaymentTokenAccountNumber, Expiry: e, HasExpiry: ok}
}

// DecodeAuthenticate parses and validates an authenticate body (SPEC §8).
func DecodeAuthenticate(body []byte, l Limits) (*AuthenticateRequest, *Error) {
	var r AuthenticateRequest
	if err := decodeJSON(body, &r); err != nil {
		return nil, err
	}
	if err := r.RequestHeader.validate(cardMajors, l); err != nil {
		return nil, err
	}
	if err := r.AccountDetails.validate(); err != nil {
		return nil, err
	}
	if r.Amount == nil {
		return nil, missing("amount")
	}
	if r.Amount.AmountMicros == "" {
		return nil, missing("amount.amountMicros")
	}
	if !r.Amount.AmountMicros.digits() || len(r.Amount.AmountMicros) > 18 {
		return nil, invalid("amount.amountMicros", "amount.amountMicros must be a whole, non-negative number of micros")
	}
	if r.Amount.CurrencyCode == "" {
		return nil, missing("amount.currencyCode")
	}
	if !currencyCode(r.Amount.CurrencyCode) {
		return nil, invalid("amount.currencyCode", "amount.currencyCode must be three capital letters (ISO 4217)")
	}
	t := r.RequestedAuthenticationTypes
	if t == nil || (t.NativeOtp == nil && t.RedirectURL == nil) {
		return nil, missing("requestedAuthenticationTypes (nativeOtp or redirectUrl)")
	}
	return &r, nil
}

func (d *AccountDetails) validate() *Error {
	switch {
	case d == nil:
		return missing("accountDetails")
	case d.Card != nil && d.PaymentToken != nil:
		return Errorf(InvalidDecryptedRequest, "accountDetails is a one-of: it holds card or paymentToken, not both")
	case d.Card != nil:
		return d.Card.validate()
	case d.PaymentToken != nil:
		return d.PaymentToken.validate()
	}
	return missing("accountDetails.card or accountDetails.paymentToken")
}

func (c *Card) validate() *Error {
	const at = "accountDetails.card."
	switch {
	case c.AccountNumber == "":
		return missing(at + "accountNumber")
	case !accountNumber(c.AccountNumber):
		return invalid(at+"accountNumber", at+"accountNumber must be 12 to 19 digits")
	case c.ExpiryMonth == "":
		return missing(at + "expiryMonth")
	case c.ExpiryYear == "":
		return missing(at + "expiryYear")
	}
	if _, ok := expiry(c.ExpiryMonth, c.ExpiryYear); !ok {
		return invalid(at+"expiryMonth", at+"expiryMonth must be 1 to 12 and expiryYear two or four digits")
	}
	if c.CVN != "" && !cvn(c.CVN) {
		return invalid(at+"cvn", at+"cvn must be 3 or 4 digits")
	}
	return nil
}

func (t *PaymentToken) validate() *Error {
	const at = "accountDetails.paymentToken."
	switch {
	case t.PaymentTokenAccountNumber == "":
		return missing(at + "paymentTokenAccountNumber")
	case !accountNumber(t.PaymentTokenAccountNumber):
		return invalid(at+"paymentTokenAccountNumber", at+"paymentTokenAccountNumber must be 12 to 19 digits")
	case (t.ExpiryMonth == "") != (t.ExpiryYear == ""):
		return invalid(at+"expiryMonth", at+"expiryMonth and expiryYear go together: give both or neither")
	}
	if t.ExpiryMonth != "" {
		if _, ok := expiry(t.ExpiryMonth, t.ExpiryYear); !ok {
			return invalid(at+"expiryMonth", at+"expiryMonth must be 1 to 12 and expiryYear two or four digits")
		}
	}
	if t.CVN != "" && !cvn(t.CVN) {
		return invalid(at+"cvn", at+"cvn must be 3 or 4 digits")
	}
	if t.Last4DigitsOnCard != "" && (len(t.Last4DigitsOnCard) != 4 || !NumericString(t.Last4DigitsOnCard).digits()) {
		return invalid(at+"last4DigitsOnCard", at+"last4DigitsOnCard must be 4 digits")
	}
	return nil
}

func accountNumber(n string) bool {
	return len(n) >= 12 && len(n) <= 19 && NumericString(n).digits()
}

func cvn(s string) bool { return len(s) >= 3 && len(s) <= 4 && NumericString(s).digits() }

// expiry reads an expiry as (year, month), the year in four digits.
func expiry(m, y NumericString) (CardExpiry, bool) {
	if !m.digits() || !y.digits() || len(m) > 2 {
		return CardExpiry{}, false
	}
	month, _ := strconv.Atoi(string(m))
	year, _ := strconv.Atoi(string(y))
	switch len(y) {
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

// Fingerprint identifies the payload for idempotency. The secrets in it (the
// card or token number, the CVN, the cryptogram) enter only as keyed(secret),
// a keyed digest the caller computes, so that a retry with another CVN or
// cryptogram is a different payload (412) while the stored fingerprint is no
// unkeyed hash of a secret.
func (r *AuthenticateRequest) Fingerprint(keyed func(secret string) string) []byte {
	digest := func(s string) string {
		if s == "" {
			return ""
		}
		return keyed(s)
	}
	c := *r
	c.RequestHeader = r.RequestHeader.forFingerprint()
	details := AccountDetails{}
	if r.AccountDetails.Card != nil {
		card := *r.AccountDetails.Card
		card.AccountNumber, card.CVN = digest(card.AccountNumber), digest(card.CVN)
		details.Card = &card
	} else {
		token := *r.AccountDetails.PaymentToken
		token.PaymentTokenAccountNumber, token.CVN, token.Cryptogram =
			digest(token.PaymentTokenAccountNumber), digest(token.CVN), digest(token.Cryptogram)
		details.PaymentToken = &token
	}
	c.AccountDetails = &details
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
	if err := r.RequestHeader.validate(cardMajors, l); err != nil {
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
	if err := r.RequestHeader.validate(cardMajors, l); err != nil {
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
