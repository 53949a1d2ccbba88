package otp

import (
	"context"
	"errors"
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

// ErrSendFailed: the SMS of a request whose method has no business result for
// that failure (resendOtp) was not accepted. Nothing is stored, so a retry is
// processed afresh; the server answers 503.
var ErrSendFailed = errors.New("the SMS provider did not accept the message")

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

// delivery says how a method sends and what it does when the SMS fails.
type delivery struct {
	token     string // smsMatchingToken, "" for India Cards
	onFailure onFailure
	// session is the authenticate record a resend belongs to: it points at
	// the new code once the SMS is out, and gets its resend back if not.
	session *Ref
}

// onFailure is what a method does with a request whose code cannot be
// sent: its SMS was not accepted, or its take-over found the code gone.
type onFailure int

const (
	// answerUnableToSend stores MESSAGE_UNABLE_TO_BE_SENT (sendOtp,
	// authenticate): the request is done, and its retries replay that.
	answerUnableToSend onFailure = iota + 1
	// withdrawClaim deletes the request (resendOtp, which has no business
	// result for it) and answers ErrSendFailed, so that a retry is
	// processed afresh.
	withdrawClaim
)

// stepKind is what a send does after one of its transactions.
type stepKind int

const (
	// stepAnswer: answer with the step's outcome, stored by this
	// transaction or replayed from an earlier one.
	stepAnswer stepKind = iota + 1
	// stepDeliver: text the step's plan, then record what became of it.
	stepDeliver
	// stepWithdrawn: the claim was given up and that is committed; answer
	// ErrSendFailed.
	stepWithdrawn
)

func (k stepKind) String() string {
	switch k {
	case stepAnswer:
		return "answer"
	case stepDeliver:
		return "deliver"
	case stepWithdrawn:
		return "withdrawn"
	}
	return fmt.Sprintf("stepKind(%d)", int(k))
}

// step is where a send stands after one of its transactions (see
// docs/states.md): claim, then deliver and record.
type step struct {
	kind stepKind
	out  Outcome   // of stepAnswer
	plan *sendPlan // of stepDeliver
}

func answer(out Outcome) step         { return step{kind: stepAnswer, out: out} }
func deliverPlan(plan *sendPlan) step { return step{kind: stepDeliver, plan: plan} }

var withdrawn = step{kind: stepWithdrawn}

// reply is the answer of a send that ended at st.
func (st step) reply() (Outcome, error) {
	switch st.kind {
	case stepAnswer:
		return st.out, nil
	case stepWithdrawn:
		return Outcome{}, ErrSendFailed
	case stepDeliver:
		// deliver ends every plan: a step still to deliver is a bug.
	}
	return Outcome{}, fmt.Errorf("otp: a send ended at step %s", st.kind)
}

// sendPlan is the work left after the claiming transaction: send this code to
// this phone, then record the outcome under this claim.
type sendPlan struct {
	delivery
	rec       *Request
	accountID string
	phone     string
	code      string
}

// sms is the message of the plan. Its text states what the request's record
// keeps (Request.Card). An India Cards session recorded before the store kept
// that (a release ago, for at most a session's lifetime) still gets the card
// flow's template, with nothing to state: one that names the amount or the
// card's digits then fails to render, and the resend fails (503) rather than
// go out as a sendOtp's message.
func (p *sendPlan) sms() CodeSMS {
	m := CodeSMS{Phone: p.phone, Code: p.code, SMSMatchingToken: p.token, Card: p.rec.Card}
	if p.token == "" && m.Card == nil {
		m.Card = &CardSMS{}
	}
	return m
}

// Send runs a sendOtp: claim the requestId and create the challenge in one
// short transaction, send the SMS outside any transaction, then record the
// outcome and the response in a second. A retry of a pending request whose
// claim has lapsed (its instance died mid-send) takes it over with a fresh
// code, so no two codes of one challenge are ever valid.
func (s *Service) Send(ctx context.Context, r SendRequest) (Outcome, error) {
	res, err := s.resolve(ctx, func(rd Reader) (*Account, *CardSMS, string, error) {
		acct, result, err := s.resolveAccount(rd, r)
		return acct, nil, result, err
	})
	if err != nil {
		return Outcome{}, err
	}
	d := delivery{token: r.SMSMatchingToken, onFailure: answerUnableToSend}
	return s.send(ctx, func(tx Tx) (step, error) { return s.claimNew(tx, r.Ref, d, res) })
}

// resolveFunc finds the account a new request sends to and, for an India
// Cards authenticate, what its SMS states besides the code (nil for
// sendOtp). A non-empty result ends the request with that business result
// instead.
type resolveFunc func(rd Reader) (acct *Account, card *CardSMS, result string, err error)

// resolution is what a resolveFunc found, err included: the claim uses it
// only once it knows the request is new, so that a retry of a request seen
// before replays its answer whatever the directory says now.
type resolution struct {
	acct   *Account
	card   *CardSMS
	result string
	err    error
}

// resolve runs fn on the directory before the claiming transaction, off the
// store's writer (Store.Read): it decides nothing that the claim must
// re-check. The claim writes, under the account's id (never deleted: an
// import updates accounts, it does not remove them), a challenge, the
// budget events of the account and of the phone that was read, and the
// request; the budgets are counted and spent in the claim itself, so they
// hold whatever ran in between. An import that changes the account's phone
// or status after the read is ordered after this request, as it would be
// had it committed just after the claim: the code goes to the phone that
// was read, and the send is counted against that phone, whose SMS it is.
// docs/states.md draws it.
func (s *Service) resolve(ctx context.Context, fn resolveFunc) (resolution, error) {
	var res resolution
	err := s.store.Read(ctx, func(rd Reader) error {
		res.acct, res.card, res.result, res.err = fn(rd)
		return nil
	})
	return res, err
}

// send is the path of every method that texts a code (docs/states.md):
// claim the request in one transaction (claim is claimNew or claimResend),
// text the code outside any, record what became of it in a second, answer.
func (s *Service) send(ctx context.Context, claim func(Tx) (step, error)) (Outcome, error) {
	st, err := s.runClaim(ctx, claim)
	if err == nil && st.kind == stepDeliver {
		st, err = s.deliver(ctx, st.plan)
	}
	if err != nil {
		return Outcome{}, err
	}
	return st.reply()
}

// runClaim runs the claiming transaction, again while a duplicate of the
// request is in flight elsewhere (ErrInFlight), for up to InFlightWait.
func (s *Service) runClaim(ctx context.Context, claim func(Tx) (step, error)) (step, error) {
	var st step
	err := s.waitInFlight(ctx, func() error {
		// The claim need not be durable: lost to a power cut, a retry
		// claims again with a new code, and the lost one never became
		// valid (only the durable record of its SMS makes it so). A claim
		// that stores an answer is durable all the same (NonDurable).
		return s.store.Tx(NonDurable(ctx), func(tx Tx) (err error) {
			st, err = claim(tx)
			return err
		})
	})
	return st, err
}

// existing handles a requestId seen before: a stored answer is replayed, a
// fresh claim means in flight, a lapsed one is taken over. seen is false
// for a requestId never seen, which the caller then claims.
func (s *Service) existing(tx Tx, ref Ref, d delivery, now time.Time) (st step, seen bool, err error) {
	rec, err := s.claim(tx, ref)
	if err != nil || rec == nil {
		return step{}, false, err
	}
	switch rec.State {
	case RequestDone:
		return answer(Outcome{Result: rec.Result, ReplyID: rec.ReplyID}), true, nil
	case RequestPending:
		if now.Sub(rec.ClaimedAt) < s.policy.ClaimLease {
			return step{}, true, ErrInFlight
		}
		st, err = s.takeOver(tx, rec, d, now)
		return st, true, err
	}
	return step{}, true, fmt.Errorf("otp: %s %s: a record in state %q", rec.Method, rec.ID, rec.State)
}

// claimNew is the claiming transaction of sendOtp and authenticate.
func (s *Service) claimNew(tx Tx, ref Ref, d delivery, res resolution) (step, error) {
	now := s.now()
	if st, seen, err := s.existing(tx, ref, d, now); seen || err != nil {
		return st, err
	}
	acct, card, result, err := res.acct, res.card, res.result, res.err
	if err != nil {
		return step{}, err
	}
	locked := false
	var groups []subjectGroup // the account's budget subjects, counted and then charged
	if result == "" {
		groups = s.budgetSubjects(acct, now)
		if spent, err := s.budgetSpent(tx, groups, now); err != nil {
			return step{}, err
		} else if spent {
			result, locked = SendLimitReached, true
		}
	}
	if result != "" {
		s.auditRefused(tx, ref, acct, result)
		rec := s.newRequest(ref, now, RequestDone, result)
		return answer(Outcome{Result: result, ReplyID: rec.ReplyID, LockedOut: locked}), tx.InsertRequest(rec)
	}
	ch, code, err := s.startChallenge(tx, acct, groups, now)
	if err != nil {
		return step{}, err
	}
	rec := s.newRequest(ref, now, RequestPending, "")
	rec.ChallengeID, rec.ClaimToken, rec.Sends, rec.Card = ch.ID, NewID(), 1, card
	if err := tx.InsertRequest(rec); err != nil {
		return step{}, err
	}
	return deliverPlan(&sendPlan{delivery: d, rec: rec, accountID: acct.ID, phone: acct.Phone, code: code}), nil
}

// startChallenge creates a code for the account, sending until its SMS is
// accepted, and counts the send against the budgets of groups (the
// account's budgetSubjects at now, as the budget check counted them). The
// account's older codes stay valid until then: a send that fails must not
// take away a code the user already has.
func (s *Service) startChallenge(tx Tx, acct *Account, groups []subjectGroup, now time.Time) (*Challenge, string, error) {
	ch := &Challenge{ID: NewID(), AccountID: acct.ID, State: ChallengeSending,
		CreatedAt: now, ExpiresAt: now.Add(s.policy.Lifetime)}
	code := s.setCode(ch, now)
	if err := tx.InsertChallenge(ch); err != nil {
		return nil, "", err
	}
	if err := s.addEvents(tx, EventSend, groups, now); err != nil {
		return nil, "", err
	}
	return ch, code, nil
}

// takeOver resumes a pending request whose claimant vanished. The code of the
// first attempt lived only in that process's memory, and its SMS may or may not
// have gone out: replace the challenge's code so that at most one is valid.
func (s *Service) takeOver(tx Tx, rec *Request, d delivery, now time.Time) (step, error) {
	ch, err := tx.LockChallenge(rec.ChallengeID)
	if err != nil {
		return step{}, err
	}
	var acct *Account // the phone to text is the directory's
	if ch != nil && ch.State == ChallengeSending {
		if acct, err = tx.AccountByID(ch.AccountID); err != nil {
			return step{}, err
		}
	}
	if acct == nil {
		// A newer send superseded it (or it was purged, or its account
		// left the directory): this one can no longer deliver a valid
		// code, and nothing says its SMS went out.
		return s.giveUp(tx, rec, d)
	}
	code := s.setCode(ch, now)
	ch.ExpiresAt = now.Add(s.policy.Lifetime)
	ch.Attempts = 0
	if err := tx.UpdateChallenge(ch); err != nil {
		return step{}, err
	}
	rec.ClaimToken, rec.ClaimedAt = NewID(), now
	if err := tx.UpdateRequest(rec); err != nil {
		return step{}, err
	}
	s.log.Warn("resuming a request whose first attempt did not finish", "method", rec.Method, "requestId", rec.ID)
	return deliverPlan(&sendPlan{delivery: d, rec: rec, accountID: ch.AccountID, phone: acct.Phone, code: code}), nil
}

// giveUp ends a pending request whose code cannot be sent, as its method
// says (d.onFailure): done with MESSAGE_UNABLE_TO_BE_SENT, or withdrawn.
func (s *Service) giveUp(tx Tx, rec *Request, d delivery) (step, error) {
	switch d.onFailure {
	case answerUnableToSend:
		rec.State, rec.Result = RequestDone, SendUnableToSend
		return answer(Outcome{Result: rec.Result, ReplyID: rec.ReplyID}), tx.UpdateRequest(rec)
	case withdrawClaim:
		return withdrawn, s.withdraw(tx, rec, d.session)
	}
	return step{}, fmt.Errorf("otp: %s %s: no way to give up (onFailure %d)", rec.Method, rec.ID, d.onFailure)
}

// resolveAccount finds the account of a sendOtp (SPEC §6).
func (s *Service) resolveAccount(rd Reader, r SendRequest) (*Account, string, error) {
	if r.Phone != "" && !r.PhoneValid {
		return nil, SendInvalidPhone, nil
	}
	if r.AssociationID != "" {
		acct, err := rd.AccountByAssociation(r.AssociationID)
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
	acct, err := rd.AccountByPhone(r.Phone)
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

// RecordTimeout bounds the write that records an SMS outcome, retries
// included. It exceeds what the stores wait on their own (SQLite's
// busy_timeout of 10 s; PostgreSQL's 5 retries, under 1 s of backoff in
// all), so that contention never loses an outcome, and it ends a write that
// a hung database would otherwise hold for ever, past --shutdown-timeout
// and into the store's Close.
const RecordTimeout = 15 * time.Second

// deliver sends the SMS of a plan and records its outcome (recordOutcome).
// It ends at stepAnswer or stepWithdrawn.
func (s *Service) deliver(ctx context.Context, plan *sendPlan) (step, error) {
	rec := plan.rec
	// Google hanging up must not fail a send in progress: the answer is
	// recorded and replayed, so it has to say what really happened. The
	// providers bound each send with their own timeout.
	sub, sendErr := s.messenger.SendCode(context.WithoutCancel(ctx), plan.sms())
	if sendErr != nil {
		s.log.Warn("SMS not accepted", "method", rec.Method, "requestId", rec.ID, "error", sendErr)
	}
	var st step
	// The outcome must be recorded even if Google hung up meanwhile: the SMS is
	// out, and a retry must get this answer rather than a second message. But
	// not for ever: see RecordTimeout.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RecordTimeout)
	defer cancel()
	err := s.store.Tx(recordCtx, func(tx Tx) (err error) {
		st, err = s.recordOutcome(tx, plan, sub, sendErr)
		return err
	})
	s.auditDelivery(ctx, plan, sub, sendErr, st.out, err)
	if err != nil {
		return step{}, fmt.Errorf("otp: record %s %s: %w", rec.Method, rec.ID, err)
	}
	return st, nil
}

// recordOutcome is the transaction after the SMS: the request is done with
// success, or given up (giveUp) when no provider accepted it (sendErr). A
// request that no longer holds the plan's claim was taken over (or
// withdrawn) meanwhile: ErrInFlight, and the retry gets the other
// attempt's answer.
func (s *Service) recordOutcome(tx Tx, plan *sendPlan, sub Submission, sendErr error) (step, error) {
	rec := plan.rec
	cur, err := tx.LockRequest(rec.Scope, rec.Method, rec.ID)
	if err != nil {
		return step{}, err
	}
	if cur == nil || cur.ClaimToken != rec.ClaimToken {
		// Our claim lapsed and another attempt took over.
		return step{}, ErrInFlight
	}
	if cur.State == RequestDone {
		// A take-over gave it up with our claim token (giveUp).
		return answer(Outcome{Result: cur.Result, ReplyID: cur.ReplyID}), nil
	}
	if sendErr == nil {
		// Retire the account's other codes before locking this one:
		// every writer takes the account's codes in that order, so two
		// sends recording at once cannot deadlock.
		if err := tx.SupersedeChallenges(plan.accountID); err != nil {
			return step{}, err
		}
	}
	ch, err := tx.LockChallenge(rec.ChallengeID)
	if err != nil {
		return step{}, err
	}
	if sendErr != nil {
		if err := s.failed(tx, ch); err != nil {
			return step{}, err
		}
		return s.giveUp(tx, cur, plan.delivery)
	}
	if err := s.delivered(tx, ch, sub, plan.session); err != nil {
		return step{}, err
	}
	cur.State, cur.Result = RequestDone, SendSuccess
	return answer(Outcome{Result: cur.Result, ReplyID: cur.ReplyID}), tx.UpdateRequest(cur)
}

// delivered makes a code whose SMS was accepted the account's one valid
// code (the caller has retired the others): the newest SMS wins, whatever
// was sent or claimed before it. A resend's session now points at it. The
// submission (sub) is telemetry for the delivery receipts, which never
// change what verification answers; it is recorded in the same statement as
// the code's new state.
func (s *Service) delivered(tx Tx, ch *Challenge, sub Submission, session *Ref) error {
	if ch == nil {
		return nil
	}
	if ch.State == ChallengeConsumed || ch.State == ChallengeFailed {
		return tx.RecordSubmission(ch.ID, sub)
	}
	ch.State = ChallengeLive
	if err := tx.SubmitChallenge(ch, sub); err != nil {
		return err
	}
	if session == nil {
		return nil
	}
	sess, err := tx.LockRequest(session.Scope, session.Method, session.RequestID)
	if err != nil || sess == nil {
		return err
	}
	sess.ChallengeID = ch.ID
	return tx.UpdateRequest(sess)
}

// failed retires a code whose SMS was not accepted and gives its account
// and phone back the send it was counted as: a provider outage must not
// spend the user's budget. The account's older code, if any, stays valid.
func (s *Service) failed(tx Tx, ch *Challenge) error {
	if ch == nil || ch.State != ChallengeSending {
		return nil
	}
	ch.State = ChallengeFailed
	if err := tx.UpdateChallenge(ch); err != nil {
		return err
	}
	acct, err := s.accountOf(tx, ch)
	if err != nil {
		return err
	}
	// The send was counted under the subjects written at its creation.
	for _, g := range s.budgetSubjects(acct, ch.CreatedAt) {
		if err := tx.DeleteEvent(EventSend, g.write, ch.CreatedAt); err != nil {
			return err
		}
	}
	return nil
}

// withdraw undoes the claim of a request that has no business result for a
// failed send (resendOtp), giving its session back the resend it spent, so
// that a retry is processed afresh.
func (s *Service) withdraw(tx Tx, rec *Request, session *Ref) error {
	if err := tx.DeleteRequest(rec.Scope, rec.Method, rec.ID); err != nil {
		return err
	}
	if session == nil {
		return nil
	}
	sess, err := tx.LockRequest(session.Scope, session.Method, session.RequestID)
	if err != nil || sess == nil {
		return err
	}
	sess.Sends--
	return tx.UpdateRequest(sess)
}
