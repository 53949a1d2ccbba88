package simulator

import (
	"encoding/json"
	"fmt"
	"mime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Response is one answer of the target, as Google would see it.
type Response struct {
	Path        string
	Status      int
	ContentType string
	// Sealed is the body as received; Plain the body opened with Google's
	// side of the envelope, unless OpenErr says why it did not open (an
	// empty body is not opened: a 401 answers with none).
	Sealed  []byte
	Plain   []byte
	OpenErr error
	// Body is Plain decoded, nil when it is not a JSON object.
	Body    map[string]any
	Latency time.Duration
	// Request is the plaintext that was sent, when the client built it.
	Request []byte
}

// Current reports whether the response is of a current-dialect method.
func (r *Response) Current() bool {
	s, _, ok := surfaceOf(r.Path)
	return ok && s.Dialect == Current
}

// method is the method the response answers ("sendOtp", "authenticate",
// "echo"…), "" for a path of no surface.
func (r *Response) method() string {
	_, m, _ := surfaceOf(r.Path)
	return m
}

// Str returns the string field key of the body, or "".
func (r *Response) Str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// errorTable is SPEC §3's table of error codes: the HTTP status of each and
// its member of the current dialect's errorResponseResult one-of. A 503
// carries no code in either dialect, so it has no row.
var errorTable = []struct {
	code, member string
	status       int
}{
	{"INVALID_API_VERSION", "invalidApiVersion", 400},
	{"INVALID_PAYLOAD_SIGNATURE", "invalidPayloadSignature", 401},
	{"INVALID_PAYLOAD_ENCRYPTION", "invalidPayloadEncryption", 400},
	{"REQUEST_TIMESTAMP_OUT_OF_RANGE", "requestTimestampOutOfRange", 400},
	{"INVALID_IDENTIFIER", "invalidIdentifier", 404},
	{"IDEMPOTENCY_VIOLATION", "idempotencyViolation", 412},
	{"INVALID_FIELD_VALUE", "invalidFieldValue", 400},
	{"MISSING_REQUIRED_FIELD", "missingRequiredField", 400},
	{"PRECONDITION_VIOLATION", "preconditionViolation", 400},
	{"USER_ACTION_IN_PROGRESS", "userActionInProgress", 423},
	{"INVALID_DECRYPTED_REQUEST", "invalidDecryptedRequest", 400},
	{"FORBIDDEN", "forbidden", 403},
}

// errorRow finds the row of a legacy code (byMember false) or of a current
// member (byMember true).
func errorRow(key string, byMember bool) (code, member string, status int, ok bool) {
	for _, e := range errorTable {
		if (!byMember && e.code == key) || (byMember && e.member == key) {
			return e.code, e.member, e.status, true
		}
	}
	return "", "", 0, false
}

// ErrorCode is the code of an ErrorResponse in SPEC §3's terms, whatever its
// dialect: the legacy errorResponseCode, or the code whose member the
// current dialect's errorResponseResult holds ("INVALID_API_VERSION" for
// {"invalidApiVersion": {…}}). It is "" when there is none, as for a 503,
// and for a current member that is no code's.
func (r *Response) ErrorCode() string {
	if !r.Current() {
		return r.Str("errorResponseCode")
	}
	code, _, _, _ := errorRow(oneOf(r.Body["errorResponseResult"]), true)
	return code
}

// Result is the outcome of a 200: the legacy result code ("SUCCESS"), the
// member of a current-dialect one-of result ("success"), or for authenticate
// the member of nativeOtpResultCase ("nativeOtpSupport",
// "nativeOtpNotSupported", "nativeOtpNotRequested").
func (r *Response) Result() string {
	if r.Current() && r.method() == methodAuthenticate {
		return oneOf(r.Body["nativeOtpResultCase"])
	}
	switch v := r.Body["result"].(type) {
	case string:
		return v
	case map[string]any:
		return oneOf(v)
	}
	return ""
}

// oneOf returns the single member of a one-of object, "" for a value that is
// not an object with exactly one member.
func oneOf(v any) string {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return ""
	}
	for k := range m {
		return k
	}
	return ""
}

// describeOneOf writes a one-of field for a summary: "success", "(no
// field)", "(field is not an object)" or "(field is not a one-of: a, b)".
func describeOneOf(field string, v any) string {
	if v == nil {
		return "(no " + field + ")"
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "(" + field + " is not an object)"
	}
	if len(m) != 1 {
		return "(" + field + " is not a one-of: " + strings.Join(sortedKeys(m), ", ") + ")"
	}
	return oneOf(m)
}

