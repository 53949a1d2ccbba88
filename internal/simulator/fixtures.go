package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
)

// Fixture is one account of the fixtures file: the accounts the scenarios and
// the load generator play against. Its JSON is the JSON lines format that
// `otpgate accounts import` reads.
type Fixture struct {
	AccountID      string        `json:"accountId"`
	Phone          string        `json:"phone"`
	Status         string        `json:"status"`
	AssociationIDs []string      `json:"associationIds"`
	Cards          []FixtureCard `json:"cards,omitempty"`
	// Tokens are the payment tokens (tokenized cards) of the account, in
	// the same form as its cards.
	Tokens []FixtureCard `json:"tokens,omitempty"`
}

// FixtureCard is a payment card or a payment token of a fixture account
// (India Cards).
type FixtureCard struct {
	Number      string `json:"number"`
	ExpiryMonth string `json:"expiryMonth"` // two digits
	ExpiryYear  string `json:"expiryYear"`  // four digits
}

// AssociationID is the account's (only) association id.
func (f Fixture) AssociationID() string { return f.AssociationIDs[0] }

// Card is the account's card; only accounts of the card roles have one.
func (f Fixture) Card() FixtureCard {
	if len(f.Cards) == 0 {
		return FixtureCard{}
	}
	return f.Cards[0]
}

// Token is the account's payment token: every account with a card has one,
// standing for that card.
func (f Fixture) Token() FixtureCard {
	if len(f.Tokens) == 0 {
		return FixtureCard{}
	}
	return f.Tokens[0]
}

// PoolSize is how many accounts each scenario that spends a send budget
// owns; BigPoolSize is for the scenarios that spend more per run (two sends
// or more, or six failed verifications). A scenario uses the first of its
// accounts whose budget is not spent, so that the catalogue can be run again
// and again against one sandbox: with the default budgets (5 sends per 15
// minutes and 10 per 24 hours per account and per phone, 20 failures per 24
// hours) every scenario can run at least 10 times in 15 minutes and 20 times
// a day.
const (
	PoolSize    = 3
	BigPoolSize = 6
)

// LoadAccounts is how many accounts the load generator owns: one per worker,
// so that no worker's send retires another's code.
const LoadAccounts = 256

// UnknownPhone is a valid mobile number that the fixtures reserve and never
// import: no account of a sandbox may have it (sendOtp answers
// UNKNOWN_PHONE_NUMBER for it, without spending any budget).
const UnknownPhone = "+917000099999"

// The phone numbers of the fixtures: conformance accounts count up from
// conformancePhoneBase+1, load accounts from loadPhoneBase. Both ranges are
// valid Indian mobile numbers (libphonenumber's metadata).
const (
	conformancePhoneBase = 917000000000
	loadPhoneBase        = 917000100000
)

// Roles of the conformance accounts. A role with pool true has PoolSize
// accounts (BigPoolSize with big); a card role's accounts carry a card.
type role struct {
	name   string
	status string
	pool   bool
	big    bool // BigPoolSize accounts
	card   cardKind
}

type cardKind int

const (
	noCard cardKind = iota
	validCard
	expiredCard
)

// The roles, in the order of the file. Appending keeps the phones, account
// ids and card numbers of the roles before; inserting renumbers them.
const (
	roleClosed           = "closed"
	roleTakenOver        = "taken-over"
	roleFraud            = "fraud"
	roleNotEligible      = "not-eligible"
	roleLimit            = "limit"
	roleMismatchA        = "mismatch-a"
	roleMismatchB        = "mismatch-b"
	roleCardExpired      = "card-expired"
	roleSendPhone        = "send-phone"
	roleSendAssociation  = "send-association"
	roleSendBoth         = "send-both"
	roleDuplicates       = "duplicates"
	roleReplaySend       = "replay-send"
	roleReplayVerify     = "replay-verify"
	roleVerifySuccess    = "verify-success"
	roleVerifyNotMatched = "verify-not-matched"
	roleVerifyUsed       = "verify-already-used"
	roleVerifySuperseded = "verify-superseded"
	roleVerifyAttempts   = "verify-attempts"
	roleCardOtpSent      = "card-otp-sent"
	roleCardSuccess      = "card-verify-success"
	roleCardNotMatched   = "card-verify-not-matched"
	roleCardUsed         = "card-verify-already-used"
	roleCardResend       = "card-resend"
	roleCardResendLimit  = "card-resend-limit"
	roleCardResendAfter  = "card-resend-after-success"
	// Appended after the first release of the fixtures.
	roleSharedRequestID     = "shared-request-id"
	roleCardToken           = "card-token"
	roleCardSharedRequestID = "card-shared-request-id"
)

