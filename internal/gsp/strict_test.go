package gsp

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var strictLimits = Limits{Now: time.UnixMilli(1502545413026), Window: time.Minute, PIAIDs: map[string]bool{"SpeedyPaymentsIndia_INR": true}}

// Two parsers must never disagree about what a signed body says (SPEC §1):
// encoding/json keeps the last of two equal members and matches names
// without regard to case, so each such body is refused, with a description
// that names the member.
func TestStrictJSONRefusesWhatParsersDisagreeOn(t *testing.T) {
	const header = `"requestHeader":{"protocolVersion":{"major":1},"requestId":"r1","requestTimestamp":"1502545413026"}`
	for _, tc := range []struct {
		name, body, names string
	}{
		{"phone twice", `{` + header + `,"smsMatchingToken":"AB12345678C","accountPhoneNumber":"+919876543210","accountPhoneNumber":"+919812345678"}`, "accountPhoneNumber"},
		{"requestId twice", `{"requestHeader":{"protocolVersion":{"major":1},"requestId":"r1","requestId":"r2","requestTimestamp":"1502545413026"},"smsMatchingToken":"AB12345678C","accountPhoneNumber":"+919876543210"}`, "requestHeader.requestId"},
		{"duplicate inside an unknown member", `{` + header + `,"smsMatchingToken":"AB12345678C","accountPhoneNumber":"+919876543210","future":{"a":1,"a":2}}`, "future.a"},
		{"phone in capitals", `{` + header + `,"smsMatchingToken":"AB12345678C","ACCOUNTPHONENUMBER":"+919876543210"}`, "ACCOUNTPHONENUMBER"},
		{"requestId capitalised", `{"requestHeader":{"protocolVersion":{"major":1},"RequestId":"r1","requestTimestamp":"1502545413026"},"smsMatchingToken":"AB12345678C","accountPhoneNumber":"+919876543210"}`, "requestHeader.RequestId"},
		{"long s folds to s", `{"requestHeader":{"protocolVersion":{"major":1},"requestId":"r1","requeſtId":"r2","requestTimestamp":"1502545413026"},"smsMatchingToken":"AB12345678C","accountPhoneNumber":"+919876543210"}`, "requestHeader.requeſtId"},
		{"Kelvin sign folds to k", `{` + header + `,"smsMatchingToken":"AB12345678C","associationId":"as-1","smsMatchingToKen":"x"}`, "smsMatchingToKen"},
		{"both spellings", `{` + header + `,"smsMatchingToken":"AB12345678C","accountPhoneNumber":"+919876543210","accountphonenumber":"+919812345678"}`, "accountphonenumber"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The lenient parser this guards against accepts every one of them.
			var lenient SendOtpRequest
			if err := json.Unmarshal([]byte(tc.body), &lenient); err != nil {
				t.Fatalf("encoding/json refuses the body, so the case proves nothing: %v", err)
			}
			_, err := DecodeSendOtp([]byte(tc.body), strictLimits)
			if err == nil || err.Code != InvalidDecryptedRequest {
				t.Fatalf("got %v, want INVALID_DECRYPTED_REQUEST", err)
			}
			if !strings.Contains(err.Description, tc.names) {
				t.Errorf("description %q does not name %s", err.Description, tc.names)
			}
		})
	}
}

func TestStrictJSONStillIgnoresUnknownMembersAndReadsNestedCards(t *testing.T) {
	body := `{"requestHeader":{"protocolVersion":{"major":1,"minor":7},"requestId":"r1","requestTimestamp":{"epochMillis":"1502545413026"},"paymentIntegratorAccountId":"SpeedyPaymentsIndia_INR","newField":true},` +
		`"accountDetails":{"card":{"accountNumber":"4123456789101112","expiryMonth":"01","expiryYear":"30","cvn":"123"}},` +
		`"amount":{"amountMicros":"728000000","currencyCode":"INR"},"requestedAuthenticationTypes":{"nativeOtp":{}},"additionalAuthenticationContext":{"x":[1,2]}}`
	r, err := DecodeAuthenticate([]byte(body), strictLimits)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Instrument(); got.Number != "4123456789101112" || got.Token || got.Expiry != (CardExpiry{2030, 1}) {
		t.Errorf("instrument %+v", got)
	}
	// A case mismatch deep in the card is found too.
	bad := strings.Replace(body, `"expiryMonth"`, `"ExpiryMonth"`, 1)
	if _, err := DecodeAuthenticate([]byte(bad), strictLimits); err == nil || !strings.Contains(err.Description, "accountDetails.card.ExpiryMonth") {
		t.Errorf("ExpiryMonth: %v", err)
	}
}

