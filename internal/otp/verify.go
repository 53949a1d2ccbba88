package otp

import "context"

// The verifyOtp results (SPEC §7), as stored in idempotency records.
const (
	VerifySuccess     = "success"
	VerifyNotMatched  = "otp_not_matched"
	VerifyAlreadyUsed = "otp_already_used"
)

// VerifyRequest is a verifyOtp as the domain sees it.
type VerifyRequest struct {
	Ref
	SendRequestID string // the requestId of the sendOtp, in the same scope
	SendMethod    string // the method that sent the code ("sendOtp")
	Code          string
}

// Verify checks a code in one transaction: the attempt, the challenge's new
// state, the failure budget and the stored response commit together.
func (s *Service) Verify(ctx context.Context, r VerifyRequest) (Outcome, error) {
	var out Outcome
	err := s.store.Tx(ctx, func(tx Tx) error {
		var err error
		out, err = s.verify(tx, r)
		return err
	})
	return out, err
}

func (s *Service) verify(tx Tx, r VerifyRequest) (Outcome, error) {
	now := s.now()
	rec, err := s.claim(tx, r.Ref)
	if err != nil {
		return Outcome{}, err
	}
	if rec != nil {
		// Verify records are written done in one transaction, never pending.
		return Outcome{Result: rec.Result, ReplyID: rec.ReplyID}, nil
	}
	send, err := tx.LockRequest(r.Scope, r.SendMethod, r.SendRequestID)
	if err != nil {
		return Outcome{}, err
	}
	if send == nil || send.State != RequestDone || send.Result != SendSuccess {
		return Outcome{}, ErrUnknownSend
	}
	ch, err := tx.LockChallenge(send.ChallengeID)
	if err != nil {
		return Outcome{}, err
	}
	if ch == nil {
		return Outcome{}, ErrUnknownSend
	}

	// The failure budget is a hard bound on guesses (SPEC §10): once the
	// account or the phone has spent it, no guess is compared with any code
	// of theirs, and none is counted, until the window frees up. Without this
	// a live code would keep its attempts past the budget: 19 failures, a
	// new code, 5 more guesses.
	acct, err := s.accountOf(tx, ch)
	if err != nil {
		return Outcome{}, err
	}
	groups := s.budgetSubjects(acct, now)
	spent, err := s.spent(tx, groups, s.failRules(), now)
	if err != nil {
		return Outcome{}, err
	}
	result := VerifyNotMatched
	defer s.auditVerify(tx, r, acct, *ch, ch, &result, spent, now)
	if !spent {
		// Compute the MAC whatever the state, so timing says nothing about it.
		matches := s.matches(ch, r.Code)
		switch {
		case ch.State == ChallengeConsumed:
			if matches {
				result = VerifyAlreadyUsed
			}
		case ch.State != ChallengeLive, !now.Before(ch.ExpiresAt), ch.Attempts >= s.policy.MaxAttempts:
			// Expired, superseded or out of attempts: the enum has no better code.
		default:
			ch.Attempts++
			if matches {
				ch.State = ChallengeConsumed
				result = VerifySuccess
			}
			if err := tx.UpdateChallenge(ch); err != nil {
				return Outcome{}, err
			}
		}
		if result == VerifyNotMatched {
			if err := s.addEvents(tx, EventVerifyFail, groups, now); err != nil {
				return Outcome{}, err
			}
		}
	}
	rec = s.newRequest(r.Ref, now, RequestDone, result)
	if err := tx.InsertRequest(rec); err != nil {
		return Outcome{}, err
	}
	return Outcome{Result: result, ReplyID: rec.ReplyID, LockedOut: spent}, nil
}
