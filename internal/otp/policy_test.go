package otp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// TestPolicyCards: the India Cards knobs are part of the policy, and a
// session that could never be resent in, or a negative resend count, is
// refused with the knob named.
func TestPolicyCards(t *testing.T) {
	if err := otp.DefaultPolicy().Validate(); err != nil {
		t.Fatalf("the default policy: %v", err)
	}
	if got := otp.DefaultPolicy().Cards; got != otp.DefaultCardPolicy() {
		t.Errorf("the default policy's cards = %+v, want %+v", got, otp.DefaultCardPolicy())
	}
	for _, c := range []struct {
		cards otp.CardPolicy
		want  string
	}{
		{otp.CardPolicy{MaxResends: 3}, "card session lifetime 0s"},
		{otp.CardPolicy{SessionLifetime: -time.Minute, MaxResends: 3}, "card session lifetime -1m0s"},
		{otp.CardPolicy{SessionLifetime: time.Minute, MaxResends: -1}, "max resends -1"},
	} {
		p := otp.DefaultPolicy()
		p.Cards = c.cards
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate with cards %+v = %v, want an error naming %q", c.cards, err, c.want)
		}
	}
	p := otp.DefaultPolicy()
	p.Cards.MaxResends = 0 // no resends at all is a policy
	if err := p.Validate(); err != nil {
		t.Errorf("Validate with no resends allowed: %v", err)
	}
}
