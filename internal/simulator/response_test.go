package simulator_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/simulator"
)

// answer is a plaintext answer to path, as the client would read it. In
// body, LEGACY_TS and CURRENT_TS stand for a responseHeader stamped now in
// each dialect's form.
func answer(t *testing.T, path string, status int, body string) *simulator.Response {
	t.Helper()
	now := time.Now().UnixMilli()
	body = strings.NewReplacer(
		"LEGACY_TS", fmt.Sprintf(`"responseHeader":{"responseTimestamp":"%d"}`, now),
		"CURRENT_TS", fmt.Sprintf(`"responseHeader":{"responseTimestamp":{"epochMillis":"%d"}}`, now),
	).Replace(body)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("bad test body %s: %v", body, err)
	}
	return &simulator.Response{Path: path, Status: status, ContentType: envelope.Plain{}.ContentType(),
		Sealed: []byte(body), Plain: []byte(body), Body: m}
}

// The form of every answer of the new wire shapes (SPEC §1, §3, §8): what
// conforms has no problem, and each way of getting it wrong is named.
func TestResponseShapes(t *testing.T) {
	eWallets, cards := "/e-wallets-v1/", "/v1/payment-integrator-authenticated-card-fop-api/"
	auth := func(native, redirect string) string {
		return `{CURRENT_TS, "paymentIntegratorAuthenticationId": "A1", "cvnResult": "CVN_RESULT_NOT_DETERMINED",
			"redirectUrlResultCase": ` + redirect + `, "nativeOtpResultCase": ` + native + `}`
	}
	sent := `{"nativeOtpSupport": {"nativeOtpResult": {"otpSent": {}}}}`
	refused := `{"nativeOtpNotSupported": {"nativeOtpNotSupportedReason": {"notSupportedByIssuer": {}}}}`
	notRequested := `{"redirectUrlNotRequested": {}}`
	for _, tc := range []struct {
		name, path string
		status     int
		body       string
		summary    string
		problem    string // "" for none; else a part of one of the problems
	}{
		// The current dialect's ErrorResponse.
		{"current error", cards + "verifyOtp", 404,
			`{CURRENT_TS, "errorDescription": "no such authenticateRequestId", "paymentIntegratorErrorIdentifier": "E1", "errorResponseResult": {"invalidIdentifier": {}}}`,
			"404 INVALID_IDENTIFIER", ""},
		{"current error with a legacy code too", cards + "verifyOtp", 404,
			`{CURRENT_TS, "errorResponseCode": "INVALID_IDENTIFIER", "errorResponseResult": {"invalidIdentifier": {}}}`,
			"404 INVALID_IDENTIFIER", "errorResponseCode"},
		{"current error in the legacy form", "/v2/echo", 400,
			`{CURRENT_TS, "errorResponseCode": "INVALID_API_VERSION"}`,
			"400 (no errorResponseResult)", "no errorResponseResult"},
		{"current error of no member", cards + "authenticate", 400,
			`{CURRENT_TS, "errorResponseResult": {"somethingElse": {}}}`,
			"400 (errorResponseResult somethingElse)", "want a one-of of invalidApiVersion"},
		{"current error of two members", cards + "authenticate", 400,
			`{CURRENT_TS, "errorResponseResult": {"invalidFieldValue": {}, "missingRequiredField": {}}}`,
			"400 (errorResponseResult (errorResponseResult is not a one-of: invalidFieldValue, missingRequiredField))", "not a one-of"},
		{"current error with the wrong status", cards + "resendOtp", 400,
			`{CURRENT_TS, "errorResponseResult": {"invalidIdentifier": {}}}`,
			"400 INVALID_IDENTIFIER", "goes with HTTP 404"},
		{"invalidApiVersion with its versions", "/v2/echo", 400,
			`{CURRENT_TS, "errorResponseResult": {"invalidApiVersion": {"requestVersion": {"major": 3}, "expectedVersion": {"major": 2}}}}`,
			"400 INVALID_API_VERSION", ""},
		{"invalidApiVersion without them", "/v2/echo", 400,
			`{CURRENT_TS, "errorResponseResult": {"invalidApiVersion": {}}}`,
			"400 INVALID_API_VERSION", "requestVersion is not a {major} version"},
		{"invalidFieldValue naming no field", cards + "verifyOtp", 400,
			`{CURRENT_TS, "errorResponseResult": {"invalidFieldValue": {"invalidFieldName": ""}}}`,
			"400 INVALID_FIELD_VALUE", "invalidFieldName is not a field name"},
		{"current 503", cards + "authenticate", 503,
			`{CURRENT_TS, "errorDescription": "database unavailable", "paymentIntegratorErrorIdentifier": "E2"}`,
			"503", ""},
		{"current 503 with a code", cards + "authenticate", 503,
			`{CURRENT_TS, "errorResponseResult": {"userActionInProgress": {}}}`,
			"503 USER_ACTION_IN_PROGRESS", "a 503 carries errorResponseResult"},

		// The legacy dialect's, on every legacy surface.
		{"legacy error", "/v1/sendOtp", 404,
			`{LEGACY_TS, "errorResponseCode": "INVALID_IDENTIFIER", "errorDescription": "no such associationId"}`,
			"404 INVALID_IDENTIFIER", ""},
		{"e-wallets error", eWallets + "verifyOtp", 412,
			`{LEGACY_TS, "errorResponseCode": "IDEMPOTENCY_VIOLATION"}`,
			"412 IDEMPOTENCY_VIOLATION", ""},
		{"legacy error with a current member", "/korea-e-wallets-v1/echo", 400,
			`{LEGACY_TS, "errorResponseCode": "INVALID_API_VERSION", "errorResponseResult": {"invalidApiVersion": {}}}`,
			"400 INVALID_API_VERSION", "errorResponseResult in a legacy-dialect ErrorResponse"},
		{"legacy 503", "/v1/sendOtp", 503, `{LEGACY_TS, "errorDescription": "try again"}`, "503", ""},
		{"legacy 503 with a code", "/v1/sendOtp", 503, `{LEGACY_TS, "errorResponseCode": "SERVICE_UNAVAILABLE"}`,
			"503 SERVICE_UNAVAILABLE", "a 503 carries errorResponseCode"},
		{"e-wallets sendOtp", eWallets + "sendOtp", 200,
			`{LEGACY_TS, "paymentIntegratorSendOtpId": "S1", "result": "SUCCESS"}`, "200 SUCCESS", ""},
		{"e-wallets sendOtp without its id", eWallets + "sendOtp", 200,
			`{LEGACY_TS, "result": "SUCCESS"}`, "200 SUCCESS", "no paymentIntegratorSendOtpId"},

		// authenticate (SPEC §8).
		{"authenticate, OTP sent", cards + "authenticate", 200, auth(sent, notRequested), "200 nativeOtpSupport", ""},
		{"authenticate, refused", cards + "authenticate", 200, auth(refused, notRequested), "200 nativeOtpNotSupported", ""},
		{"authenticate, redirect only", cards + "authenticate", 200,
			auth(`{"nativeOtpNotRequested": {}}`, `{"redirectUrlNotSupported": {"redirectUrlNotSupportedReason": {"notSupportedByIssuer": {}}}}`),
			"200 nativeOtpNotRequested redirectUrlNotSupported", ""},
		{"authenticate, an operator's own inner members", cards + "authenticate", 200,
			auth(`{"nativeOtpSupport": {"someOtherResult": {"sent": {}}}}`, notRequested), "200 nativeOtpSupport", ""},
		{"authenticate, the old shape", cards + "authenticate", 200,
			`{CURRENT_TS, "paymentIntegratorAuthenticateId": "A1", "nativeOtpResult": {"otpSent": {}}}`,
			"200 (no nativeOtpResultCase) (no redirectUrlResultCase)", "old shape"},
		{"authenticate, a case of two members", cards + "authenticate", 200,
			auth(`{"nativeOtpSupport": {}, "nativeOtpNotRequested": {}}`, notRequested),
			"200 (nativeOtpResultCase is not a one-of: nativeOtpNotRequested, nativeOtpSupport)", "not a one-of"},
		{"authenticate, an unknown case", cards + "authenticate", 200, auth(`{"otpSent": {}}`, notRequested),
			"200 otpSent", "want a one-of of nativeOtpSupport"},
		{"authenticate, a case inside that is no one-of", cards + "authenticate", 200,
			auth(`{"nativeOtpNotSupported": {"nativeOtpNotSupportedReason": {"a": {}, "b": {}}}}`, notRequested),
			"200 nativeOtpNotSupported", "nativeOtpResultCase.nativeOtpNotSupported.nativeOtpNotSupportedReason is not a one-of"},
		{"authenticate, a member that is no object", cards + "authenticate", 200, auth(`{"nativeOtpNotRequested": true}`, notRequested),
			"200 nativeOtpNotRequested", "nativeOtpResultCase.nativeOtpNotRequested is not an object"},
		{"authenticate without redirectUrlResultCase", cards + "authenticate", 200,
			`{CURRENT_TS, "paymentIntegratorAuthenticationId": "A1", "cvnResult": "MATCH", "nativeOtpResultCase": ` + sent + `}`,
			"200 nativeOtpSupport (no redirectUrlResultCase)", "redirectUrlResultCase is (no redirectUrlResultCase)"},
		{"authenticate, a cvnResult of no one's", cards + "authenticate", 200,
			strings.Replace(auth(sent, notRequested), "CVN_RESULT_NOT_DETERMINED", "CVN_OK", 1),
			"200 nativeOtpSupport", `cvnResult "CVN_OK"`},
		{"authenticate without its id", cards + "authenticate", 200,
			strings.Replace(auth(sent, notRequested), `"paymentIntegratorAuthenticationId": "A1",`, "", 1),
			"200 nativeOtpSupport", "no paymentIntegratorAuthenticationId"},

		{"/v2/echo", "/v2/echo", 200, `{CURRENT_TS, "clientMessage": "hi", "serverMessage": "x"}`, `200 clientMessage="hi"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := answer(t, tc.path, tc.status, tc.body)
			if got := r.Summary(); got != tc.summary {
				t.Errorf("Summary() = %q, want %q", got, tc.summary)
			}
			problems := r.Check(envelope.Plain{}.ContentType(), time.Now())
			named := slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.problem) })
			switch {
			case tc.problem == "" && len(problems) > 0:
				t.Errorf("problems %q, want none", problems)
			case tc.problem != "" && !named:
				t.Errorf("problems %q, want one naming %q", problems, tc.problem)
			}
		})
	}
}

// ErrorCode reads the code of either dialect in SPEC §3's terms, so that an
// expectation such as "400 INVALID_API_VERSION" holds for both.
func TestErrorCodeOfBothDialects(t *testing.T) {
	// SPEC §3's members, by code, as the spec lists them.
	members := map[string]string{
		"INVALID_API_VERSION": "invalidApiVersion", "INVALID_PAYLOAD_SIGNATURE": "invalidPayloadSignature",
		"INVALID_PAYLOAD_ENCRYPTION": "invalidPayloadEncryption", "REQUEST_TIMESTAMP_OUT_OF_RANGE": "requestTimestampOutOfRange",
		"INVALID_IDENTIFIER": "invalidIdentifier", "IDEMPOTENCY_VIOLATION": "idempotencyViolation",
		"INVALID_FIELD_VALUE": "invalidFieldValue", "MISSING_REQUIRED_FIELD": "missingRequiredField",
		"PRECONDITION_VIOLATION": "preconditionViolation", "USER_ACTION_IN_PROGRESS": "userActionInProgress",
		"INVALID_DECRYPTED_REQUEST": "invalidDecryptedRequest", "FORBIDDEN": "forbidden",
	}
	for code, member := range members {
		current := answer(t, "/v2/echo", 400, fmt.Sprintf(`{CURRENT_TS, "errorResponseResult": {%q: {}}}`, member))
		legacy := answer(t, "/e-wallets-v1/echo", 400, fmt.Sprintf(`{LEGACY_TS, "errorResponseCode": %q}`, code))
		if current.ErrorCode() != code || legacy.ErrorCode() != code {
			t.Errorf("%s: current %q, legacy %q", code, current.ErrorCode(), legacy.ErrorCode())
		}
	}
	// A current answer is read by its member only, and a legacy one by its
	// code only: the other dialect's field names no code.
	if c := answer(t, "/v2/echo", 400, `{CURRENT_TS, "errorResponseCode": "FORBIDDEN"}`).ErrorCode(); c != "" {
		t.Errorf("a current answer's errorResponseCode was read: %q", c)
	}
	if c := answer(t, "/v1/echo", 400, `{LEGACY_TS, "errorResponseResult": {"forbidden": {}}}`).ErrorCode(); c != "" {
		t.Errorf("a legacy answer's errorResponseResult was read: %q", c)
	}
}

// Result reads authenticate's outcome from nativeOtpResultCase, the member
// the scenarios tell "sent", "not supported" and "not requested" apart by.
func TestAuthenticateResult(t *testing.T) {
	for member, body := range map[string]string{
		"nativeOtpSupport":      `{"nativeOtpSupport": {"nativeOtpResult": {"otpSent": {}}}}`,
		"nativeOtpNotSupported": `{"nativeOtpNotSupported": {"nativeOtpNotSupportedReason": {"notSupportedByIssuer": {}}}}`,
		"nativeOtpNotRequested": `{"nativeOtpNotRequested": {}}`,
		"":                      `{"nativeOtpSupport": {}, "nativeOtpNotSupported": {}}`,
	} {
		r := answer(t, simulator.PathAuthenticate, 200, `{CURRENT_TS, "nativeOtpResultCase": `+body+`}`)
		if got := r.Result(); got != member {
			t.Errorf("%s: Result() = %q, want %q", body, got, member)
		}
	}
}
