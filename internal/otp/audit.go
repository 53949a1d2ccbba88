package otp

import (
	"context"
	"strings"
	"time"
)

// Auditor receives the security-relevant outcomes of the domain, each once,
// after the transaction that decided it has committed and before the answer
// leaves: a code sent, resent or not accepted by the SMS provider, a request
// refused, a budget that locked an account or phone out, a code verified or
// not. A replay of a stored answer is no new outcome and is not audited.
//
// Audit is called synchronously on the request's path, so an Auditor that
// makes its record durable before it returns makes it durable before Google
// hears the answer. It returns nothing: an Auditor reports its own failures
// (the request's outcome is decided, and an SMS sent cannot be unsent).
type Auditor interface {
	Audit(ctx context.Context, e AuditEvent)
}

// The events of an AuditEvent.
const (
	AuditSent         = "otp.sent"          // a code's SMS was accepted by a provider (sendOtp, authenticate)
	AuditResent       = "otp.resent"        // a resendOtp's SMS was accepted
	AuditSendFailed   = "otp.send_failed"   // no provider accepted a code's SMS
	AuditRefused      = "otp.refused"       // a send ended with a business result and no SMS (an authenticate's card not found, …)
	AuditLockedOut    = "otp.locked_out"    // a budget or the resend limit refused a send, or a guess
	AuditVerified     = "otp.verified"      // a code matched
	AuditVerifyFailed = "otp.verify_failed" // a guess did not verify
)

// AuditEvent is one outcome. It holds no code, no full phone number and no
// card number: the phone is masked to its last four digits.
type AuditEvent struct {
	Event     string
	Method    string // sendOtp, authenticate, resendOtp, verifyOtp
	Scope     string // the legacy surface's scope ("" for /v1/), or the PIAID
	RequestID string
	Result    string // the business result answered, "" when the request failed
	AccountID string // "" when no account was found
	Phone     string // masked: "+********3210"
	Challenge string // our id of the code concerned
	Provider  string // the SMS provider that accepted the message
	MessageID string // the provider's id of the message
	// Attempt is the number of the guess at a code (1 for the first), for
	// the verify events; 0 when the guess was not counted against the code.
	Attempt int
	// Reason says why, for the failures and lockouts: "mismatch",
	// "expired", "not_live", "attempts_exhausted", "already_used",
	// "budget", "max_resends", "not_accepted" (by any SMS provider).
	Reason string
	// Error is "not_recorded" when a send's outcome could not be stored
	// (the SMS is out all the same), else "".
	Error string
}

// auditing wraps a store so that the events a transaction stages are
// handed to the auditor once it commits: a transaction may run more than
// once, and only what committed happened.
func auditing(st Store, a Auditor) Store {
	if a == nil {
		return st
	}
	return auditStore{Store: st, auditor: a}
}

type auditStore struct {
	Store
	auditor Auditor
}

func (a auditStore) Tx(ctx context.Context, fn func(Tx) error) error {
	var staged *stagingTx
	err := a.Store.Tx(ctx, func(tx Tx) error {
		staged = &stagingTx{Tx: tx}
		return fn(staged)
	})
	if err == nil && staged != nil {
		for _, e := range staged.events {
			a.auditor.Audit(ctx, e)
		}
	}
	return err
}

// stagingTx holds the events of one attempt of a transaction.
type stagingTx struct {
	Tx
	events []AuditEvent
	// budgetOf is the account whose budget the next staged refusal met.
	budgetOf *Account
}

func (s *Service) stage(tx Tx, e AuditEvent) {
	if st, ok := tx.(*stagingTx); ok {
		st.events = append(st.events, e)
	}
}

// auditBudget notes that the refusal about to be staged in tx is a budget's.
func (s *Service) auditBudget(tx Tx, acct *Account) {
	if st, ok := tx.(*stagingTx); ok {
		st.budgetOf = acct
	}
}

