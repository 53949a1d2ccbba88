package gsp

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// The fuzz targets below feed every request decoder arbitrary bytes, seeded
// with Google's example bodies (the server's testdata) and a few malformed
// ones. Beyond "no panic", each checks that
//
//   - a decoder returns a request or an *Error, never both or neither;
//   - decoding is deterministic, and a request it accepts, encoded again,
//     is accepted again with the same Fingerprint (what idempotency relies
//     on), Fingerprint not panicking on any accepted request;
//   - an *Error has a code of SPEC §3 that a decoder may give, a description
//     that is valid UTF-8, and the details its code carries on the wire;
//   - a description never holds a run of 12 or more digits from the body
//     (a card or token number, also one written as a member name), but for
//     the header fields that errors name on purpose and that hold no
//     secret: the timestamp, the protocol version and the
//     paymentIntegratorAccountId.
//
// Run one for longer with, for example,
//
//	go test -run '^$' -fuzz '^FuzzDecodeAuthenticate$' -fuzztime 10m ./internal/gsp

// fuzzLimits accept every Google example body: their timestamps, from
// December 2016 to August 2017, lie within the window around Now.
var fuzzLimits = Limits{
	Now:    time.UnixMilli(1492000000000), // April 2017
	Window: 200 * 24 * time.Hour,
	PIAIDs: map[string]bool{"SpeedyPaymentsIndia_INR": true, "InvisiCashUSA_USD": true},
}

func FuzzDecodeSendOtp(f *testing.F) {
	fuzzDecoder(f, DecodeSendOtp, (*SendOtpRequest).Fingerprint, "legacy-sendOtp", "legacy-verifyOtp")
}

func FuzzDecodeVerifyOtp(f *testing.F) {
	fuzzDecoder(f, DecodeVerifyOtp, (*VerifyOtpRequest).Fingerprint, "legacy-verifyOtp", "legacy-sendOtp")
}

func FuzzDecodeEcho(f *testing.F) {
	fuzzDecoder(f, DecodeEcho, func(*EchoRequest) []byte { return nil }, "legacy-echo", "cards-echo")
}

func FuzzDecodeAuthenticate(f *testing.F) {
	fingerprint := func(r *AuthenticateRequest) []byte {
		_ = r.Instrument() // DecodeAuthenticate promises it is well formed
		return r.Fingerprint(func(secret string) string { return "keyed(" + secret + ")" })
	}
	fuzzDecoder(f, DecodeAuthenticate, fingerprint, "cards-authenticate-card", "cards-authenticate-token")
}

func FuzzDecodeCardVerifyOtp(f *testing.F) {
	fuzzDecoder(f, DecodeCardVerifyOtp, (*CardVerifyOtpRequest).Fingerprint, "cards-verifyOtp", "cards-resendOtp")
}

func FuzzDecodeResendOtp(f *testing.F) {
	fuzzDecoder(f, DecodeResendOtp, (*ResendOtpRequest).Fingerprint, "cards-resendOtp", "cards-verifyOtp")
}

func FuzzDecodeEchoV2(f *testing.F) {
	fuzzDecoder(f, DecodeEchoV2, func(*EchoV2Request) []byte { return nil }, "cards-echo", "legacy-echo")
}

