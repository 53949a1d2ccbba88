package server_test

import (
	"testing"

	"github.com/otpgate/otpgate/internal/server"
)

func TestSurfacesCanBeTurnedOff(t *testing.T) {
	cards, err := server.SelectSurfaces([]string{"india-cards"})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, withSurfaces(cards...))
	for _, p := range []string{"/v1/sendOtp", "/v1/echo", "/e-wallets-v1/sendOtp", "/korea-e-wallets-v1/verifyOtp"} {
		r := h.post(p, map[string]any{"requestHeader": h.header("e1"), "clientMessage": "ping"})
		if r.status != 404 || r.body != nil {
			t.Errorf("%s on a deployment without it: %d %s, want the router's 404", p, r.status, r.raw)
		}
	}
	r := h.post("/v2/echo", map[string]any{"requestHeader": h.cardHeader("e2"), "clientMessage": "ping"})
	expect(t, r, 200, "clientMessage", "ping")
	for _, names := range [][]string{{"standard", "wallets"}, {"standard", "standard"}} {
		if _, err := server.SelectSurfaces(names); err == nil {
			t.Errorf("%v accepted: an unknown surface, or two routes for one path", names)
		}
	}
}

// Each legacy surface keeps its own requestIds: Google's APIs number their
// requests independently, so one id on two surfaces is two requests.
func TestLegacySurfacesKeepTheirOwnRequestIDs(t *testing.T) {
	h := newHarness(t, withCodes("111111", "222222", "333333"))
	send := func(prefix string, account map[string]any) response {
		body := map[string]any{"requestHeader": h.header("s1"), "smsMatchingToken": token}
		for k, v := range account {
			body[k] = v
		}
		return h.post(prefix+"sendOtp", body)
	}
	expect(t, send("/v1/", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	expect(t, send("/e-wallets-v1/", map[string]any{"associationId": "as-2"}), 200, "result", "SUCCESS")
	expect(t, send("/korea-e-wallets-v1/", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	if n := len(h.sms.Messages()); n != 3 {
		t.Fatalf("%d SMS, want 3", n)
	}
	// A verifyOtp finds the send of its own surface only: 222222 went to
	// as-2 through e-wallets, 333333 to as-1 through korea-e-wallets.
	verify := func(prefix, code string) response {
		return h.post(prefix+"verifyOtp", map[string]any{"requestHeader": h.header("v1"), "sendOtpRequestId": "s1", "otp": code})
	}
	expect(t, verify("/korea-e-wallets-v1/", "222222"), 200, "result", "OTP_NOT_MATCHED")
	expect(t, verify("/e-wallets-v1/", "222222"), 200, "result", "SUCCESS")
}
