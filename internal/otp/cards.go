package otp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// The authenticate results (India Cards, SPEC §8), as stored in idempotency
// records. SendSuccess ("success") means the OTP was sent, so that verifyOtp
// treats an authenticate like a sendOtp. The card results stand for a token
// too: Google has no codes of its own for one.
const (
	AuthCardUnknown  = "card_not_found"
	AuthCardExpired  = "card_expired"
	AuthNotEligible  = "not_eligible"
	AuthClosed       = "account_closed"
	AuthNotRequested = "native_otp_not_requested"
	// SendLimitReached and SendUnableToSend are shared with sendOtp.
)

// The resendOtp results.
const (
	ResendSuccess      = SendSuccess
	ResendExpired      = "request_expired"
	ResendLimitReached = "otp_request_limit_reached"
)

// AuthenticateRequest is an India Cards authenticate as the domain sees it:
// the card, or the network token of one, only by the keyed hashes of its
// number under each card secret listed, newest first (CardHasher.Lookup):
// the directory holds it under one of them. Google's accountDetails holds
// one or the other, so exactly one of CardHashes and TokenHashes is set.
type AuthenticateRequest struct {
	Ref
	CardHashes  [][]byte
	TokenHashes [][]byte
	// The expiry from the request: four digits and 1–12. A card always has
	// one; a token's is optional, and 0 and 0 when Google sent none.
	ExpiryYear  int
	ExpiryMonth int
	NativeOtp   bool // whether Google asked for a native OTP

	// The amount of the purchase (Google's amount), for the SMS to state.
	AmountMicros int64  // not negative
	CurrencyCode string // ISO 4217, three capital letters
	// Last4 is the last four digits of the card as the user knows them, for
	// the SMS to state: of a card, its number's; of a token, Google's
	// last4DigitsOnCard, the funding card's, when it sent them. The user
	// knows the funding card's digits, not the token number's, so those
	// are the last resort: "" here makes the SMS state the directory's last
	// four of what was looked up, which for a token are the token number's
	// (the directory does not link a token to its card) — digits the user
	// may not recognise, still better than no SMS at all from a template
	// that names {last4}.
	Last4 string
}

// check rejects a request that the caller built wrong: it is a bug there,
// not something Google sent.
func (r AuthenticateRequest) check() error {
	switch {
	case (len(r.CardHashes) == 0) == (len(r.TokenHashes) == 0):
		return errors.New("otp: authenticate: set exactly one of CardHashes and TokenHashes")
	case len(r.CardHashes) != 0 && r.ExpiryYear == 0:
		return errors.New("otp: authenticate: a card comes with its expiry")
	case r.AmountMicros < 0 || r.CurrencyCode == "":
		return errors.New("otp: authenticate: the amount is not negative and has its currency")
	case r.Last4 != "" && !fourDigits(r.Last4):
		return errors.New("otp: authenticate: Last4 is four digits or empty")
	}
	return nil
}

func fourDigits(s string) bool { return len(s) == 4 && allDigits(s) }

// lookUp finds the card or token of r and its account, or nil and nil,
// trying its hash under each card secret, newest first: a card imported
// under an older secret is still found until it is imported again.
func (r AuthenticateRequest) lookUp(rd Reader) (*Account, *Card, error) {
	find, hashes := rd.AccountByCard, r.CardHashes
	if len(r.TokenHashes) != 0 {
		find, hashes = rd.AccountByToken, r.TokenHashes
	}
	for _, h := range hashes {
		if acct, card, err := find(h); err != nil || acct != nil {
			return acct, card, err
		}
	}
	return nil, nil, nil
}

