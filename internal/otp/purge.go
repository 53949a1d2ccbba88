package otp

import (
	"context"
	"time"
)

// Retention says how long records are kept.
type Retention struct {
	// Requests: idempotency records, so that a late retry still gets its
	// answer (30 days by default, SPEC §4).
	Requests time.Duration
	// Challenges past their expiry: kept a while so that a late verifyOtp
	// gets OTP_NOT_MATCHED rather than an unknown sendOtpRequestId.
	Challenges time.Duration
}

// DefaultRetention is SPEC §4's 30 days for requests and a day for challenges.
func DefaultRetention() Retention {
	return Retention{Requests: 30 * 24 * time.Hour, Challenges: 24 * time.Hour}
}

// Purge deletes what is past retention once.
func (s *Service) Purge(ctx context.Context, r Retention) (int64, error) {
	now := s.now()
	return s.store.Purge(ctx, PurgeBefore{
		Requests:   now.Add(-r.Requests),
		Challenges: now.Add(-r.Challenges),
		Events:     now.Add(-s.policy.longestWindow()),
	})
}

// RunPurger purges every interval until ctx ends.
func (s *Service) RunPurger(ctx context.Context, r Retention, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.Purge(ctx, r); err != nil {
			s.log.Error("purge failed", "error", err)
		} else if n > 0 {
			s.log.Info("purged expired records", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
