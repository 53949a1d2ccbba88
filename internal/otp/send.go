package otp

import (
	"context"
	"fmt"
	"time"
)

// The sendOtp results (SPEC §6), as stored in idempotency records.
const (
	SendSuccess            = "success"
	SendInvalidPhone       = "invalid_phone_number"
	SendUnknownPhone       = "unknown_phone_number"
	SendPhoneNotAssociated = "phone_not_associated"
	SendAccountClosed      = "account_closed"
	SendAccountTakenOver   = "account_closed_taken_over"
	SendAccountFraud       = "account_closed_fraud"
	SendNotEligible        = "not_eligible"
	SendLimitReached       = "otp_limit_reached"
	SendUnableToSend       = "message_unable_to_be_sent"
)

// SendRequest is a sendOtp as the domain sees it.
type SendRequest struct {
	Ref
	// Phone is the accountPhoneNumber as Google sent it, or "". PhoneValid
	// says whether it parsed as an E.164 mobile number; Phone is then canonical.
	Phone            string
	PhoneValid       bool
	AssociationID    string
	SMSMatchingToken string
}

// sendPlan is the work left after the claiming transaction: send this code to
// this phone, then record the outcome under this claim.
type sendPlan struct {
	rec   *Request
	phone string
	code  string
}

// Send runs a sendOtp: claim the requestId and create the challenge in one
// short transaction, send the SMS outside any transaction, then record the
// outcome and the response in a second. A retry of a pending request whose
// claim has lapsed (its instance died mid-send) takes it over with a fresh
// code, so no two codes of one challenge are ever valid.
func (s *Service) Send(ctx context.Context, r SendRequest) (Outcome, error) {
	var plan *sendPlan
	out, err := s.waitInFlight(ctx, func() (Outcome, error) {
		var out Outcome
		plan = nil
		err := s.store.Tx(ctx, func(tx Tx) (err error) {
			out, plan, err = s.claimSend(tx, r)
			return err
		})
		return out, err
	})
	if err != nil || plan == nil {
		return out, err
	}
	return s.deliver(ctx, r, plan)
}

// claimSend is the first transaction. It returns a finished outcome, or a
// plan when an SMS is to be sent.
func (s *Service) claimSend(tx Tx, r SendRequest) (Outcome, *sendPlan, error) {
	now := s.now()
	rec, err := claim(tx, r.Ref)
	if err != nil {
		return Outcome{}, nil, err
	}
	if rec != nil {
		if rec.State == RequestDone {
			return Outcome{Result: rec.Result, ReplyID: rec.ReplyID}, nil, nil
		}
		if now.Sub(rec.ClaimedAt) < s.policy.ClaimLease {
			return Outcome{}, nil, ErrInFlight
		}
		return s.takeOver(tx, rec, now)
	}

	acct, result, err := s.resolveAccount(tx, r)
	if err != nil {
		return Outcome{}, nil, err
	}
	if result == "" {
		result, err = s.checkBudgets(tx, acct, now)
		if err != nil {
			return Outcome{}, nil, err
		}
	}
	if result != "" {
		rec := s.newRequest(r.Ref, now, RequestDone, result)
		return Outcome{Result: result, ReplyID: rec.ReplyID}, nil, tx.InsertRequest(rec)
	}

	if err := tx.SupersedeChallenges(acct.ID); err != nil {
		return Outcome{}, nil, err
	}
	code := s.newCode()
	ch := &Challenge{ID: newID(), AccountID: acct.ID, Phone: acct.Phone, State: ChallengeSending,
		CreatedAt: now, ExpiresAt: now.Add(s.policy.Lifetime)}
	ch.CodeMAC = s.codeMAC(ch.ID, code)
	if err := tx.InsertChallenge(ch); err != nil {
		return Outcome{}, nil, err
	}
	for _, subject := range budgetSubjects(acct) {
		if err := tx.AddEvent(EventSend, subject, now); err != nil {
			return Outcome{}, nil, err
		}
	}
	rec = s.newRequest(r.Ref, now, RequestPending, "")
	rec.ChallengeID = ch.ID
	rec.ClaimToken = newID()
	if err := tx.InsertRequest(rec); err != nil {
		return Outcome{}, nil, err
	}
	return Outcome{}, &sendPlan{rec: rec, phone: acct.Phone, code: code}, nil
}