// Authenticate starts an authentication session: it finds the account of the
// card or token and texts it a code, with the same two transactions as Send.
// The session is the request's idempotency record: its requestId is the
// authenticateRequestId of verifyOtp and resendOtp.
func (s *Service) Authenticate(ctx context.Context, r AuthenticateRequest) (Outcome, error) {
	if err := r.check(); err != nil {
		return Outcome{}, err
	}
	res, err := s.resolve(ctx, func(rd Reader) (*Account, *CardSMS, string, error) {
		if !r.NativeOtp {
			return nil, nil, AuthNotRequested, nil
		}
		acct, onFile, err := r.lookUp(rd)
		if err != nil {
			return nil, nil, "", err
		}
		if acct == nil {
			return nil, nil, AuthCardUnknown, nil
		}
		if result := s.checkExpiry(onFile, r); result != "" {
			return nil, nil, result, nil
		}
		switch {
		case acct.Status.Closed():
			return nil, nil, AuthClosed, nil
		case acct.Status != StatusActive:
			return nil, nil, AuthNotEligible, nil
		}
		card := &CardSMS{AmountMicros: r.AmountMicros, CurrencyCode: r.CurrencyCode, Last4: r.Last4}
		if card.Last4 == "" {
			card.Last4 = onFile.Last4
		}
		return acct, card, "", nil
	})
	if err != nil {
		return Outcome{}, err
	}
	d := delivery{onFailure: answerUnableToSend}
	return s.send(ctx, func(tx Tx) (step, error) { return s.claimNew(tx, r.Ref, d, res) })
}

// checkExpiry compares the expiry of the request with the one on file, and
// with today. Only what is known can be checked: a token may come without an
// expiry, and the directory may hold none.
func (s *Service) checkExpiry(onFile *Card, r AuthenticateRequest) string {
	if r.ExpiryYear == 0 {
		return ""
	}
	if onFile.ExpiryYear != 0 && (onFile.ExpiryYear != r.ExpiryYear || onFile.ExpiryMonth != r.ExpiryMonth) {
		// The number is ours but the card is not the one on file
		// (reissued, or a mistyped expiry): say no more than unknown.
		return AuthCardUnknown
	}
	now := s.now()
	if r.ExpiryYear < now.Year() || r.ExpiryYear == now.Year() && r.ExpiryMonth < int(now.Month()) {
		return AuthCardExpired
	}
	return ""
}

// ResendRequest is a resendOtp.
type ResendRequest struct {
	Ref
	AuthenticateRequestID string // in the same scope (PIAID)
	SessionMethod         string // the method that started the session ("authenticate")
}

// Resend texts a fresh code for an authentication session and retires the
// previous one, within the session's lifetime and resends (Policy.Cards).
// When the SMS fails nothing is recorded and the resend is given back: the
// answer is ErrSendFailed (503) and a retry tries again.
func (s *Service) Resend(ctx context.Context, r ResendRequest) (Outcome, error) {
	return s.send(ctx, func(tx Tx) (step, error) { return s.claimResend(tx, r) })
}

// claimResend is the claiming transaction of resendOtp.
func (s *Service) claimResend(tx Tx, r ResendRequest) (step, error) {
	now, p := s.now(), s.policy.Cards
	d := delivery{onFailure: withdrawClaim, session: &Ref{Scope: r.Scope, Method: r.SessionMethod, RequestID: r.AuthenticateRequestID}}
	if st, seen, err := s.existing(tx, r.Ref, d, now); seen || err != nil {
		return st, err
	}
	finish := func(result string) (step, error) {
		s.auditRefused(tx, r.Ref, nil, result)
		rec := s.newRequest(r.Ref, now, RequestDone, result)
		return answer(Outcome{Result: result, ReplyID: rec.ReplyID}), tx.InsertRequest(rec)
	}
	sess, err := tx.LockRequest(r.Scope, r.SessionMethod, r.AuthenticateRequestID)
	if err != nil {
		return step{}, err
	}
	if sess == nil || sess.State != RequestDone || sess.Result != SendSuccess {
		return step{}, ErrUnknownSend
	}
	if now.Sub(sess.CreatedAt) >= p.SessionLifetime {
		return finish(ResendExpired)
	}
	current, err := tx.LockChallenge(sess.ChallengeID)
	if err != nil {
		return step{}, err
	}
	if current == nil || current.State == ChallengeConsumed {
		return finish(ResendExpired) // the authentication is over
	}
	if sess.Sends-1 >= p.MaxResends {
		return finish(ResendLimitReached)
	}
	acct, err := tx.AccountByID(current.AccountID) // the phone to text is the directory's
	if err != nil {
		return step{}, err
	}
	if acct == nil {
		return finish(ResendExpired) // the account left the directory
	}
	groups := s.budgetSubjects(acct, now)
	if spent, err := s.budgetSpent(tx, groups, now); err != nil {
		return step{}, err
	} else if spent {
		s.auditBudget(tx, acct)
		st, err := finish(ResendLimitReached)
		st.out.LockedOut = true
		return st, err
	}
	ch, code, err := s.startChallenge(tx, acct, groups, now)
	if err != nil {
		return step{}, err
	}
	// The resend is spent now, so that concurrent resends cannot overrun
	// the limit; the session points at the new code once its SMS is out.
	sess.Sends++
	if err := tx.UpdateRequest(sess); err != nil {
		return step{}, err
	}
	rec := s.newRequest(r.Ref, now, RequestPending, "")
	// The resend states what the authenticate's SMS stated; the copy is
	// for a takeover of this record, which does not read the session.
	rec.ChallengeID, rec.ClaimToken, rec.Card = ch.ID, NewID(), sess.Card
	if err := tx.InsertRequest(rec); err != nil {
		return step{}, err
	}
	return deliverPlan(&sendPlan{delivery: d, rec: rec, accountID: acct.ID, phone: acct.Phone, code: code}), nil
}

