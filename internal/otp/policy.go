package otp

import (
	"fmt"
	"time"
)

// Budget allows Count events per sliding window of Per.
type Budget struct {
	Count int
	Per   time.Duration
}

func (b Budget) String() string { return fmt.Sprintf("%d/%s", b.Count, b.Per) }

// Policy holds the knobs of SPEC §10.
type Policy struct {
	CodeLength  int           // digits per code
	Lifetime    time.Duration // how long a code can be verified
	MaxAttempts int           // wrong guesses per challenge before it is dead
	// SendBudgets bound the SMS sends per account and, separately, per phone.
	SendBudgets []Budget
	// FailBudgets bound failed verifications per account and per phone; once
	// spent, sendOtp answers OTP_LIMIT_REACHED.
	FailBudgets []Budget
	// ClaimLease is how long a pending sendOtp belongs to the instance that
	// claimed it; after that a retry may take it over. It must exceed the SMS
	// provider's timeout.
	ClaimLease time.Duration
	// InFlightWait is how long a duplicate of a request in progress waits for
	// the first one's answer before giving up with ErrInFlight (503).
	InFlightWait time.Duration
	// Cards are the India Cards sessions' knobs.
	Cards CardPolicy
}

// CardPolicy holds the India Cards knobs.
type CardPolicy struct {
	// SessionLifetime is how long after authenticate resendOtp may be called.
	SessionLifetime time.Duration
	// MaxResends is how many resendOtp calls one authentication allows.
	MaxResends int
}

// DefaultCardPolicy: a 10-minute session, 3 resends (SPEC §10).
func DefaultCardPolicy() CardPolicy {
	return CardPolicy{SessionLifetime: 10 * time.Minute, MaxResends: 3}
}

// DefaultPolicy is SPEC §10's defaults.
func DefaultPolicy() Policy {
	return Policy{
		CodeLength:   6,
		Lifetime:     5 * time.Minute,
		MaxAttempts:  5,
		SendBudgets:  []Budget{{5, 15 * time.Minute}, {10, 24 * time.Hour}},
		FailBudgets:  []Budget{{20, 24 * time.Hour}},
		ClaimLease:   30 * time.Second,
		InFlightWait: 5 * time.Second,
		Cards:        DefaultCardPolicy(),
	}
}

// Validate rejects a policy that cannot work.
func (p Policy) Validate() error {
	switch {
	case p.CodeLength < 6 || p.CodeLength > 10:
		return fmt.Errorf("code length %d: must be 6 to 10 digits", p.CodeLength)
	case p.Lifetime < 30*time.Second:
		return fmt.Errorf("code lifetime %s: must be at least 30s", p.Lifetime)
	case p.MaxAttempts < 1:
		return fmt.Errorf("max attempts %d: must be at least 1", p.MaxAttempts)
	case p.ClaimLease <= 0 || p.InFlightWait <= 0:
		return fmt.Errorf("claim lease and in-flight wait must be positive")
	case p.Cards.SessionLifetime <= 0:
		return fmt.Errorf("card session lifetime %s: must be positive", p.Cards.SessionLifetime)
	case p.Cards.MaxResends < 0:
		return fmt.Errorf("max resends %d: must not be negative", p.Cards.MaxResends)
	}
	for _, b := range append(append([]Budget(nil), p.SendBudgets...), p.FailBudgets...) {
		if b.Count < 1 || b.Per <= 0 {
			return fmt.Errorf("budget %s: needs a positive count and window", b)
		}
	}
	return nil
}

// longestWindow is how long budget events must be kept.
func (p Policy) longestWindow() time.Duration {
	var w time.Duration
	for _, b := range append(append([]Budget(nil), p.SendBudgets...), p.FailBudgets...) {
		w = max(w, b.Per)
	}
	return w
}
