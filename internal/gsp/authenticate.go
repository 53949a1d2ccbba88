package gsp

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// AuthenticateOutcome names what one of the two cases of an authenticate
// response says: how the native OTP went, and why there is no redirect.
type AuthenticateOutcome string

// The outcomes, also the keys of an operator's overrides (--authenticate-shape).
const (
	NativeOtpSent         AuthenticateOutcome = "native-otp-sent"
	NativeOtpNotSupported AuthenticateOutcome = "native-otp-not-supported"
	NativeOtpNotRequested AuthenticateOutcome = "native-otp-not-requested"
	RedirectNotSupported  AuthenticateOutcome = "redirect-url-not-supported"
	RedirectNotRequested  AuthenticateOutcome = "redirect-url-not-requested"
)

// ShapeRow is one member of the authenticate response and how sure we are of
// it. A row with an Outcome is the default JSON of a case member for that
// outcome; a row without one is a member that every response has.
type ShapeRow struct {
	Member    string
	Outcome   AuthenticateOutcome
	Fragment  string
	Confirmed bool   // Google's text shows this exact member; false: inferred
	Evidence  string // where the name comes from
}

// AuthenticateShape is the whole authenticate response shape, in one table,
// so that correcting an inferred member is one edit (SPEC §8). Confirmed
// members are spelt as Google's example response on the authenticated card
// FOP authenticate page spells them. The inferred ones follow Google's rule of
// naming a member the lowerCamel of its type, from the type names that page
// lists (NativeOtpSupport, NativeOtpResult, NativeOtpNotRequested,
// RedirectUrlNotSupported, RedirectUrlNotSupportedReason,
// RedirectUrlNotRequested). An operator told the exact shape by Google can
// override every fragment without a rebuild.
var AuthenticateShape = []ShapeRow{
	{Member: "responseHeader", Confirmed: true, Evidence: "example response"},
	{Member: "paymentIntegratorAuthenticationId", Confirmed: true, Evidence: "example response"},
	{Member: "cvnResult", Confirmed: true, Evidence: "example response; values from the CvnResult enum"},
	{Member: "redirectUrlResultCase", Confirmed: true, Evidence: "example response"},
	{Member: "nativeOtpResultCase", Confirmed: true, Evidence: "example response"},
	{Member: "nativeOtpResultCase", Outcome: NativeOtpNotSupported, Confirmed: true,
		Fragment: `{"nativeOtpNotSupported":{"nativeOtpNotSupportedReason":{"notSupportedByIssuer":{}}}}`,
		Evidence: "example response, verbatim"},
	{Member: "nativeOtpResultCase", Outcome: NativeOtpSent, Confirmed: false,
		Fragment: `{"nativeOtpSupport":{"nativeOtpResult":{"otpSent":{}}}}`,
		Evidence: "types NativeOtpSupport and NativeOtpResult; the page's summary calls the outcome otpSent"},
	{Member: "nativeOtpResultCase", Outcome: NativeOtpNotRequested, Confirmed: false,
		Fragment: `{"nativeOtpNotRequested":{}}`,
		Evidence: "type NativeOtpNotRequested"},
	{Member: "redirectUrlResultCase", Outcome: RedirectNotSupported, Confirmed: false,
		Fragment: `{"redirectUrlNotSupported":{"redirectUrlNotSupportedReason":{"notSupportedByIssuer":{}}}}`,
		Evidence: "types RedirectUrlNotSupported and RedirectUrlNotSupportedReason; the reason mirrors the confirmed native one"},
	{Member: "redirectUrlResultCase", Outcome: RedirectNotRequested, Confirmed: false,
		Fragment: `{"redirectUrlNotRequested":{}}`,
		Evidence: "type RedirectUrlNotRequested"},
}

// CvnResult is the cvnResult of an authenticate response [G].
type CvnResult string

// CvnNotDetermined is otpgate's answer: it does not check CVNs (SPEC §8).
const CvnNotDetermined CvnResult = "CVN_RESULT_NOT_DETERMINED"

// cvnResults are Google's CvnResult values.
var cvnResults = []CvnResult{
	"CVN_RESULT_UNSPECIFIED", "NOT_SENT_UNSUPPORTED_BY_INTEGRATOR", "NOT_SENT_UNSUPPORTED_BY_NETWORK",
	"NOT_SENT_UNSUPPORTED_BY_ISSUER", "NOT_SENT_SUPPORTED", "NOT_VERIFIED", "MATCH", "MISMATCH",
	"UNSUPPORTED_BY_INTEGRATOR", "UNSUPPORTED_BY_NETWORK", "UNSUPPORTED_BY_ISSUER", "SKIPPED_BY_NETWORK",
	"SKIPPED_BY_ISSUER", CvnNotDetermined,
}