// auditRefused stages a send-type request that ended with a business
// result and no SMS. acct is the account concerned, nil when none was found.
func (s *Service) auditRefused(tx Tx, ref Ref, acct *Account, result string) {
	st, ok := tx.(*stagingTx)
	if !ok {
		return
	}
	e := refEvent(AuditRefused, ref, acct)
	e.Result = result
	switch {
	case st.budgetOf != nil || result == SendLimitReached:
		// sendOtp and authenticate meet SendLimitReached only by a budget.
		e.Event, e.Reason = AuditLockedOut, "budget"
		if st.budgetOf != nil {
			e.AccountID, e.Phone = st.budgetOf.ID, MaskPhone(st.budgetOf.Phone)
		}
		st.budgetOf = nil
	case result == ResendLimitReached:
		e.Event, e.Reason = AuditLockedOut, "max_resends"
	}
	st.events = append(st.events, e)
}

// auditDelivery reports what became of a code's SMS: sent (or resent), or
// not accepted. It reports a message that went out even when its outcome
// could not be recorded (recordErr), since the code is in a phone.
func (s *Service) auditDelivery(ctx context.Context, plan *sendPlan, sub Submission, sendErr error, out Outcome, recordErr error) {
	if s.auditor == nil {
		return
	}
	rec := plan.rec
	e := refEvent(AuditSent, Ref{Scope: rec.Scope, Method: rec.Method, RequestID: rec.ID}, &Account{ID: plan.accountID, Phone: plan.phone})
	e.Challenge, e.Result = rec.ChallengeID, out.Result
	switch {
	case sendErr != nil:
		// Not the error's text: a gateway's answer may quote the number.
		e.Event, e.Reason = AuditSendFailed, "not_accepted"
	case plan.session != nil:
		e.Event = AuditResent
	}
	if sendErr == nil {
		e.Provider, e.MessageID = sub.Provider, sub.MessageID
	}
	if recordErr != nil {
		// Not the error's text either: a database's may quote a row.
		e.Result, e.Error = "", "not_recorded"
	}
	s.auditor.Audit(ctx, e)
}

// auditVerify stages the outcome of a fresh verifyOtp when verify returns.
// before is the challenge as it was before the guess, ch as it is after;
// result points at the result verify settles on.
func (s *Service) auditVerify(tx Tx, r VerifyRequest, acct *Account, before Challenge, ch *Challenge, result *string, spent bool, now time.Time) {
	if s.auditor == nil {
		return
	}
	e := refEvent(AuditVerifyFailed, r.Ref, acct)
	e.Challenge, e.Result = ch.ID, *result
	if ch.Attempts > before.Attempts {
		e.Attempt = ch.Attempts
	}
	switch {
	case spent:
		e.Event, e.Reason = AuditLockedOut, "budget"
	case *result == VerifySuccess:
		e.Event = AuditVerified
	case *result == VerifyAlreadyUsed:
		e.Reason = "already_used"
	case before.State == ChallengeConsumed:
		e.Reason = "mismatch" // a used code, and a wrong guess at it
	case before.State != ChallengeLive:
		e.Reason = "not_live"
	case !now.Before(before.ExpiresAt):
		e.Reason = "expired"
	case before.Attempts >= s.policy.MaxAttempts:
		e.Reason = "attempts_exhausted"
	default:
		e.Reason = "mismatch"
	}
	s.stage(tx, e)
}

func refEvent(event string, ref Ref, acct *Account) AuditEvent {
	e := AuditEvent{Event: event, Method: ref.Method, Scope: ref.Scope, RequestID: ref.RequestID}
	if acct != nil {
		e.AccountID, e.Phone = acct.ID, MaskPhone(acct.Phone)
	}
	return e
}

// MaskPhone keeps a phone number's '+' and last four digits and stars the
// rest, as internal/phone.Mask does (the domain does not depend on that
// package's parser): what logs and audit records may show of a number.
func MaskPhone(p string) string {
	if p == "" {
		return ""
	}
	var b strings.Builder
	if rest, ok := strings.CutPrefix(p, "+"); ok {
		b.WriteByte('+')
		p = rest
	}
	tail := ""
	if len(p) > 4 && allDigits(p[len(p)-4:]) {
		tail, p = p[len(p)-4:], p[:len(p)-4]
	}
	b.WriteString(strings.Repeat("*", min(len(p), 15)))
	b.WriteString(tail)
	return b.String()
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
