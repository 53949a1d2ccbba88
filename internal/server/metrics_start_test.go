package server_test

import (
	"strings"
	"testing"
)

// TestRequestSeriesStartAtZero: a fresh server exports, at 0, the request
// series the alerts select (deploy/prometheus/otpgate-rules.yml): a wrong
// code of either verify method and every 503 result of every method.
// Without them the first failure after a restart creates its series, and
// rate() and increase() see no change.
func TestRequestSeriesStartAtZero(t *testing.T) {
	h := newHarness(t)
	for _, sample := range []string{
		`otpgate_requests_total{method="verifyOtp",result="OTP_NOT_MATCHED",status="200"}`,
		`otpgate_requests_total{method="cardVerifyOtp",result="otpNotMatched",status="200"}`,
		`otpgate_requests_total{method="sendOtp",result="SERVICE_UNAVAILABLE",status="503"}`,
		`otpgate_requests_total{method="verifyOtp",result="SERVICE_UNAVAILABLE",status="503"}`,
		`otpgate_requests_total{method="authenticate",result="SHED",status="503"}`,
		`otpgate_requests_total{method="resendOtp",result="BODY_TIMEOUT",status="503"}`,
		`otpgate_requests_total{method="cardVerifyOtp",result="PANIC",status="503"}`,
	} {
		if v := h.metric(sample); v != "0" {
			t.Errorf("a fresh server exports %s %q, want 0", sample, v)
		}
	}
	// A wrong code counts on the series that was there.
	h.sendOtp("s1", map[string]any{"associationId": "as-1"})
	h.verifyOtp("v1", "s1", "x")
	if v := h.metric(`otpgate_requests_total{method="verifyOtp",result="OTP_NOT_MATCHED",status="200"}`); v != "1" {
		t.Errorf("after one wrong code: %q, want 1", v)
	}
	_, text := getURL(t, h.admin+"/metrics")
	if strings.Contains(text, `result="OTP_NOT_MATCHED",status="503"`) {
		t.Error("a series no request can produce was started")
	}
}
