package gsp

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Google's example response on the authenticated card FOP authenticate page,
// verbatim. Its redirect case is a redirect otpgate never offers; its native
// case is the one every refusal of ours answers.
const googleAuthenticateExample = `{
  "responseHeader": {
    "responseTimestamp": {
      "epochMillis": 1481907920760
    }
  },
  "paymentIntegratorAuthenticationId": "36be1a5d-ff21-455d-8dba-e3c4306e193e",
  "cvnResult": "CVN_RESULT_NOT_DETERMINED",
  "redirectUrlResultCase": {
    "redirectUrlResult": {
      "getMethod": {
        "url": "https://example.paymentintegratordomain.com/authenitcate/G112YZH4XPDV88J"
      }
    }
  },
  "nativeOtpResultCase": {
    "nativeOtpNotSupported": {
      "nativeOtpNotSupportedReason": {
        "notSupportedByIssuer": {}
      }
    }
  }
}`

func TestAuthenticateResponseHasGooglesMembersInGooglesOrder(t *testing.T) {
	shapes, err := NewAuthenticateShapes(nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := shapes.Response(NewResponseHeader(time.UnixMilli(1481907920760)), "36be1a5d-ff21-455d-8dba-e3c4306e193e",
		CvnNotDetermined, NativeOtpNotSupported, RedirectNotRequested)
	ours, _ := json.Marshal(resp)
	if got, want := memberNames(t, ours), memberNames(t, []byte(googleAuthenticateExample)); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("members %v, Google's example has %v", got, want)
	}
	var g, o map[string]json.RawMessage
	json.Unmarshal([]byte(googleAuthenticateExample), &g)
	json.Unmarshal(ours, &o)
	for _, member := range []string{"paymentIntegratorAuthenticationId", "cvnResult", "nativeOtpResultCase"} {
		if compact(t, g[member]) != compact(t, o[member]) {
			t.Errorf("%s: ours %s, Google's %s", member, o[member], g[member])
		}
	}
}