// Summary is the answer in one line, the form the expectations of the
// scenarios are written in: "200 SUCCESS", "200 result.otpNotMatched",
// "200 nativeOtpSupport", "200 nativeOtpNotRequested redirectUrlNotSupported",
// `200 clientMessage="ping"`, "404 INVALID_IDENTIFIER" (either dialect),
// "503" (a 503 carries no code), "401 (empty body)".
func (r *Response) Summary() string {
	s := strconv.Itoa(r.Status)
	switch {
	case len(r.Sealed) == 0:
		return s + " (empty body)"
	case r.OpenErr != nil:
		return s + " (body does not open: " + OpenFailure(r.OpenErr) + ")"
	case r.Body == nil:
		return s + " (body is not a JSON object)"
	case r.Status != 200:
		if code := r.ErrorCode(); code != "" {
			return s + " " + code
		}
		result, hasResult := r.Body["errorResponseResult"]
		switch {
		case r.Current() && hasResult:
			return s + " (errorResponseResult " + describeOneOf("errorResponseResult", result) + ")"
		case r.Status == 503:
			return s
		case r.Current():
			return s + " (no errorResponseResult)"
		}
		return s + " (no errorResponseCode)"
	case r.Current() && r.method() == methodAuthenticate:
		// redirectUrlResultCase is left out when it is
		// redirectUrlNotRequested, as it is whenever Google asks for a
		// native OTP only.
		s += " " + describeOneOf("nativeOtpResultCase", r.Body["nativeOtpResultCase"])
		if redirect := describeOneOf("redirectUrlResultCase", r.Body["redirectUrlResultCase"]); redirect != "redirectUrlNotRequested" {
			s += " " + redirect
		}
		return s
	case r.method() == methodEcho:
		return s + " clientMessage=" + strconv.Quote(r.Str("clientMessage"))
	}
	switch v := r.Body["result"].(type) {
	case string:
		return s + " " + v
	case map[string]any:
		return s + " result." + describeOneOf("result", v)
	case nil:
		return s + " (no result)"
	default:
		return s + " (result is not a string or an object)"
	}
}

// The results a conforming answer may carry (SPEC §6–8).
var (
	sendResults = []string{"SUCCESS", "PHONE_NUMBER_NOT_ASSOCIATED_WITH_ACCOUNT", "UNKNOWN_PHONE_NUMBER",
		"MESSAGE_UNABLE_TO_BE_SENT", "INVALID_PHONE_NUMBER", "NOT_ELIGIBLE", "OTP_LIMIT_REACHED", "ACCOUNT_CLOSED",
		"ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER", "ACCOUNT_CLOSED_FRAUD"}
	verifyResults     = []string{"SUCCESS", "OTP_NOT_MATCHED", "OTP_ALREADY_USED"}
	cardVerifyResults = []string{"success", "otpNotMatched", "otpAlreadyUsed"}
	resendResults     = []string{"success", "requestExpired", "otpRequestLimitReached"}
	// The first members of authenticate's two cases. What is inside them is
	// inferred and an operator may override it (SPEC §8), so only these
	// names are checked, and that every object inside is a one-of.
	nativeCases   = []string{"nativeOtpSupport", "nativeOtpNotSupported", "nativeOtpNotRequested"}
	redirectCases = []string{"redirectUrlNotRequested", "redirectUrlSupport", "redirectUrlNotSupported"}
	// cvnResults are Google's CvnResult values (SPEC §8).
	cvnResults = []string{"CVN_RESULT_UNSPECIFIED", "NOT_SENT_UNSUPPORTED_BY_INTEGRATOR", "NOT_SENT_UNSUPPORTED_BY_NETWORK",
		"NOT_SENT_UNSUPPORTED_BY_ISSUER", "NOT_SENT_SUPPORTED", "NOT_VERIFIED", "MATCH", "MISMATCH",
		"UNSUPPORTED_BY_INTEGRATOR", "UNSUPPORTED_BY_NETWORK", "UNSUPPORTED_BY_ISSUER", "SKIPPED_BY_NETWORK",
		"SKIPPED_BY_ISSUER", "CVN_RESULT_NOT_DETERMINED"}
	// oldAuthenticate are the members of authenticate's response before
	// SPEC §8 took Google's example's, and what replaced each.
	oldAuthenticate = [][2]string{{"paymentIntegratorAuthenticateId", "paymentIntegratorAuthenticationId"},
		{"nativeOtpResult", "nativeOtpResultCase"}, {"redirectUrlResult", "redirectUrlResultCase"}}
)

// timestampSlack is how far a responseTimestamp may be from the client's
// clock before it is reported: generous, as it only catches nonsense (0, a
// timestamp in seconds) and not a skewed clock.
const timestampSlack = time.Hour