// takeOver resumes a pending sendOtp whose claimant vanished. The code of the
// first attempt lived only in that process's memory, and its SMS may or may not
// have gone out: replace the challenge's code so that at most one is valid.
func (s *Service) takeOver(tx Tx, rec *Request, now time.Time) (Outcome, *sendPlan, error) {
	ch, err := tx.LockChallenge(rec.ChallengeID)
	if err != nil {
		return Outcome{}, nil, err
	}
	if ch == nil || ch.State != ChallengeSending {
		// A newer send superseded it (or it was purged): this one can no
		// longer deliver a valid code, and nothing says its SMS went out.
		rec.State, rec.Result = RequestDone, SendUnableToSend
		return Outcome{Result: rec.Result, ReplyID: rec.ReplyID}, nil, tx.UpdateRequest(rec)
	}
	code := s.newCode()
	ch.CodeMAC = s.codeMAC(ch.ID, code)
	ch.ExpiresAt = now.Add(s.policy.Lifetime)
	ch.Attempts = 0
	if err := tx.UpdateChallenge(ch); err != nil {
		return Outcome{}, nil, err
	}
	rec.ClaimToken, rec.ClaimedAt = newID(), now
	if err := tx.UpdateRequest(rec); err != nil {
		return Outcome{}, nil, err
	}
	s.log.Warn("resuming a sendOtp whose first attempt did not finish", "requestId", rec.ID)
	return Outcome{}, &sendPlan{rec: rec, phone: ch.Phone, code: code}, nil
}

// resolveAccount finds the account of a sendOtp. A non-empty result ends the
// request with that business result.
func (s *Service) resolveAccount(tx Tx, r SendRequest) (*Account, string, error) {
	if r.Phone != "" && !r.PhoneValid {
		return nil, SendInvalidPhone, nil
	}
	if r.AssociationID != "" {
		acct, err := tx.AccountByAssociation(r.AssociationID)
		if err != nil {
			return nil, "", err
		}
		if acct == nil {
			return nil, "", ErrUnknownAssociation
		}
		if r.Phone != "" && r.Phone != acct.Phone {
			return nil, SendPhoneNotAssociated, nil
		}
		switch acct.Status {
		case StatusActive:
			return acct, "", nil
		case StatusClosed:
			return nil, SendAccountClosed, nil
		case StatusClosedAccountTakenOver:
			return nil, SendAccountTakenOver, nil
		case StatusClosedFraud:
			return nil, SendAccountFraud, nil
		default:
			return nil, SendNotEligible, nil
		}
	}
	acct, err := tx.AccountByPhone(r.Phone)
	if err != nil {
		return nil, "", err
	}
	if acct == nil {
		return nil, SendUnknownPhone, nil
	}
	// Google may only be told an account is closed when it named the account
	// by associationId; by phone, a closed account is merely not eligible.
	if acct.Status != StatusActive {
		return nil, SendNotEligible, nil
	}
	return acct, "", nil
}

// budgetSubjects are the keys budgets are counted under: the account and the
// phone, so that neither many phones nor many accounts escape a limit.
func budgetSubjects(a *Account) []string {
	return []string{"account:" + a.ID, "phone:" + a.Phone}
}

// checkBudgets returns SendLimitReached when a send or failure budget of the
// account or its phone is spent.
func (s *Service) checkBudgets(tx Tx, acct *Account, now time.Time) (string, error) {
	for _, subject := range budgetSubjects(acct) {
		for _, rule := range []struct {
			kind    EventKind
			budgets []Budget
		}{{EventSend, s.policy.SendBudgets}, {EventVerifyFail, s.policy.FailBudgets}} {
			for _, b := range rule.budgets {
				n, err := tx.CountEvents(rule.kind, subject, now.Add(-b.Per))
				if err != nil {
					return "", err
				}
				if n >= b.Count {
					return SendLimitReached, nil
				}
			}
		}
	}
	return "", nil
}

// deliver sends the SMS of a plan and records its outcome.
func (s *Service) deliver(ctx context.Context, r SendRequest, plan *sendPlan) (Outcome, error) {
	sendErr := s.messenger.SendCode(ctx, plan.phone, plan.code, r.SMSMatchingToken)
	result := SendSuccess
	if sendErr != nil {
		result = SendUnableToSend
		s.log.Warn("SMS not accepted", "requestId", r.RequestID, "error", sendErr)
	}
	rec := plan.rec
	var out Outcome
	// The outcome must be recorded even if Google hung up meanwhile: the SMS is
	// out, and a retry must get this answer rather than a second message.
	recordCtx := context.WithoutCancel(ctx)
	err := s.store.Tx(recordCtx, func(tx Tx) error {
		cur, err := tx.LockRequest(rec.Scope, rec.ID)
		if err != nil {
			return err
		}
		if cur == nil || cur.ClaimToken != rec.ClaimToken {
			// Our claim lapsed and another attempt took over.
			return ErrInFlight
		}
		if cur.State == RequestDone {
			out = Outcome{Result: cur.Result, ReplyID: cur.ReplyID}
			return nil
		}
		ch, err := tx.LockChallenge(rec.ChallengeID)
		if err != nil {
			return err
		}
		if ch != nil && ch.State == ChallengeSending {
			ch.State = ChallengeLive
			if sendErr != nil {
				ch.State = ChallengeFailed
			}
			if err := tx.UpdateChallenge(ch); err != nil {
				return err
			}
		}
		cur.State, cur.Result = RequestDone, result
		out = Outcome{Result: result, ReplyID: cur.ReplyID}
		return tx.UpdateRequest(cur)
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("otp: record sendOtp %s: %w", rec.ID, err)
	}
	return out, nil
}