// CardHasher keys card and token numbers: the directory and the requests
// meet on HMAC-SHA-256 of the number under the deployment's card secret, so
// that a copy of the database yields no card numbers (an unkeyed hash of a
// 16-digit number with a known prefix is quickly brute-forced). The card
// secrets rotate: the import writes under the newest active one, and a
// lookup tries every one listed, so that cards imported before a rotation
// are found until they are imported again.
type CardHasher struct {
	keys *Keyring
	now  func() time.Time
}

// NewCardHasher checks the secret and builds a CardHasher of that one
// secret, under LegacySecretID.
func NewCardHasher(secret []byte) (CardHasher, error) {
	if len(secret) < 32 {
		return CardHasher{}, fmt.Errorf("otp: the card secret must be at least 32 bytes, got %d", len(secret))
	}
	keys, err := singleKeyring(secret)
	if err != nil {
		return CardHasher{}, err
	}
	return NewCardHasherOf(keys, nil), nil
}

// NewCardHasherOf builds a CardHasher of the card secrets keys; now (nil for
// time.Now) says which one writes.
func NewCardHasherOf(keys *Keyring, now func() time.Time) CardHasher {
	if now == nil {
		now = time.Now
	}
	return CardHasher{keys: keys, now: now}
}

func hashCard(secret Secret, number string) []byte {
	m := hmac.New(sha256.New, secret.Key)
	m.Write([]byte(number))
	return m.Sum(nil)
}

// The zero CardHasher hashes under an empty key: only for callers that
// throw the hashes away.

// Writer is the secret that the numbers imported now are hashed under.
func (h CardHasher) Writer() Secret {
	if h.keys == nil {
		return Secret{}
	}
	return h.keys.Writer(h.now())
}

// Hash returns the keyed hash of a card number under the writing secret.
func (h CardHasher) Hash(number string) []byte { return hashCard(h.Writer(), number) }

// HashCard returns the keyed hash of a card number under secret.
func HashCard(secret Secret, number string) []byte { return hashCard(secret, number) }

// Lookup returns the keyed hashes of a card number under every secret
// listed, newest first: what an authenticate looks the number up by.
func (h CardHasher) Lookup(number string) [][]byte {
	if h.keys == nil {
		return [][]byte{hashCard(Secret{}, number)}
	}
	var out [][]byte
	for _, secret := range h.keys.Secrets() {
		out = append(out, hashCard(secret, number))
	}
	return out
}

// Digest is the keyed hash of a card secret (a number, a CVN, a
// cryptogram) for an idempotency fingerprint, under the oldest secret
// listed: a retry must fingerprint the same while newer secrets are added.
// It never reaches the database as it is: the fingerprint holding it is
// keyed again under a code secret before it is stored.
func (h CardHasher) Digest(s string) []byte {
	if h.keys == nil {
		return hashCard(Secret{}, s)
	}
	return hashCard(h.keys.secrets[0], s)
}