// Check lists what is wrong with the answer's form, whatever its outcome:
// the body opens with Google's side of the envelope and has its
// Content-Type, an ErrorResponse is in its dialect's form (SPEC §3), a
// method's response has the fields and codes SPEC §6–9 give it, and
// responseTimestamp is in the dialect's form. An empty body is fine for an
// error (SPEC §3).
func (r *Response) Check(contentType string, now time.Time) []string {
	if len(r.Sealed) == 0 {
		if r.Status == 200 {
			return []string{"a 200 with an empty body"}
		}
		return nil
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if got, want := mediaType(r.ContentType), mediaType(contentType); got != want {
		add("Content-Type %q, want %q", r.ContentType, contentType)
	}
	if r.OpenErr != nil {
		add("the body does not open with Google's side of the envelope: %v", r.OpenErr)
		return problems
	}
	if r.Body == nil {
		add("the body is not a JSON object: %.200q", r.Plain)
		return problems
	}
	if p := r.checkTimestamp(now); p != "" {
		add("%s", p)
	}
	if r.Status != 200 {
		return append(problems, r.checkError()...)
	}
	str := func(key string) {
		if r.Str(key) == "" {
			add("no %s", key)
		}
	}
	oneOfIn := func(field string, allowed []string, required bool) string {
		v, present := r.Body[field]
		if !present && !required {
			return ""
		}
		k := oneOf(v)
		if !slices.Contains(allowed, k) {
			add("%s is %s, want a one-of of %s", field, describeOneOf(field, v), strings.Join(allowed, ", "))
		}
		return k
	}
	switch m := r.method(); {
	case m == methodEcho:
		if _, ok := r.Body["clientMessage"].(string); !ok {
			add("no clientMessage")
		}
		if _, ok := r.Body["serverMessage"].(string); !ok {
			add("no serverMessage")
		}
	case !r.Current() && m == methodSendOtp:
		str("paymentIntegratorSendOtpId")
		if res := r.Str("result"); !slices.Contains(sendResults, res) {
			add("result %q is not a sendOtp result code", res)
		}
	case !r.Current() && m == methodVerifyOtp:
		str("paymentIntegratorVerifyOtpId")
		if res := r.Str("result"); !slices.Contains(verifyResults, res) {
			add("result %q is not a verifyOtp result code", res)
		}
	case m == methodAuthenticate:
		for _, old := range oldAuthenticate {
			if _, ok := r.Body[old[0]]; ok {
				add("%s is the old shape of authenticate's response: SPEC §8 (Google's example) has %s", old[0], old[1])
			}
		}
		str("paymentIntegratorAuthenticationId")
		if cvn := r.Str("cvnResult"); !slices.Contains(cvnResults, cvn) {
			add("cvnResult %q is not one of Google's CvnResult values", cvn)
		}
		for _, c := range []struct {
			field   string
			members []string
		}{{"nativeOtpResultCase", nativeCases}, {"redirectUrlResultCase", redirectCases}} {
			if oneOfIn(c.field, c.members, true) != "" {
				if p := nestedOneOfs(c.field, r.Body[c.field]); p != "" {
					add("%s", p)
				}
			}
		}
	case m == methodVerifyOtp:
		if oneOfIn("result", cardVerifyResults, true) == "success" {
			str("paymentIntegratorVerifyOtpId")
		}
	case m == methodResendOtp:
		oneOfIn("result", resendResults, true)
	}
	return problems
}

// checkError checks an ErrorResponse against its dialect's form (SPEC §3):
// the legacy one names its code in errorResponseCode, the current one in
// the errorResponseResult one-of and never the other way round; the code
// goes with the status; a 503 carries no code at all.
func (r *Response) checkError() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	code, hasCode := r.Body["errorResponseCode"]
	result, hasResult := r.Body["errorResponseResult"]
	if r.Status == 503 {
		if hasCode {
			add("a 503 carries errorResponseCode %v: SPEC §3 gives a 503 no code", code)
		}
		if hasResult {
			add("a 503 carries errorResponseResult %s: SPEC §3 gives a 503 no code", describeOneOf("errorResponseResult", result))
		}
		return problems
	}
	if !r.Current() {
		if hasResult {
			add("errorResponseResult in a legacy-dialect ErrorResponse, which names its code in errorResponseCode (SPEC §3)")
		}
		c, _ := code.(string)
		_, _, status, ok := errorRow(c, false)
		switch {
		case !ok:
			add("errorResponseCode %q is not one of SPEC §3's codes", c)
		case status != r.Status:
			add("%s goes with HTTP %d, not %d (SPEC §3)", c, status, r.Status)
		}
		return problems
	}
	if hasCode {
		add("errorResponseCode %v in a current-dialect ErrorResponse, which names its code in the errorResponseResult one-of (SPEC §3)", code)
	}
	if !hasResult {
		return append(problems, "no errorResponseResult (the current dialect's ErrorResponse names its code there, SPEC §3)")
	}
	member := oneOf(result)
	c, _, status, ok := errorRow(member, true)
	if !ok {
		var members []string
		for _, e := range errorTable {
			members = append(members, e.member)
		}
		return append(problems, fmt.Sprintf("errorResponseResult is %s, want a one-of of %s",
			describeOneOf("errorResponseResult", result), strings.Join(members, ", ")))
	}
	if status != r.Status {
		add("%s (%s) goes with HTTP %d, not %d (SPEC §3)", member, c, status, r.Status)
	}
	detail, ok := result.(map[string]any)[member].(map[string]any)
	if !ok {
		return append(problems, fmt.Sprintf("errorResponseResult.%s is not an object", member))
	}
	switch member {
	case "invalidApiVersion":
		for _, v := range []string{"requestVersion", "expectedVersion"} {
			if _, ok := majorOf(detail[v]); !ok {
				add("errorResponseResult.invalidApiVersion.%s is not a {major} version", v)
			}
		}
	case "invalidFieldValue":
		if name, present := detail["invalidFieldName"]; present {
			if s, _ := name.(string); s == "" {
				add("errorResponseResult.invalidFieldValue.invalidFieldName is not a field name: %v", name)
			}
		}
	}
	return problems
}

