package main

import (
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
)

// TestNoExpiryKnown: only our JOSE keys named by a pkcs11: URI without
// x-public-key, and with no expiry, are the ones no alert can protect.
func TestNoExpiryKnown(t *testing.T) {
	unknown := noExpiryKnown([]string{"ours.jwk", "pkcs11:token=t;object=bare", "pkcs11:token=t;object=withjwk?x-public-key=/etc/k.json"})
	for _, tc := range []struct {
		key  envelope.KeyInfo
		want bool
	}{
		{envelope.KeyInfo{Scheme: "jose", Owner: "ours", ID: "bare"}, true},
		{envelope.KeyInfo{Scheme: "jose", Owner: "ours", ID: "withjwk"}, false},
		{envelope.KeyInfo{Scheme: "jose", Owner: "ours", ID: "ours.jwk"}, false},
		{envelope.KeyInfo{Scheme: "jose", Owner: "google", ID: "bare"}, false},
		{envelope.KeyInfo{Scheme: "pgp", Owner: "ours", ID: "bare"}, false},
		{envelope.KeyInfo{Scheme: "jose", Owner: "ours", ID: "bare", Expires: time.Unix(2e9, 0)}, false},
	} {
		if got := unknown(tc.key); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.key, got, tc.want)
		}
	}
}