func TestShapeErrorsNameTheField(t *testing.T) {
	for body, want := range map[string]string{
		`[]`: "must be a JSON object",
		`{"requestHeader":{"protocolVersion":{"major":"1"}}}`: "requestHeader.protocolVersion.major must be a number",
		`{"requestHeader":{"requestTimestamp":"soon"}}`:       "requestHeader.requestTimestamp",
		`{"requestHeader":{}, "smsMatchingToken": 5}`:         "smsMatchingToken must be a string",
		`{"requestHeader":`:                                       "not valid JSON",
		"{\"smsMatchingToken\":\"\xff\xfe\"}":                     "not valid JSON",
		`{"requestHeader":{"protocolVersion":{"major":1}}} {}`:    "not valid JSON",
		`{"requestHeader":{"protocolVersion":{"major":1.5}}}`:     "major",
		`{"requestHeader":null,"otpContext":{"association":"x"}}`: "otpContext.association must be an object",
	} {
		_, err := DecodeSendOtp([]byte(body), strictLimits)
		if err == nil || err.Code != InvalidDecryptedRequest || !strings.Contains(err.Description, want) {
			t.Errorf("%q: got %v, want INVALID_DECRYPTED_REQUEST mentioning %q", body, err, want)
		}
	}
}

func TestAccountDetailsIsAOneOf(t *testing.T) {
	authenticate := func(details string) *Error {
		body := `{"requestHeader":{"protocolVersion":{"major":1},"requestId":"r1","requestTimestamp":{"epochMillis":"1502545413026"},"paymentIntegratorAccountId":"SpeedyPaymentsIndia_INR"},` +
			`"accountDetails":` + details + `,"amount":{"amountMicros":"1","currencyCode":"INR"},"requestedAuthenticationTypes":{"nativeOtp":{}}}`
		_, err := DecodeAuthenticate([]byte(body), strictLimits)
		return err
	}
	const card = `"card":{"accountNumber":"4123456789101112","expiryMonth":"01","expiryYear":"30"}`
	const token = `"paymentToken":{"nameOnCard":"Example Customer","paymentTokenAccountNumber":"4123456789101112","expiryMonth":"01","expiryYear":"20","cryptogram":"12345"}`
	for _, tc := range []struct {
		details string
		code    ErrorCode
		field   string // named in the description and, for INVALID_FIELD_VALUE, as Field
	}{
		{`{` + card + `,` + token + `}`, InvalidDecryptedRequest, "not both"},
		{`{}`, MissingRequiredField, "accountDetails.card or accountDetails.paymentToken"},
		{`{"paymentToken":{"paymentTokenAccountNumber":"41234567891O1112"}}`, InvalidFieldValue, "accountDetails.paymentToken.paymentTokenAccountNumber"},
		{`{"paymentToken":{"nameOnCard":"X"}}`, MissingRequiredField, "accountDetails.paymentToken.paymentTokenAccountNumber"},
		{`{"paymentToken":{"paymentTokenAccountNumber":"4123456789101112","expiryMonth":"01"}}`, InvalidFieldValue, "accountDetails.paymentToken.expiryMonth"},
		{`{"paymentToken":{"paymentTokenAccountNumber":"4123456789101112","last4DigitsOnCard":"12a4"}}`, InvalidFieldValue, "accountDetails.paymentToken.last4DigitsOnCard"},
		{`{"card":{"accountNumber":"4123"}}`, InvalidFieldValue, "accountDetails.card.accountNumber"},
	} {
		err := authenticate(tc.details)
		if err == nil || err.Code != tc.code || !strings.Contains(err.Description, tc.field) {
			t.Errorf("%s: got %v, want %s naming %s", tc.details, err, tc.code, tc.field)
			continue
		}
		if tc.code == InvalidFieldValue && err.Field != tc.field {
			t.Errorf("%s: Field %q, want %q", tc.details, err.Field, tc.field)
		}
		if strings.Contains(err.Description, "4123456789101112") || strings.Contains(err.Description, "41234567891O1112") {
			t.Errorf("the description echoes a card number: %s", err.Description)
		}
	}
	if err := authenticate(`{` + token + `}`); err != nil {
		t.Errorf("Google's token example: %v", err)
	}
	noExpiry := `{"paymentToken":{"paymentTokenAccountNumber":"4123456789101112"}}`
	if err := authenticate(noExpiry); err != nil {
		t.Errorf("a token without expiry: %v", err)
	}
}
