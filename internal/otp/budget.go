package otp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// subjectGroup is what one budget is counted under. An account is one
// subject. A phone is its keyed hash under a code secret, so it is one
// subject per secret listed: events are written under the writing secret's
// (write) and counted under every one's (all), so that a rotation neither
// resets a phone's budgets nor lets them be spent twice.
type subjectGroup struct {
	write string
	all   []string
}

// budgetSubjects are the keys budgets are counted under at now: the account
// and its phone, so that neither many phones nor many accounts escape a limit.
func (s *Service) budgetSubjects(a *Account, now time.Time) []subjectGroup {
	account := "account:" + a.ID
	groups := []subjectGroup{{write: account, all: []string{account}}}
	if a.Phone == "" {
		return groups
	}
	g := subjectGroup{write: phoneSubject(s.keys.Writer(now), a.Phone)}
	for _, secret := range s.keys.Secrets() {
		g.all = append(g.all, phoneSubject(secret, a.Phone))
	}
	return append(groups, g)
}

// phonePrefix starts the subject of a phone's budget events. Versions before
// schema 5 wrote the number itself after it ("phone:+91…"); since, the
// subject holds a keyed hash of it (SPEC §10: phone numbers at rest).
const phonePrefix = "phone:"

// phoneSubject names a phone in budget events by HMAC-SHA-256 of the number
// under a code secret, cut to 128 bits: enough to tell phones apart, and
// without the secret a copy of the database yields no number.
func phoneSubject(secret Secret, phone string) string {
	m := hmac.New(sha256.New, secret.Key)
	m.Write([]byte("otpgate phone\x00"))
	m.Write([]byte(phone))
	return phonePrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

// budgetRule is a kind of event and the budgets that bound it.
type budgetRule struct {
	kind    EventKind
	budgets []Budget
}

func (s *Service) sendRules() []budgetRule {
	return []budgetRule{{EventSend, s.policy.SendBudgets}, {EventVerifyFail, s.policy.FailBudgets}}
}

func (s *Service) failRules() []budgetRule {
	return []budgetRule{{EventVerifyFail, s.policy.FailBudgets}}
}

// budgetSpent reports whether a send or failure budget of groups (an
// account's budgetSubjects) is spent. Both dialects count against the same
// budgets.
func (s *Service) budgetSpent(tx Tx, groups []subjectGroup, now time.Time) (bool, error) {
	return s.spent(tx, groups, s.sendRules(), now)
}

// spent reports whether one of the rules' budgets is spent for one of the
// groups, summing the events of a group's subjects. Every budget is counted
// in one CountEventsMany: one statement rather than one per budget and
// subject.
func (s *Service) spent(tx Tx, groups []subjectGroup, rules []budgetRule, now time.Time) (bool, error) {
	var counts []EventCount
	for _, g := range groups {
		for _, rule := range rules {
			for _, b := range rule.budgets {
				counts = append(counts, EventCount{Kind: rule.kind, Subjects: g.all, Since: now.Add(-b.Per), AtMost: b.Count})
			}
		}
	}
	if len(counts) == 0 {
		return false, nil
	}
	ns, err := tx.CountEventsMany(counts)
	if err != nil {
		return false, err
	}
	for i, c := range counts {
		if ns[i] >= c.AtMost {
			return true, nil
		}
	}
	return false, nil
}

// addEvents counts one event of kind against every group, in one statement.
func (s *Service) addEvents(tx Tx, kind EventKind, groups []subjectGroup, at time.Time) error {
	subjects := make([]string, len(groups))
	for i, g := range groups {
		subjects[i] = g.write
	}
	return tx.AddEvents(kind, subjects, at)
}

// accountOf is the account of a challenge as the directory holds it now, for
// its phone. An account that left the directory is its id alone.
func (s *Service) accountOf(tx Tx, ch *Challenge) (*Account, error) {
	acct, err := tx.AccountByID(ch.AccountID)
	if err != nil || acct != nil {
		return acct, err
	}
	return &Account{ID: ch.AccountID}, nil
}

// HashLegacyPhones rewrites the budget events that versions before schema 5
// wrote with a phone number in clear ("phone:+91…") to name the phone by its
// keyed hash, as events are written now, so that their budgets still count
// and the database holds no number outside the directory. serve runs it at
// start; it is idempotent, and cheap once nothing is left to convert.
//
// Why here and not in the SQL migration: SQL cannot compute an HMAC under a
// secret the database does not have, and the stores' migrations never see
// the secrets. Why not accept both forms until old events expire: every
// budget check would count one more subject for as long as the code stayed,
// and the numbers would sit in the database until then. The challenges'
// numbers, which nothing needs (a challenge's account is looked up by id),
// the migration simply drops.
func (s *Service) HashLegacyPhones(ctx context.Context) (int64, error) {
	w := s.writer()
	return s.store.RenameSubjects(ctx, phonePrefix+"+", func(subject string) string {
		return phoneSubject(w, strings.TrimPrefix(subject, phonePrefix))
	})
}