func memberNames(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var names []string
	dec.Token() // {
	for dec.More() {
		tok, _ := dec.Token()
		names = append(names, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func TestEveryOutcomeHasOneRowAndEveryFragmentIsValid(t *testing.T) {
	seen := map[AuthenticateOutcome]int{}
	for _, row := range AuthenticateShape {
		if row.Outcome == "" {
			continue
		}
		seen[row.Outcome]++
		if _, err := checkFragment(row.Fragment); err != nil {
			t.Errorf("%s: the default fragment fails the operator's check: %v", row.Outcome, err)
		}
	}
	for _, o := range []AuthenticateOutcome{NativeOtpSent, NativeOtpNotSupported, NativeOtpNotRequested, RedirectNotSupported, RedirectNotRequested} {
		if seen[o] != 1 {
			t.Errorf("%s has %d rows, want 1", o, seen[o])
		}
	}
}

func TestOperatorOverridesAreCheckedAndApplied(t *testing.T) {
	good := `{"nativeOtpSupport": {"nativeOtpResultCode": {"otpSent": {}}}}`
	shapes, err := NewAuthenticateShapes(map[string]string{string(NativeOtpSent): good})
	if err != nil {
		t.Fatal(err)
	}
	resp := shapes.Response(ResponseHeader{}, "id", CvnNotDetermined, NativeOtpSent, RedirectNotSupported)
	if string(resp.NativeOtpResultCase) != `{"nativeOtpSupport":{"nativeOtpResultCode":{"otpSent":{}}}}` {
		t.Errorf("override not applied: %s", resp.NativeOtpResultCase)
	}
	if string(resp.RedirectURLResultCase) != `{"redirectUrlNotSupported":{"redirectUrlNotSupportedReason":{"notSupportedByIssuer":{}}}}` {
		t.Errorf("the default of another outcome changed: %s", resp.RedirectURLResultCase)
	}
	for _, tc := range []struct{ outcome, fragment, want string }{
		{"native-otp-maybe", good, "no such outcome"},
		{string(NativeOtpSent), `{"a": {}, "b": {}}`, "exactly one member"},
		{string(NativeOtpSent), `"otpSent"`, "exactly one member"},
		{string(NativeOtpSent), `{"a": "x"}`, "must hold an object"},
		{string(NativeOtpSent), `{"a": {"b": {}, "c": {}}}`, "a has more than one member"},
		{string(NativeOtpSent), `{"a": {"b": {}}, "a": {}}`, "duplicate"},
		{string(NativeOtpSent), `{"a": {}`, "not one JSON value"},
	} {
		_, err := NewAuthenticateShapes(map[string]string{tc.outcome: tc.fragment})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: got %v, want an error with %q", tc.outcome, tc.fragment, err, tc.want)
		}
	}
}

func TestCvnResultIsOneOfGooglesValues(t *testing.T) {
	if _, err := ParseCvnResult("MATCH"); err != nil {
		t.Error(err)
	}
	if _, err := ParseCvnResult("MAYBE"); err == nil {
		t.Error("MAYBE accepted")
	}
}

// The README tells operators which members are inferred: it must list
// exactly the table's inferred fragments, so that docs and code agree.
func TestREADMEListsEveryInferredMember(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range AuthenticateShape {
		if row.Outcome == "" {
			continue
		}
		fragment := regexp.QuoteMeta(row.Fragment)
		line := regexp.MustCompile(`(?m)^\|[^\n]*` + regexp.QuoteMeta(string(row.Outcome)) + `[^\n]*` + fragment + `[^\n]*\|$`).Find(readme)
		if line == nil {
			t.Errorf("README has no table row for %s with %s", row.Outcome, row.Fragment)
			continue
		}
		if inferred := strings.Contains(string(line), "inferred"); inferred == row.Confirmed {
			t.Errorf("README's row for %s says inferred=%v, the table says confirmed=%v", row.Outcome, inferred, row.Confirmed)
		}
	}
}

func TestErrorResponsesOfBothDialects(t *testing.T) {
	now := time.UnixMilli(1481899949611)
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"legacy", NewLegacyErrorResponse(Errorf(InvalidIdentifier, "associationId \"x\" is not known"), now, "call-1"),
			`{"responseHeader":{"responseTimestamp":"1481899949611"},"errorResponseCode":"INVALID_IDENTIFIER","errorDescription":"associationId \"x\" is not known","paymentIntegratorErrorIdentifier":"call-1"}`},
		{"legacy 503 has no code", NewLegacyErrorResponse(Unavailable("retry"), now, "call-2"),
			`{"responseHeader":{"responseTimestamp":"1481899949611"},"errorDescription":"retry","paymentIntegratorErrorIdentifier":"call-2"}`},
		{"current version", NewCurrentErrorResponse(wrongVersion(3, 1), now, "call-3"),
			`{"responseHeader":{"responseTimestamp":{"epochMillis":"1481899949611"}},"errorDescription":"protocolVersion.major 3 is not supported; this method speaks major 1","paymentIntegratorErrorIdentifier":"call-3","errorResponseResult":{"invalidApiVersion":{"expectedVersion":{"major":1},"requestVersion":{"major":3}}}}`},
		{"current field", NewCurrentErrorResponse(invalid("otp", "otp is 300 bytes long"), now, "call-4"),
			`{"responseHeader":{"responseTimestamp":{"epochMillis":"1481899949611"}},"errorDescription":"otp is 300 bytes long","paymentIntegratorErrorIdentifier":"call-4","errorResponseResult":{"invalidFieldValue":{"invalidFieldName":"otp"}}}`},
		{"current empty member", NewCurrentErrorResponse(Errorf(IdempotencyViolation, "reused"), now, "call-5"),
			`{"responseHeader":{"responseTimestamp":{"epochMillis":"1481899949611"}},"errorDescription":"reused","paymentIntegratorErrorIdentifier":"call-5","errorResponseResult":{"idempotencyViolation":{}}}`},
		{"current 503 has no result", NewCurrentErrorResponse(Unavailable("retry"), now, "call-6"),
			`{"responseHeader":{"responseTimestamp":{"epochMillis":"1481899949611"}},"errorDescription":"retry","paymentIntegratorErrorIdentifier":"call-6"}`},
	} {
		got, _ := json.Marshal(tc.body)
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	for code := range errorCodes {
		if code != ServiceUnavailable && code.Member() == "" {
			t.Errorf("%s has no errorResponseResult member", code)
		}
	}
}