func roles() []role {
	return []role{
		{name: roleClosed, status: "closed", card: validCard},
		{name: roleTakenOver, status: "closed_account_taken_over"},
		{name: roleFraud, status: "closed_fraud"},
		{name: roleNotEligible, status: "not_eligible", card: validCard},
		{name: roleLimit},
		{name: roleMismatchA},
		{name: roleMismatchB},
		{name: roleCardExpired, card: expiredCard},
		{name: roleSendPhone, pool: true},
		{name: roleSendAssociation, pool: true},
		{name: roleSendBoth, pool: true},
		{name: roleDuplicates, pool: true},
		{name: roleReplaySend, pool: true},
		{name: roleReplayVerify, pool: true},
		{name: roleVerifySuccess, pool: true},
		{name: roleVerifyNotMatched, pool: true},
		{name: roleVerifyUsed, pool: true},
		{name: roleVerifySuperseded, pool: true, big: true},
		{name: roleVerifyAttempts, pool: true, big: true},
		{name: roleCardOtpSent, pool: true, card: validCard},
		{name: roleCardSuccess, pool: true, card: validCard},
		{name: roleCardNotMatched, pool: true, card: validCard},
		{name: roleCardUsed, pool: true, card: validCard},
		{name: roleCardResend, pool: true, big: true, card: validCard},
		{name: roleCardResendLimit, pool: true, big: true, card: validCard},
		{name: roleCardResendAfter, pool: true, card: validCard},
		{name: roleSharedRequestID, pool: true},
		{name: roleCardToken, pool: true, card: validCard},
		{name: roleCardSharedRequestID, pool: true, big: true, card: validCard},
	}
}

// allRoles are roles() followed by each legacy surface's own copy of every
// pool role of the legacy dialect (those without a card), so that running a
// scenario on three legacy surfaces spends three accounts' budgets and the
// catalogue stays re-runnable. The roles of one account (closed, limit, …)
// spend no send budget, or are meant to stay limited, and are shared.
func allRoles() []role {
	base := roles()
	all := slices.Clone(base)
	for _, sf := range surfaceTable {
		if sf.Dialect != Legacy || sf.roles == "" {
			continue
		}
		for _, r := range base {
			if r.pool && r.card == noCard {
				all = append(all, role{name: sf.role(r.name), status: r.status, pool: true, big: r.big})
			}
		}
	}
	return all
}

// fixtureSet is every fixture, by role.
type fixtureSet struct {
	all    []Fixture
	byRole map[string][]Fixture
	load   []Fixture
}

var fixtures = sync.OnceValue(buildFixtures)

func buildFixtures() *fixtureSet {
	s := &fixtureSet{byRole: map[string][]Fixture{}}
	phone, cards := conformancePhoneBase, 0
	for _, r := range allRoles() {
		n := 1
		switch {
		case r.big:
			n = BigPoolSize
		case r.pool:
			n = PoolSize
		}
		for i := 1; i <= n; i++ {
			phone++
			id := "sim-" + r.name
			if r.pool {
				id += "-" + strconv.Itoa(i)
			}
			status := r.status
			if status == "" {
				status = "active"
			}
			f := Fixture{AccountID: id, Phone: "+" + strconv.Itoa(phone), Status: status,
				AssociationIDs: []string{"sim-as-" + id[len("sim-"):]}}
			expiry := FixtureCard{ExpiryMonth: "12", ExpiryYear: "2049"}
			if r.card == expiredCard {
				expiry = FixtureCard{ExpiryMonth: "01", ExpiryYear: "2020"}
			}
			if r.card != noCard {
				cards++
				card, token := expiry, expiry
				card.Number, token.Number = cardNumber(cards), tokenNumber(cards)
				f.Cards, f.Tokens = []FixtureCard{card}, []FixtureCard{token}
			}
			s.byRole[r.name] = append(s.byRole[r.name], f)
			s.all = append(s.all, f)
		}
	}
	for i := range LoadAccounts {
		id := fmt.Sprintf("sim-load-%03d", i)
		f := Fixture{AccountID: id, Phone: "+" + strconv.Itoa(loadPhoneBase+i), Status: "active",
			AssociationIDs: []string{"sim-as-" + id[len("sim-"):]}}
		s.load = append(s.load, f)
		s.all = append(s.all, f)
	}
	return s
}

func (s *fixtureSet) one(role string) Fixture    { return s.byRole[role][0] }
func (s *fixtureSet) pool(role string) []Fixture { return s.byRole[role] }
func (s *fixtureSet) loadAccounts() []Fixture    { return s.load }
func (s *fixtureSet) allFixtures() []Fixture     { return s.all }

// cardNumber is the n-th fixture card: 16 digits, prefix 499999 (a Visa
// range no test card of the card networks uses), Luhn-valid.
func cardNumber(n int) string {
	body := fmt.Sprintf("499999%09d", n)
	return body + strconv.Itoa(luhnDigit(body))
}

// tokenNumber is the payment token of the n-th fixture card: 16 digits,
// prefix 499998, next to the cards' range and as unused by the card
// networks' test cards, Luhn-valid as network tokens are.
func tokenNumber(n int) string {
	body := fmt.Sprintf("499998%09d", n)
	return body + strconv.Itoa(luhnDigit(body))
}

func luhnDigit(body string) int {
	sum := 0
	double := true // the check digit will be appended at the right
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return (10 - sum%10) % 10
}

// Fixtures returns every fixture account: the conformance accounts, then the
// load accounts.
func Fixtures() []Fixture { return append([]Fixture(nil), fixtures().allFixtures()...) }

// LoadFixtures returns the load generator's accounts, one per worker.
func LoadFixtures() []Fixture { return append([]Fixture(nil), fixtures().loadAccounts()...) }

// WriteFixtures writes every fixture account as JSON lines, the format of
// `otpgate accounts import FILE.jsonl`. The file
// internal/simulator/testdata/conformance-accounts.jsonl is its output.
func WriteFixtures(w io.Writer) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, f := range fixtures().allFixtures() {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}