// ParseCvnResult accepts one of Google's CvnResult values.
func ParseCvnResult(s string) (CvnResult, error) {
	if !slices.Contains(cvnResults, CvnResult(s)) {
		return "", fmt.Errorf("cvnResult %q is not one of Google's values (%s)", s, joinCvnResults())
	}
	return CvnResult(s), nil
}

func joinCvnResults() string {
	s := make([]string, len(cvnResults))
	for i, v := range cvnResults {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// AuthenticateResponse is the 200 body of authenticate, its members in the
// order of Google's example.
type AuthenticateResponse struct {
	ResponseHeader                    ResponseHeader  `json:"responseHeader"`
	PaymentIntegratorAuthenticationID string          `json:"paymentIntegratorAuthenticationId"`
	CvnResult                         CvnResult       `json:"cvnResult"`
	RedirectURLResultCase             json.RawMessage `json:"redirectUrlResultCase"`
	NativeOtpResultCase               json.RawMessage `json:"nativeOtpResultCase"`
}

// AuthenticateShapes holds the fragment each outcome writes: the table's
// defaults, with an operator's overrides applied.
type AuthenticateShapes struct {
	fragments map[AuthenticateOutcome]json.RawMessage
}

// NewAuthenticateShapes validates overrides (outcome → JSON fragment) and
// applies them over the defaults. A fragment must be one JSON object with
// exactly one member, the case's one-of, whose value is an object; inside it
// every object is a one-of too, with at most one member (an empty object is
// Google's Empty).
func NewAuthenticateShapes(overrides map[string]string) (*AuthenticateShapes, error) {
	s := &AuthenticateShapes{fragments: map[AuthenticateOutcome]json.RawMessage{}}
	for _, row := range AuthenticateShape {
		if row.Outcome != "" {
			s.fragments[row.Outcome] = json.RawMessage(row.Fragment)
		}
	}
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		outcome := AuthenticateOutcome(k)
		if _, ok := s.fragments[outcome]; !ok {
			return nil, fmt.Errorf("authenticate shape %q: no such outcome; the outcomes are %s", k, s.outcomes())
		}
		fragment, err := checkFragment(overrides[k])
		if err != nil {
			return nil, fmt.Errorf("authenticate shape %q: %w", k, err)
		}
		s.fragments[outcome] = fragment
	}
	return s, nil
}

func (s *AuthenticateShapes) outcomes() string {
	var names []string
	for o := range s.fragments {
		names = append(names, string(o))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func checkFragment(text string) (json.RawMessage, error) {
	var v any
	if err := jsonv2.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("not one JSON value without duplicate members: %v", err)
	}
	top, ok := v.(map[string]any)
	if !ok || len(top) != 1 {
		return nil, fmt.Errorf("must be a JSON object with exactly one member (the one-of's choice), as in %s",
			`{"nativeOtpNotRequested": {}}`)
	}
	for name, inner := range top {
		if _, ok := inner.(map[string]any); !ok {
			return nil, fmt.Errorf("member %q must hold an object", name)
		}
		if path, ok := oneOfs(inner, name); !ok {
			return nil, fmt.Errorf("%s has more than one member; every object of a fragment is a one-of", path)
		}
	}
	compact := jsontext.Value(text)
	if err := compact.Compact(); err != nil {
		return nil, err
	}
	return json.RawMessage(compact), nil
}

// oneOfs reports whether every object within v has at most one member, and
// the path of the first that has more.
func oneOfs(v any, path string) (string, bool) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) > 1 {
			return path, false
		}
		for k, inner := range x {
			return oneOfs(inner, path+"."+k)
		}
	case []any:
		for i, inner := range x {
			if p, ok := oneOfs(inner, fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
	}
	return "", true
}

// Response builds an authenticate response with the fragments of the two
// outcomes.
func (s *AuthenticateShapes) Response(h ResponseHeader, id string, cvn CvnResult, native, redirect AuthenticateOutcome) AuthenticateResponse {
	return AuthenticateResponse{
		ResponseHeader:                    h,
		PaymentIntegratorAuthenticationID: id,
		CvnResult:                         cvn,
		RedirectURLResultCase:             s.fragments[redirect],
		NativeOtpResultCase:               s.fragments[native],
	}
}