// fuzzDecoder seeds f with Google's example requests named by examples
// (files of internal/server/testdata/google) and malformed variants of
// them, and fuzzes decode with the checks described above.
func fuzzDecoder[R any](f *testing.F, decode func([]byte, Limits) (*R, *Error), fingerprint func(*R) []byte, examples ...string) {
	for _, name := range examples {
		body, err := os.ReadFile(filepath.Join("..", "server", "testdata", "google", name+".request.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
		f.Add(body[:len(body)/2])
		// A card or token number where the decoder reads a number, so that
		// the fuzzer starts from bodies whose errors must not echo it.
		f.Add(bytes.Replace(body, []byte(`"major": 1`), []byte(`"major": "4123456789101112"`), 1))
		f.Add(bytes.Replace(body, []byte(`"requestId": "`), []byte(`"requestId": "4123456789101112 `), 1))
		f.Add(bytes.Replace(body, []byte(`"expiryMonth": "01"`), []byte(`"expiryMonth": 4123456789101112`), 1))
		f.Add(bytes.Replace(body, []byte(`{`), []byte(`{"x":{"a":1,"a":2},`), 1))
		for _, variant := range withoutEachMember(f, body) {
			f.Add(variant)
		}
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `{"requestHeader":null}`, `{"requestHeader":{}}`,
		`{"requestHeader":{"protocolVersion":{"major":1},"requestId":"r1","requestTimestamp":"1492000000000"}}`,
		`{"requestHeader":{"protocolVersion":{"major":1},"requestId":"r1","requestTimestamp":{"epochMillis":1492000000000},"paymentIntegratorAccountId":"SpeedyPaymentsIndia_INR"}}`,
		`{"REQUESTHEADER":{}}`, "{\"clientMessage\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decode(body, fuzzLimits)
		if (r == nil) == (err == nil) {
			t.Fatalf("decode returned request %v and error %v: want exactly one", r, err)
		}
		r2, err2 := decode(body, fuzzLimits)
		if diff := cmp.Diff(r, r2); diff != "" {
			t.Fatalf("a second decode of the same body differs (-first +second):\n%s", diff)
		}
		if diff := cmp.Diff(err, err2); diff != "" {
			t.Fatalf("a second decode of the same body errs otherwise (-first +second):\n%s", diff)
		}
		if err != nil {
			checkFuzzError(t, body, err)
			return
		}

		fp := fingerprint(r)
		again, mErr := json.Marshal(r)
		if mErr != nil {
			t.Fatalf("encoding the accepted request: %v", mErr)
		}
		r3, err3 := decode(again, fuzzLimits)
		if err3 != nil {
			t.Fatalf("the accepted request, encoded again, is refused: %v\nencoded: %s", err3, again)
		}
		if fp3 := fingerprint(r3); !bytes.Equal(fp, fp3) {
			t.Fatalf("the accepted request, encoded again, has another fingerprint\nencoded: %s", again)
		}
	})
}

// withoutEachMember returns body once without each of its members, at any
// depth, so that the fuzzer starts from every "missing field" branch.
func withoutEachMember(f *testing.F, body []byte) [][]byte {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	var walk func(v any)
	walk = func(v any) {
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) { // seeds in the same order every run
			member := obj[k]
			delete(obj, k)
			b, err := json.Marshal(doc)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
			obj[k] = member
			walk(member)
		}
	}
	walk(doc)
	return out
}

// sanctionedEcho matches what descriptions quote from the body on purpose:
// the request's timestamp (and the server's), its protocol version and its
// paymentIntegratorAccountId. None of them is a secret.
var sanctionedEcho = regexp.MustCompile(`requestTimestamp -?\d+|server time -?\d+|(?s:epoch milliseconds, got .*$)|` +
	`protocolVersion\.major -?\d+|paymentIntegratorAccountId "(?:[^"\\]|\\.)*"`)

var longDigitRun = regexp.MustCompile(`[0-9]{12,}`)

func checkFuzzError(t *testing.T, body []byte, err *Error) {
	t.Helper()
	if err.Code == ServiceUnavailable || err.Code.Member() == "" {
		t.Errorf("error code %q is not one a decoder may give", err.Code)
	}
	if err.Description == "" || !utf8.ValidString(err.Description) {
		t.Errorf("description %q is empty or not valid UTF-8", err.Description)
	}
	if err.Code == InvalidFieldValue && err.Field == "" {
		t.Errorf("INVALID_FIELD_VALUE names no field: %q", err.Description)
	}
	if err.Code == InvalidAPIVersion && err.ExpectedMajor == 0 {
		t.Errorf("INVALID_API_VERSION without the expected version: %q", err.Description)
	}
	rest := sanctionedEcho.ReplaceAllString(err.Description, "")
	for _, run := range longDigitRun.FindAllString(rest, -1) {
		if bytes.Contains(body, []byte(run)) || strings.Contains(unescapedStrings(body), run) {
			t.Errorf("description echoes %d digits of the body: %q", len(run), err.Description)
		}
	}
}

// unescapedStrings decodes body leniently, for digits written with JSON
// escapes ("\u0034…"), and returns its string values and member names
// joined; "" when body is not JSON.
func unescapedStrings(body []byte) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	var sb strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			sb.WriteString(v + "\x00")
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				sb.WriteString(k + "\x00")
				walk(e)
			}
		}
	}
	walk(v)
	return sb.String()
}
