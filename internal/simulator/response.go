package simulator

import (
	"encoding/json"
	"fmt"
	"mime"
	"slices"
	"sort"
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
	return strings.HasPrefix(r.Path, cardsPrefix) || r.Path == PathEchoV2
}

// Str returns the string field key of the body, or "".
func (r *Response) Str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// ErrorCode is the errorResponseCode of an ErrorResponse, or "".
func (r *Response) ErrorCode() string { return r.Str("errorResponseCode") }

// Result is the outcome of a 200: the legacy result code ("SUCCESS"), the
// member of a current-dialect one-of result ("success"), or for authenticate
// the member of nativeOtpResult ("otpSent").
func (r *Response) Result() string {
	if r.Path == PathAuthenticate {
		k, _ := oneOf(r.Body["nativeOtpResult"])
		return k
	}
	switch v := r.Body["result"].(type) {
	case string:
		return v
	case map[string]any:
		k, _ := oneOf(v)
		return k
	}
	return ""
}

// UnsupportedReason is the reason of authenticate's nativeOtpResult.unsupported.
func (r *Response) UnsupportedReason() string {
	_, reason := oneOf(r.Body["nativeOtpResult"])
	return reason
}

// oneOf returns the single member of a one-of object and, when that member
// is an object with a reason, the reason. A value that is not a one-of
// object gives "".
func oneOf(v any) (member, reason string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", ""
	}
	for k, inner := range m {
		member = k
		if im, ok := inner.(map[string]any); ok {
			reason, _ = im["reason"].(string)
		}
	}
	return member, reason
}

// describeOneOf writes a one-of field for a summary: "otpSent",
// "unsupported(CARD_NOT_FOUND)", "(missing)" or "(not a one-of: a, b)".
func describeOneOf(v any) string {
	if v == nil {
		return "(missing)"
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "(not an object)"
	}
	if len(m) != 1 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "(not a one-of: " + strings.Join(keys, ", ") + ")"
	}
	member, reason := oneOf(m)
	if reason != "" {
		return member + "(" + reason + ")"
	}
	return member
}

// Summary is the answer in one line, the form the expectations of the
// scenarios are written in: "200 SUCCESS", "200 result.otpNotMatched",
// "200 native:otpSent", "200 native:notRequested redirect:unsupported(…)",
// `200 clientMessage="ping"`,
// "404 INVALID_IDENTIFIER", "401 (empty body)".
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
		return s + " (no errorResponseCode)"
	case r.Path == PathAuthenticate:
		// redirectUrlResult is left out when it is notRequested, as it is
		// whenever Google asks for a native OTP only.
		s += " native:" + describeOneOf(r.Body["nativeOtpResult"])
		if redirect := describeOneOf(r.Body["redirectUrlResult"]); redirect != "notRequested" {
			s += " redirect:" + redirect
		}
		return s
	case r.Path == PathEcho || r.Path == PathEchoV2:
		return s + " clientMessage=" + strconv.Quote(r.Str("clientMessage"))
	}
	switch v := r.Body["result"].(type) {
	case string:
		return s + " " + v
	case map[string]any:
		return s + " result." + describeOneOf(v)
	case nil:
		return s + " (no result)"
	default:
		return s + " (result is not a string or an object)"
	}
}

// The codes a conforming answer may carry (SPEC §3, §6–8).
var (
	errorCodes = []string{"INVALID_API_VERSION", "INVALID_PAYLOAD_SIGNATURE", "INVALID_PAYLOAD_ENCRYPTION",
		"REQUEST_TIMESTAMP_OUT_OF_RANGE", "INVALID_IDENTIFIER", "IDEMPOTENCY_VIOLATION", "INVALID_FIELD_VALUE",
		"MISSING_REQUIRED_FIELD", "PRECONDITION_VIOLATION", "USER_ACTION_IN_PROGRESS", "INVALID_DECRYPTED_REQUEST",
		"FORBIDDEN", "SERVICE_UNAVAILABLE"}
	sendResults = []string{"SUCCESS", "PHONE_NUMBER_NOT_ASSOCIATED_WITH_ACCOUNT", "UNKNOWN_PHONE_NUMBER",
		"MESSAGE_UNABLE_TO_BE_SENT", "INVALID_PHONE_NUMBER", "NOT_ELIGIBLE", "OTP_LIMIT_REACHED", "ACCOUNT_CLOSED",
		"ACCOUNT_CLOSED_ACCOUNT_TAKEN_OVER", "ACCOUNT_CLOSED_FRAUD"}
	verifyResults     = []string{"SUCCESS", "OTP_NOT_MATCHED", "OTP_ALREADY_USED"}
	cardVerifyResults = []string{"success", "otpNotMatched", "otpAlreadyUsed"}
	resendResults     = []string{"success", "requestExpired", "otpRequestLimitReached"}
	nativeResults     = []string{"otpSent", "unsupported", "notRequested"}
	redirectResults   = []string{"unsupported", "notRequested"}
)

// timestampSlack is how far a responseTimestamp may be from the client's
// clock before it is reported: generous, as it only catches nonsense (0, a
// timestamp in seconds) and not a skewed clock.
const timestampSlack = time.Hour

// Check lists what is wrong with the answer's form, whatever its outcome:
// the body opens with Google's side of the envelope and has its
// Content-Type, an ErrorResponse or a method's response has the fields and
// codes SPEC §1, §3 and §6–9 give it, and responseTimestamp is in the
// dialect's form. An empty body is fine for an error (SPEC §3).
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
		if code := r.ErrorCode(); !slices.Contains(errorCodes, code) {
			add("errorResponseCode %q is not one of SPEC §3's codes", code)
		}
		return problems
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
		k, _ := oneOf(v)
		if !slices.Contains(allowed, k) {
			add("%s is %s, want a one-of of %s", field, describeOneOf(v), strings.Join(allowed, ", "))
		}
		return k
	}
	switch r.Path {
	case PathSendOtp:
		str("paymentIntegratorSendOtpId")
		if res := r.Str("result"); !slices.Contains(sendResults, res) {
			add("result %q is not a sendOtp result code", res)
		}
	case PathVerifyOtp:
		str("paymentIntegratorVerifyOtpId")
		if res := r.Str("result"); !slices.Contains(verifyResults, res) {
			add("result %q is not a verifyOtp result code", res)
		}
	case PathEcho, PathEchoV2:
		if _, ok := r.Body["clientMessage"].(string); !ok {
			add("no clientMessage")
		}
		if _, ok := r.Body["serverMessage"].(string); !ok {
			add("no serverMessage")
		}
	case PathAuthenticate:
		oneOfIn("nativeOtpResult", nativeResults, true)
		oneOfIn("redirectUrlResult", redirectResults, false)
	case PathCardVerifyOtp:
		if oneOfIn("result", cardVerifyResults, true) == "success" {
			str("paymentIntegratorVerifyOtpId")
		}
	case PathResendOtp:
		oneOfIn("result", resendResults, true)
	}
	return problems
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
