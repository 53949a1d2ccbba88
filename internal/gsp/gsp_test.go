package gsp

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestMillisAcceptsStringsAndNumbers(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Millis
		wantErr bool
	}{
		{`"1502545413026"`, 1502545413026, false},
		{`1502545413026`, 1502545413026, false},
		{`"0"`, 0, false},
		{`"-1"`, 0, true},
		{`-1`, 0, true},
		{`1.5`, 0, true},
		{`1e12`, 0, true},
		{`""`, 0, true},
		{`"12a"`, 0, true},
		{`null`, 0, true},
		{`"99999999999999999999999"`, 0, true},
	} {
		var m Millis
		err := json.Unmarshal([]byte(tc.in), &m)
		if (err != nil) != tc.wantErr || m != tc.want {
			t.Errorf("%s: got %d, %v; want %d, error %v", tc.in, m, err, tc.want, tc.wantErr)
		}
	}
	out, _ := json.Marshal(Millis(1502545413098))
	if string(out) != `"1502545413098"` {
		t.Errorf("marshalled as %s", out)
	}
}

func TestFingerprintIgnoresTimestampOrderAndUnknownFields(t *testing.T) {
	l := Limits{Now: time.UnixMilli(1502545413026), Window: time.Minute}
	decode := func(body string) []byte {
		t.Helper()
		r, err := DecodeSendOtp([]byte(body), l)
		if err != nil {
			t.Fatal(err)
		}
		return r.Fingerprint()
	}
	base := decode(`{"requestHeader":{"protocolVersion":{"major":1},"requestId":"r1","requestTimestamp":"1502545413026"},"smsMatchingToken":"AB12345678C","associationId":"as-1"}`)
	same := decode(`{"associationId":"as-1","extra":1,"smsMatchingToken":"AB12345678C","requestHeader":{"requestTimestamp":1502545413000,"userLocale":"fr","requestId":"r1","protocolVersion":{"major":1}}}`)
	other := decode(`{"requestHeader":{"protocolVersion":{"major":1},"requestId":"r1","requestTimestamp":"1502545413026"},"smsMatchingToken":"AB12345678C","associationId":"as-2"}`)
	if !bytes.Equal(base, same) {
		t.Error("a retry with another timestamp, key order and unknown fields has another fingerprint")
	}
	if bytes.Equal(base, other) {
		t.Error("a different associationId has the same fingerprint")
	}
	v, err := DecodeVerifyOtp([]byte(`{"requestHeader":{"protocolVersion":{"major":1},"requestId":"r1","requestTimestamp":"1502545413026"},"sendOtpRequestId":"as-1","otp":"AB12345678C"}`), l)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(v.Fingerprint(), base) {
		t.Error("two methods share a fingerprint")
	}
}

func TestErrorCodeStatuses(t *testing.T) {
	want := map[ErrorCode]int{
		InvalidAPIVersion: 400, InvalidPayloadSignature: 401, InvalidPayloadEncryption: 400,
		RequestTimestampOutOfRange: 400, InvalidIdentifier: 404, IdempotencyViolation: 412,
		InvalidFieldValue: 400, MissingRequiredField: 400, PreconditionViolation: 400,
		UserActionInProgress: 423, InvalidDecryptedRequest: 400, Forbidden: 403, ServiceUnavailable: 503,
	}
	for code, status := range want {
		if got := code.HTTPStatus(); got != status {
			t.Errorf("%s: %d, want %d", code, got, status)
		}
	}
}