// majorOf reads a current-dialect version {"major": N}.
func majorOf(v any) (int, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return 0, false
	}
	n, ok := m["major"].(float64)
	if !ok || n != float64(int(n)) {
		return 0, false
	}
	return int(n), true
}

// nestedOneOfs checks that every object inside a one-of case is a one-of
// too, with at most one member (an empty object is Google's Empty), as the
// operator's overrides of authenticate's shape must be (SPEC §8). It names
// the first object that is not, or returns "".
func nestedOneOfs(where string, v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if len(m) > 1 {
		return fmt.Sprintf("%s is not a one-of: it has %s", where, strings.Join(sortedKeys(m), ", "))
	}
	for k, inner := range m {
		if _, isObject := inner.(map[string]any); !isObject {
			return fmt.Sprintf("%s.%s is not an object", where, k)
		}
		if p := nestedOneOfs(where+"."+k, inner); p != "" {
			return p
		}
	}
	return ""
}

// checkTimestamp checks responseHeader.responseTimestamp: a string of epoch
// millis in the legacy dialect, {"epochMillis": …} in the current one.
func (r *Response) checkTimestamp(now time.Time) string {
	hdr, ok := r.Body["responseHeader"].(map[string]any)
	if !ok {
		return "no responseHeader"
	}
	ts := hdr["responseTimestamp"]
	where := "responseHeader.responseTimestamp"
	if r.Current() {
		m, ok := ts.(map[string]any)
		if !ok {
			return where + " is not an {epochMillis} object (current dialect)"
		}
		ts, where = m["epochMillis"], where+".epochMillis"
	}
	var ms int64
	switch v := ts.(type) {
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Sprintf("%s %q is not epoch milliseconds", where, v)
		}
		ms = n
	case float64:
		if r.Current() {
			ms = int64(v) // a number is accepted for epochMillis
		} else {
			return where + " is a number; the legacy dialect writes a string"
		}
	default:
		return "no " + where
	}
	if d := time.UnixMilli(ms).Sub(now); d > timestampSlack || d < -timestampSlack {
		return fmt.Sprintf("%s is %s away from now", where, d.Round(time.Second))
	}
	return ""
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct))
	}
	return mt
}

// SameAnswer compares two answers the way SPEC §4 wants a replay to match
// its original: status and body equal, except responseHeader. It returns ""
// when they match, else what differs.
func SameAnswer(first, again *Response) string {
	if first.Status != again.Status {
		return fmt.Sprintf("status %d, then %d", first.Status, again.Status)
	}
	a, b := withoutHeader(first.Body), withoutHeader(again.Body)
	ja, _ := json.Marshal(a) // map keys are sorted: equal maps encode equal
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		return fmt.Sprintf("body %s, then %s", ja, jb)
	}
	return ""
}

func withoutHeader(body map[string]any) map[string]any {
	c := make(map[string]any, len(body))
	for k, v := range body {
		if k != "responseHeader" {
			c[k] = v
		}
	}
	return c
}
