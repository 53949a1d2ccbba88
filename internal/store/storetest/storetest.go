// Package storetest is the behaviour suite that every otp.Store must pass:
// each operation of the Store and Tx contract, transactions that roll back,
// and the concurrency that several otpgate instances on one database bring.
//
// A store's own tests call it:
//
//	func TestStore(t *testing.T) {
//		storetest.RunInstances(t, func(t *testing.T, n int) []otp.Store { … })
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/otpgate/otpgate/internal/otp"
)

// Opener returns n stores (n ≥ 1) on one new, empty database, each opened as
// another otpgate instance would open it: its own connections, its own
// caches. Closing them is the opener's business (t.Cleanup).
type Opener func(t *testing.T, n int) []otp.Store

// Run runs the suite on the stores open makes, each a new one on an empty
// database. The concurrency cases run all their goroutines on one store.
func Run(t *testing.T, open func(t *testing.T) otp.Store) {
	RunInstances(t, func(t *testing.T, n int) []otp.Store {
		s := open(t)
		stores := make([]otp.Store, n)
		for i := range stores {
			stores[i] = s
		}
		return stores
	})
}

// Instances is how many stores the concurrency cases ask for; their
// goroutines take turns among them.
const Instances = 2

// N is how many goroutines each concurrency case runs.
const N = 20

// RunInstances runs the suite with an opener of several stores on one
// database, as several otpgate instances share one: the concurrency cases
// spread their goroutines over Instances stores.
func RunInstances(t *testing.T, open Opener) {
	for _, c := range []struct {
		name string
		run  func(*testing.T, Opener)
	}{
		{"Requests", testRequests},
		{"RequestCard", testRequestCard},
		{"AccountLookups", testAccountLookups},
		{"ReadLookups", testReadLookups},
		{"ImportReplaces", testImportReplaces},
		{"ImportAllOrNothing", testImportAllOrNothing},
		{"ImportMany", testImportMany},
		{"Events", testEvents},
		{"CountEventsMany", testCountEventsMany},
		{"Challenges", testChallenges},
		{"Delivery", testDelivery},
		{"Supersede", testSupersede},
		{"Purge", testPurge},
		{"RenameSubjects", testRenameSubjects},
		{"Rollback", testRollback},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"ConcurrentNewRequest", testConcurrentNewRequest},
		{"ConcurrentAttempts", testConcurrentAttempts},
		{"ConcurrentConsume", testConcurrentConsume},
		{"ConcurrentBudget", testConcurrentBudget},
		{"ConcurrentBudgets", testConcurrentBudgets},
		{"ConcurrentSupersede", testConcurrentSupersede},
		{"ServiceOneSuccess", testServiceOneSuccess},
		{"ServiceSameSend", testServiceSameSend},
		{"ServiceAttemptCap", testServiceAttemptCap},
		{"ServiceSendBudget", testServiceSendBudget},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, open)
		})
	}
}

// t0 is the suite's "now", on a millisecond: stores keep milliseconds.
var t0 = time.UnixMilli(1_763_000_000_000)

const (
	phone1 = "+919876543210"
	phone2 = "+919812345678"
	phone3 = "+919800000003"
)

func one(t *testing.T, open Opener) otp.Store { return open(t, 1)[0] }

// inTx runs fn in a transaction of s and fails the test on an error.
func inTx(t *testing.T, s otp.Store, fn func(otp.Tx) error) {
	t.Helper()
	if err := s.Tx(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func lockRequest(t *testing.T, s otp.Store, scope, method, id string) *otp.Request {
	t.Helper()
	var r *otp.Request
	inTx(t, s, func(tx otp.Tx) (err error) { r, err = tx.LockRequest(scope, method, id); return err })
	return r
}

// lockRecord reads the record under the key of r.
func lockRecord(t *testing.T, s otp.Store, r *otp.Request) *otp.Request {
	t.Helper()
	return lockRequest(t, s, r.Scope, r.Method, r.ID)
}

func lockChallenge(t *testing.T, s otp.Store, id string) *otp.Challenge {
	t.Helper()
	var c *otp.Challenge
	inTx(t, s, func(tx otp.Tx) (err error) { c, err = tx.LockChallenge(id); return err })
	return c
}

func countEvents(t *testing.T, s otp.Store, kind otp.EventKind, subject string, since time.Time) int {
	return countEventsUpTo(t, s, kind, subject, since, 1000)
}

func countEventsUpTo(t *testing.T, s otp.Store, kind otp.EventKind, subject string, since time.Time, atMost int) int {
	t.Helper()
	var n int
	inTx(t, s, func(tx otp.Tx) (err error) { n, err = tx.CountEvents(kind, subject, since, atMost); return err })
	return n
}

// accountID is the id of the account a lookup found, or "" for none.
func accountID(a *otp.Account) string {
	if a == nil {
		return ""
	}
	return a.ID
}

func byAssociation(t *testing.T, s otp.Store, id string) string {
	t.Helper()
	var a *otp.Account
	inTx(t, s, func(tx otp.Tx) (err error) { a, err = tx.AccountByAssociation(id); return err })
	return accountID(a)
}

func byCard(t *testing.T, s otp.Store, hash []byte) string {
	t.Helper()
	var a *otp.Account
	inTx(t, s, func(tx otp.Tx) (err error) { a, _, err = tx.AccountByCard(hash); return err })
	return accountID(a)
}

func byToken(t *testing.T, s otp.Store, hash []byte) string {
	t.Helper()
	var a *otp.Account
	inTx(t, s, func(tx otp.Tx) (err error) { a, _, err = tx.AccountByToken(hash); return err })
	return accountID(a)
}

func byPhone(t *testing.T, s otp.Store, phone string) *otp.Account {
	t.Helper()
	var a *otp.Account
	inTx(t, s, func(tx otp.Tx) (err error) { a, err = tx.AccountByPhone(phone); return err })
	return a
}

func importAccounts(t *testing.T, s otp.Store, accounts ...otp.Account) {
	t.Helper()
	if err := s.ImportAccounts(context.Background(), accounts); err != nil {
		t.Fatal(err)
	}
}

func cardHash(n byte) []byte { return bytes.Repeat([]byte{n}, 32) }

func testRequests(t *testing.T, open Opener) {
	s := one(t, open)
	want := &otp.Request{Scope: "piaid-1", ID: "req-1", Method: "sendOtp", Fingerprint: []byte{0, 1, 2, 0xff}, SecretID: "k1",
		State: otp.RequestPending, ReplyID: "reply-1", ChallengeID: "ch-1", Sends: 1, ClaimToken: "claim-1",
		ClaimedAt: t0, CreatedAt: t0.Add(-time.Second)}
	inTx(t, s, func(tx otp.Tx) error {
		if r, err := tx.LockRequest(want.Scope, want.Method, want.ID); err != nil || r != nil {
			t.Errorf("LockRequest of a missing record = %+v, %v; want nil, nil", r, err)
		}
		if err := tx.InsertRequest(want); err != nil {
			return err
		}
		// A transaction sees its own writes.
		r, err := tx.LockRequest(want.Scope, want.Method, want.ID)
		if diff := cmp.Diff(want, r); err == nil && diff != "" {
			t.Errorf("record in its own transaction (-want +got):\n%s", diff)
		}
		return err
	})
	if diff := cmp.Diff(want, lockRecord(t, s, want)); diff != "" {
		t.Errorf("record after commit (-want +got):\n%s", diff)
	}

	// The scope and the method are part of the key: the same id under
	// another of either is another record, which the writes of this one
	// leave alone.
	legacy := *want
	legacy.Scope, legacy.ReplyID = "", "reply-legacy"
	verify := *want
	verify.Method, verify.ReplyID, verify.State, verify.Result = "verifyOtp", "reply-verify", otp.RequestDone, otp.VerifySuccess
	others := map[string]*otp.Request{"the legacy scope's": &legacy, "verifyOtp's": &verify}
	for name, other := range others {
		if r := lockRecord(t, s, other); r != nil {
			t.Errorf("%s record found %+v before it was inserted", name, r)
		}
		inTx(t, s, func(tx otp.Tx) error { return tx.InsertRequest(other) })
	}
	checkOthers := func(after string) {
		t.Helper()
		for name, other := range others {
			if diff := cmp.Diff(other, lockRecord(t, s, other)); diff != "" {
				t.Errorf("%s record after %s (-want +got):\n%s", name, after, diff)
			}
		}
	}
	checkOthers("InsertRequest")
	if diff := cmp.Diff(want, lockRecord(t, s, want)); diff != "" {
		t.Errorf("record after inserting the others (-want +got):\n%s", diff)
	}

	done := *want
	done.State, done.Result, done.ChallengeID, done.Sends = otp.RequestDone, otp.SendSuccess, "ch-2", 2
	done.ClaimToken, done.ClaimedAt = "claim-2", t0.Add(time.Minute)
	inTx(t, s, func(tx otp.Tx) error { return tx.UpdateRequest(&done) })
	if diff := cmp.Diff(&done, lockRecord(t, s, want)); diff != "" {
		t.Errorf("record after UpdateRequest (-want +got):\n%s", diff)
	}
	checkOthers("UpdateRequest")

	inTx(t, s, func(tx otp.Tx) error {
		if err := tx.DeleteRequest(want.Scope, want.Method, want.ID); err != nil {
			return err
		}
		return tx.DeleteRequest(want.Scope, want.Method, "never-there")
	})
	if r := lockRecord(t, s, want); r != nil {
		t.Errorf("record after DeleteRequest: %+v", r)
	}
	checkOthers("DeleteRequest")
}

// testRequestCard: an authenticate's record keeps what its SMS states
// (migration 0006), through the insert and untouched by updates, and a
// record without one reads back without one.
func testRequestCard(t *testing.T, open Opener) {
	s := one(t, open)
	auth := &otp.Request{Scope: "piaid-1", ID: "auth-1", Method: "authenticate", Fingerprint: []byte{1}, SecretID: "k1",
		State: otp.RequestPending, ReplyID: "reply-1", ChallengeID: "ch-1", Sends: 1, ClaimToken: "claim-1",
		ClaimedAt: t0, CreatedAt: t0,
		// The largest amount Google can send: 18 digits of micros.
		Card: &otp.CardSMS{AmountMicros: 999_999_999_999_999_999, CurrencyCode: "INR", Last4: "0042"}}
	zero := *auth
	zero.ID, zero.Card = "auth-zero", &otp.CardSMS{CurrencyCode: "JPY"} // no amount, last four unknown
	plain := *auth
	plain.ID, plain.Method, plain.Card = "send-1", "sendOtp", nil
	for _, r := range []*otp.Request{auth, &zero, &plain} {
		inTx(t, s, func(tx otp.Tx) error { return tx.InsertRequest(r) })
		if diff := cmp.Diff(r, lockRecord(t, s, r)); diff != "" {
			t.Errorf("record %s after InsertRequest (-want +got):\n%s", r.ID, diff)
		}
	}
	done := *auth
	done.State, done.Result, done.Sends, done.Card = otp.RequestDone, otp.SendSuccess, 2, nil
	inTx(t, s, func(tx otp.Tx) error { return tx.UpdateRequest(&done) })
	done.Card = auth.Card
	if diff := cmp.Diff(&done, lockRecord(t, s, auth)); diff != "" {
		t.Errorf("record after UpdateRequest (-want +got):\n%s", diff)
	}
}

var ignoreLinks = cmpopts.IgnoreFields(otp.Account{}, "AssociationIDs", "Cards", "Tokens")

func testAccountLookups(t *testing.T, open Opener) {
	s := one(t, open)
	card := otp.Card{Hash: cardHash(1), SecretID: "k1", Last4: "4242", ExpiryYear: 2031, ExpiryMonth: 7}
	// A token whose number is the number of C1's card: tokens and cards are
	// apart, so it is no conflict, and each lookup finds its own.
	token := otp.Card{Hash: cardHash(1), SecretID: "k2", Last4: "4242"}
	importAccounts(t, s,
		otp.Account{ID: "B2", Phone: phone1, Status: otp.StatusActive, AssociationIDs: []string{"as-b2"},
			Tokens: []otp.Card{token, {Hash: cardHash(3), Last4: "3333", ExpiryYear: 2030, ExpiryMonth: 1}}},
		otp.Account{ID: "A9", Phone: phone1, Status: otp.StatusClosed},
		otp.Account{ID: "B1", Phone: phone1, Status: otp.StatusActive},
		otp.Account{ID: "C1", Phone: phone2, Status: otp.StatusNotEligible, AssociationIDs: []string{"as-c1", "as-c1b"},
			Cards: []otp.Card{card, {Hash: cardHash(2), Last4: "1111"}}},
	)
	for _, c := range []struct {
		phone string
		want  *otp.Account
	}{
		// An active account first, then the lowest id.
		{phone1, &otp.Account{ID: "B1", Phone: phone1, Status: otp.StatusActive}},
		// No active one: the lowest id whatever its status.
		{phone2, &otp.Account{ID: "C1", Phone: phone2, Status: otp.StatusNotEligible}},
		{phone3, nil},
	} {
		if diff := cmp.Diff(c.want, byPhone(t, s, c.phone), ignoreLinks); diff != "" {
			t.Errorf("AccountByPhone(%s) (-want +got):\n%s", c.phone, diff)
		}
	}
	for id, want := range map[string]*otp.Account{
		"B2": {ID: "B2", Phone: phone1, Status: otp.StatusActive},
		"A9": {ID: "A9", Phone: phone1, Status: otp.StatusClosed},
		"C9": nil,
	} {
		var got *otp.Account
		inTx(t, s, func(tx otp.Tx) (err error) { got, err = tx.AccountByID(id); return err })
		if diff := cmp.Diff(want, got, ignoreLinks); diff != "" {
			t.Errorf("AccountByID(%s) (-want +got):\n%s", id, diff)
		}
	}
	for id, want := range map[string]string{"as-b2": "B2", "as-c1": "C1", "as-c1b": "C1", "as-none": ""} {
		if got := byAssociation(t, s, id); got != want {
			t.Errorf("AccountByAssociation(%s) = %q, want %q", id, got, want)
		}
	}
	var a *otp.Account
	var c *otp.Card
	inTx(t, s, func(tx otp.Tx) (err error) { a, c, err = tx.AccountByCard(card.Hash); return err })
	if diff := cmp.Diff(&otp.Account{ID: "C1", Phone: phone2, Status: otp.StatusNotEligible}, a, ignoreLinks); diff != "" {
		t.Errorf("AccountByCard account (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&card, c); diff != "" {
		t.Errorf("AccountByCard card (-want +got):\n%s", diff)
	}
	inTx(t, s, func(tx otp.Tx) (err error) { a, c, err = tx.AccountByCard(cardHash(9)); return err })
	if a != nil || c != nil {
		t.Errorf("AccountByCard of an unknown card = %+v, %+v", a, c)
	}

	inTx(t, s, func(tx otp.Tx) (err error) { a, c, err = tx.AccountByToken(token.Hash); return err })
	if diff := cmp.Diff(&otp.Account{ID: "B2", Phone: phone1, Status: otp.StatusActive}, a, ignoreLinks); diff != "" {
		t.Errorf("AccountByToken account (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&token, c); diff != "" {
		t.Errorf("AccountByToken token (-want +got):\n%s", diff)
	}
	// A card is no token, and a token no card.
	if got := byToken(t, s, cardHash(2)); got != "" {
		t.Errorf("AccountByToken of C1's second card found %q", got)
	}
	if got := byCard(t, s, cardHash(3)); got != "" {
		t.Errorf("AccountByCard of B2's second token found %q", got)
	}
	if got := byToken(t, s, cardHash(9)); got != "" {
		t.Errorf("AccountByToken of an unknown token found %q", got)
	}
}

func testImportReplaces(t *testing.T, open Opener) {
	s := one(t, open)
	importAccounts(t, s,
		otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive, AssociationIDs: []string{"as-1", "as-2"},
			Cards: []otp.Card{{Hash: cardHash(1), Last4: "0001"}}, Tokens: []otp.Card{{Hash: cardHash(5), Last4: "0005"}}},
		otp.Account{ID: "A2", Phone: phone2, Status: otp.StatusActive, AssociationIDs: []string{"as-3"}},
	)
	// A1 again: new phone and status, and its association ids, cards and
	// tokens are replaced, not added to.
	importAccounts(t, s, otp.Account{ID: "A1", Phone: phone3, Status: otp.StatusClosed, AssociationIDs: []string{"as-2", "as-4"},
		Cards: []otp.Card{{Hash: cardHash(2), Last4: "0002"}}, Tokens: []otp.Card{{Hash: cardHash(6), Last4: "0006"}}})
	if diff := cmp.Diff(&otp.Account{ID: "A1", Phone: phone3, Status: otp.StatusClosed}, byPhone(t, s, phone3), ignoreLinks); diff != "" {
		t.Errorf("A1 after a second import (-want +got):\n%s", diff)
	}
	if a := byPhone(t, s, phone1); a != nil {
		t.Errorf("the old phone still finds %+v", a)
	}
	for id, want := range map[string]string{"as-1": "", "as-2": "A1", "as-3": "A2", "as-4": "A1"} {
		if got := byAssociation(t, s, id); got != want {
			t.Errorf("AccountByAssociation(%s) = %q, want %q", id, got, want)
		}
	}
	if got := byCard(t, s, cardHash(1)); got != "" {
		t.Errorf("A1's old card still finds %q", got)
	}
	if got := byCard(t, s, cardHash(2)); got != "A1" {
		t.Errorf("A1's new card finds %q", got)
	}
	if got := byToken(t, s, cardHash(5)); got != "" {
		t.Errorf("A1's old token still finds %q", got)
	}
	if got := byToken(t, s, cardHash(6)); got != "A1" {
		t.Errorf("A1's new token finds %q", got)
	}
	// Ids may move between two accounts of one import, and importing the
	// same twice changes nothing.
	moved := []otp.Account{
		{ID: "A1", Phone: phone1, Status: otp.StatusActive, AssociationIDs: []string{"as-3"}, Cards: []otp.Card{{Hash: cardHash(3), Last4: "0003"}}},
		{ID: "A2", Phone: phone2, Status: otp.StatusActive, AssociationIDs: []string{"as-2", "as-4"}, Cards: []otp.Card{{Hash: cardHash(2), Last4: "0002"}},
			Tokens: []otp.Card{{Hash: cardHash(6), Last4: "0006"}}},
	}
	importAccounts(t, s, moved...)
	importAccounts(t, s, moved...)
	for id, want := range map[string]string{"as-2": "A2", "as-3": "A1", "as-4": "A2"} {
		if got := byAssociation(t, s, id); got != want {
			t.Errorf("after moving, AccountByAssociation(%s) = %q, want %q", id, got, want)
		}
	}
	if got := byCard(t, s, cardHash(2)); got != "A2" {
		t.Errorf("after moving, the card finds %q", got)
	}
	if got := byToken(t, s, cardHash(6)); got != "A2" {
		t.Errorf("after moving, the token finds %q", got)
	}
	if err := s.ImportAccounts(context.Background(), nil); err != nil {
		t.Errorf("an empty import: %v", err)
	}
}

func testImportAllOrNothing(t *testing.T, open Opener) {
	s := one(t, open)
	ctx := context.Background()
	importAccounts(t, s,
		otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive, AssociationIDs: []string{"as-1"}},
		otp.Account{ID: "A2", Phone: phone2, Status: otp.StatusActive, AssociationIDs: []string{"as-2"},
			Cards: []otp.Card{{Hash: cardHash(2), Last4: "4242"}}, Tokens: []otp.Card{{Hash: cardHash(7), Last4: "7777"}}},
	)
	for _, c := range []struct {
		name     string
		accounts []otp.Account
		words    []string // the error names the id and its owner
	}{
		{"association of an account outside the import", []otp.Account{
			{ID: "A1", Phone: phone3, Status: otp.StatusClosed, AssociationIDs: []string{"as-1"}},
			{ID: "A3", Phone: phone3, Status: otp.StatusActive, AssociationIDs: []string{"as-2"}},
		}, []string{`"as-2"`, "A2"}},
		{"card of an account outside the import", []otp.Account{
			{ID: "A1", Phone: phone3, Status: otp.StatusClosed, AssociationIDs: []string{"as-1"}},
			{ID: "A3", Phone: phone3, Status: otp.StatusActive, Cards: []otp.Card{{Hash: cardHash(2), Last4: "4242"}}},
		}, []string{"card ending 4242", "A2"}},
		{"token of an account outside the import", []otp.Account{
			{ID: "A1", Phone: phone3, Status: otp.StatusClosed, AssociationIDs: []string{"as-1"}},
			{ID: "A3", Phone: phone3, Status: otp.StatusActive, Tokens: []otp.Card{{Hash: cardHash(7), Last4: "7777"}}},
		}, []string{"token ending 7777", "A2"}},
		{"one association for two accounts of the import", []otp.Account{
			{ID: "A3", Phone: phone3, Status: otp.StatusActive, AssociationIDs: []string{"as-9"}},
			{ID: "A4", Phone: phone3, Status: otp.StatusActive, AssociationIDs: []string{"as-9"}},
		}, []string{`"as-9"`, "A3"}},
	} {
		err := s.ImportAccounts(ctx, c.accounts)
		if err == nil {
			t.Errorf("%s: the import succeeded", c.name)
			continue
		}
		for _, w := range c.words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not name %s", c.name, err, w)
			}
		}
		// Nothing of it stayed.
		if diff := cmp.Diff(&otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive}, byPhone(t, s, phone1), ignoreLinks); diff != "" {
			t.Errorf("%s: A1 changed (-want +got):\n%s", c.name, diff)
		}
		if a := byPhone(t, s, phone3); a != nil {
			t.Errorf("%s: %s was imported", c.name, a.ID)
		}
		for id, want := range map[string]string{"as-1": "A1", "as-2": "A2", "as-9": ""} {
			if got := byAssociation(t, s, id); got != want {
				t.Errorf("%s: AccountByAssociation(%s) = %q, want %q", c.name, id, got, want)
			}
		}
		if got := byCard(t, s, cardHash(2)); got != "A2" {
			t.Errorf("%s: A2's card finds %q", c.name, got)
		}
		if got := byToken(t, s, cardHash(7)); got != "A2" {
			t.Errorf("%s: A2's token finds %q", c.name, got)
		}
	}
}

// testImportMany: a directory of some size, in one import, and a conflict
// at its very end that undoes all of it.
func testImportMany(t *testing.T, open Opener) {
	s := one(t, open)
	// More than one batch of statements, for stores that send them in batches.
	const n = 510
	accounts := make([]otp.Account, n)
	for i := range accounts {
		accounts[i] = otp.Account{ID: fmt.Sprintf("A%04d", i), Phone: fmt.Sprintf("+9198%08d", i), Status: otp.StatusActive,
			AssociationIDs: []string{fmt.Sprint("as-", i)}, Cards: []otp.Card{{Hash: []byte(fmt.Sprint("card-", i)), Last4: "0000"}},
			Tokens: []otp.Card{{Hash: []byte(fmt.Sprint("token-", i)), Last4: "0000"}}}
	}
	importAccounts(t, s, accounts...)
	for _, i := range []int{0, 499, 500, n - 1} {
		id := fmt.Sprintf("A%04d", i)
		if got := byAssociation(t, s, fmt.Sprint("as-", i)); got != id {
			t.Errorf("AccountByAssociation(as-%d) = %q, want %s", i, got, id)
		}
		if got := byCard(t, s, []byte(fmt.Sprint("card-", i))); got != id {
			t.Errorf("AccountByCard(card-%d) = %q, want %s", i, got, id)
		}
		if got := byToken(t, s, []byte(fmt.Sprint("token-", i))); got != id {
			t.Errorf("AccountByToken(token-%d) = %q, want %s", i, got, id)
		}
	}
	again := make([]otp.Account, n)
	for i := range again {
		again[i] = otp.Account{ID: fmt.Sprintf("B%04d", i), Phone: "+917000000001", Status: otp.StatusActive,
			AssociationIDs: []string{fmt.Sprint("bs-", i)}}
	}
	again[n-1].AssociationIDs = []string{"as-7"}
	err := s.ImportAccounts(context.Background(), again)
	if err == nil || !strings.Contains(err.Error(), `"as-7"`) || !strings.Contains(err.Error(), "A0007") {
		t.Errorf("an import whose last account conflicts: %v", err)
	}
	if a := byPhone(t, s, "+917000000001"); a != nil {
		t.Errorf("%s of a failed import was kept", a.ID)
	}
	if got := byAssociation(t, s, "bs-0"); got != "" {
		t.Errorf("an association of a failed import was kept, for %s", got)
	}
}

func testEvents(t *testing.T, open Opener) {
	s := one(t, open)
	inTx(t, s, func(tx otp.Tx) error {
		for _, e := range []struct {
			kind    otp.EventKind
			subject string
			at      time.Time
		}{
			{otp.EventSend, "account:A1", t0},
			{otp.EventSend, "account:A1", t0.Add(time.Second)},
			{otp.EventSend, "account:A1", t0.Add(2 * time.Second)},
			{otp.EventVerifyFail, "account:A1", t0.Add(2 * time.Second)},
			{otp.EventSend, "phone:" + phone1, t0.Add(2 * time.Second)},
		} {
			if err := tx.AddEvent(e.kind, e.subject, e.at); err != nil {
				return err
			}
		}
		return nil
	})
	for _, c := range []struct {
		kind    otp.EventKind
		subject string
		since   time.Time
		want    int
	}{
		{otp.EventSend, "account:A1", t0.Add(-time.Millisecond), 3},
		// Strictly after since: an event at since is out of the window.
		{otp.EventSend, "account:A1", t0, 2},
		{otp.EventSend, "account:A1", t0.Add(time.Second), 1},
		{otp.EventSend, "account:A1", t0.Add(2 * time.Second), 0},
		{otp.EventVerifyFail, "account:A1", t0, 1},
		{otp.EventSend, "phone:" + phone1, t0, 1},
		{otp.EventSend, "account:A2", t0.Add(-time.Hour), 0},
	} {
		if got := countEvents(t, s, c.kind, c.subject, c.since); got != c.want {
			t.Errorf("CountEvents(%s, %s, t0%+v) = %d, want %d", c.kind, c.subject, c.since.Sub(t0), got, c.want)
		}
	}
	// DeleteEvent removes exactly one event at that instant; none is no error.
	inTx(t, s, func(tx otp.Tx) error {
		if err := tx.AddEvent(otp.EventSend, "account:A9", t0); err != nil {
			return err
		}
		return tx.AddEvent(otp.EventSend, "account:A9", t0)
	})
	inTx(t, s, func(tx otp.Tx) error { return tx.DeleteEvent(otp.EventSend, "account:A9", t0) })
	if got := countEvents(t, s, otp.EventSend, "account:A9", t0.Add(-time.Millisecond)); got != 1 {
		t.Errorf("after deleting one of two events: %d left, want 1", got)
	}
	inTx(t, s, func(tx otp.Tx) error { return tx.DeleteEvent(otp.EventVerifyFail, "account:A9", t0) })
	inTx(t, s, func(tx otp.Tx) error { return tx.DeleteEvent(otp.EventSend, "account:A9", t0.Add(time.Second)) })
	if got := countEvents(t, s, otp.EventSend, "account:A9", t0.Add(-time.Millisecond)); got != 1 {
		t.Errorf("deleting events of another kind or time removed one: %d left, want 1", got)
	}
	// Counting stops at atMost: a budget only asks whether it is spent.
	for atMost, want := range map[int]int{1: 1, 2: 2, 3: 3, 10: 3} {
		if got := countEventsUpTo(t, s, otp.EventSend, "account:A1", t0.Add(-time.Millisecond), atMost); got != want {
			t.Errorf("CountEvents up to %d = %d, want %d", atMost, got, want)
		}
	}
}

// testCountEventsMany: several counts in one call answer what each would
// alone, in order, the events of a count's subjects summed up to its limit.
func testCountEventsMany(t *testing.T, open Opener) {
	s := one(t, open)
	inTx(t, s, func(tx otp.Tx) error {
		for _, e := range []struct {
			kind    otp.EventKind
			subject string
			at      time.Time
		}{
			{otp.EventSend, "account:A1", t0},
			{otp.EventSend, "phone:b", t0.Add(2 * time.Second)},
			{otp.EventSend, "phone:b", t0.Add(3 * time.Second)},
		} {
			if err := tx.AddEvent(e.kind, e.subject, e.at); err != nil {
				return err
			}
		}
		// AddEvents adds one event under each subject.
		if err := tx.AddEvents(otp.EventSend, []string{"account:A1", "phone:a"}, t0.Add(time.Second)); err != nil {
			return err
		}
		if err := tx.AddEvents(otp.EventSend, nil, t0.Add(time.Second)); err != nil {
			return err
		}
		return tx.AddEvents(otp.EventVerifyFail, []string{"phone:a"}, t0.Add(time.Second))
	})
	counts := []otp.EventCount{
		{Kind: otp.EventSend, Subjects: []string{"account:A1"}, Since: t0.Add(-time.Millisecond), AtMost: 10},
		{Kind: otp.EventSend, Subjects: []string{"account:A1"}, Since: t0, AtMost: 10}, // strictly after since
		{Kind: otp.EventSend, Subjects: []string{"phone:a", "phone:b"}, Since: t0, AtMost: 10},
		{Kind: otp.EventSend, Subjects: []string{"phone:a", "phone:b"}, Since: t0, AtMost: 2}, // stops at the limit, across subjects
		{Kind: otp.EventSend, Subjects: []string{"phone:a", "phone:b"}, Since: t0.Add(2 * time.Second), AtMost: 10},
		{Kind: otp.EventVerifyFail, Subjects: []string{"phone:a", "phone:b"}, Since: t0, AtMost: 10},
		{Kind: otp.EventVerifyFail, Subjects: []string{"account:A1"}, Since: t0.Add(-time.Hour), AtMost: 10},
		{Kind: otp.EventSend, Subjects: []string{"account:A1"}, Since: t0.Add(-time.Hour), AtMost: 0},
		{Kind: otp.EventSend, Subjects: nil, Since: t0.Add(-time.Hour), AtMost: 10},
		{Kind: otp.EventSend, Subjects: []string{"account:A1", "account:A1"}, Since: t0, AtMost: 10}, // a subject named twice counts once
	}
	want := []int{2, 1, 3, 2, 1, 1, 0, 0, 0, 1}
	var got []int
	inTx(t, s, func(tx otp.Tx) (err error) { got, err = tx.CountEventsMany(counts); return err })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CountEventsMany (-want +got):\n%s", diff)
	}
	// Each count alone says the same.
	for i, c := range counts {
		var one []int
		inTx(t, s, func(tx otp.Tx) (err error) { one, err = tx.CountEventsMany([]otp.EventCount{c}); return err })
		if len(one) != 1 || one[0] != want[i] {
			t.Errorf("CountEventsMany of count %d alone = %v, want [%d]", i, one, want[i])
		}
	}
	inTx(t, s, func(tx otp.Tx) error {
		if ns, err := tx.CountEventsMany(nil); err != nil || len(ns) != 0 {
			t.Errorf("CountEventsMany(nil) = %v, %v; want nothing", ns, err)
		}
		return nil
	})
}

// testReadLookups: the lookups of Store.Read answer what a transaction's
// answer, and see what an import committed before they ran.
func testReadLookups(t *testing.T, open Opener) {
	s := one(t, open)
	card := otp.Card{Hash: cardHash(1), SecretID: "k1", Last4: "4242", ExpiryYear: 2031, ExpiryMonth: 7}
	token := otp.Card{Hash: cardHash(2), SecretID: "k2", Last4: "4343"}
	importAccounts(t, s,
		otp.Account{ID: "B2", Phone: phone1, Status: otp.StatusActive, AssociationIDs: []string{"as-b2"}, Tokens: []otp.Card{token}},
		otp.Account{ID: "B1", Phone: phone1, Status: otp.StatusActive},
		otp.Account{ID: "C1", Phone: phone2, Status: otp.StatusNotEligible, Cards: []otp.Card{card}},
	)
	type found struct {
		Phone1, Phone3, ID, Association, NoAssociation, Card, Token *otp.Account
		CardRow, TokenRow                                           *otp.Card
	}
	look := func(r otp.Reader) (f found, err error) {
		for _, step := range []func() error{
			func() (err error) { f.Phone1, err = r.AccountByPhone(phone1); return },
			func() (err error) { f.Phone3, err = r.AccountByPhone(phone3); return },
			func() (err error) { f.ID, err = r.AccountByID("C1"); return },
			func() (err error) { f.Association, err = r.AccountByAssociation("as-b2"); return },
			func() (err error) { f.NoAssociation, err = r.AccountByAssociation("as-none"); return },
			func() (err error) { f.Card, f.CardRow, err = r.AccountByCard(card.Hash); return },
			func() (err error) { f.Token, f.TokenRow, err = r.AccountByToken(token.Hash); return },
		} {
			if err := step(); err != nil {
				return f, err
			}
		}
		return f, nil
	}
	ctx := context.Background()
	var inTxn, read found
	inTx(t, s, func(tx otp.Tx) (err error) { inTxn, err = look(tx); return err })
	if err := s.Read(ctx, func(r otp.Reader) (err error) { read, err = look(r); return err }); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if diff := cmp.Diff(inTxn, read, ignoreLinks); diff != "" {
		t.Errorf("Read's lookups differ from a transaction's (-tx +read):\n%s", diff)
	}
	if read.Phone1 == nil || read.Phone1.ID != "B1" || read.Card == nil || read.Card.ID != "C1" ||
		read.Token == nil || read.Token.ID != "B2" || read.Association == nil || read.Association.ID != "B2" || read.Phone3 != nil {
		t.Errorf("Read found %+v", read)
	}
	// A change committed before Read runs is what it sees.
	importAccounts(t, s, otp.Account{ID: "B1", Phone: phone1, Status: otp.StatusClosed})
	var a *otp.Account
	if err := s.Read(ctx, func(r otp.Reader) (err error) { a, err = r.AccountByPhone(phone1); return err }); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if a == nil || a.ID != "B2" {
		t.Errorf("Read after B1 was closed: AccountByPhone = %+v, want B2", a)
	}
}

func testChallenges(t *testing.T, open Opener) {
	s := one(t, open)
	want := &otp.Challenge{ID: "ch-1", AccountID: "A1", SecretID: "k1", CodeMAC: bytes.Repeat([]byte{0xa5, 0}, 16),
		State: otp.ChallengeSending, CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
	if c := lockChallenge(t, s, want.ID); c != nil {
		t.Errorf("LockChallenge of a missing challenge = %+v", c)
	}
	inTx(t, s, func(tx otp.Tx) error { return tx.InsertChallenge(want) })
	if diff := cmp.Diff(want, lockChallenge(t, s, want.ID)); diff != "" {
		t.Errorf("challenge after insert (-want +got):\n%s", diff)
	}
	upd := *want
	upd.CodeMAC, upd.State, upd.Attempts, upd.ExpiresAt = []byte{1, 2, 3}, otp.ChallengeLive, 3, t0.Add(10*time.Minute)
	inTx(t, s, func(tx otp.Tx) error { return tx.UpdateChallenge(&upd) })
	if diff := cmp.Diff(&upd, lockChallenge(t, s, want.ID)); diff != "" {
		t.Errorf("challenge after update (-want +got):\n%s", diff)
	}
}

func testSupersede(t *testing.T, open Opener) {
	s := one(t, open)
	states := map[string]otp.ChallengeState{
		"a-sending": otp.ChallengeSending, "a-live": otp.ChallengeLive, "a-consumed": otp.ChallengeConsumed,
		"a-failed": otp.ChallengeFailed, "a-superseded": otp.ChallengeSuperseded, "b-live": otp.ChallengeLive,
	}
	inTx(t, s, func(tx otp.Tx) error {
		for id, st := range states {
			acct := "A1"
			if strings.HasPrefix(id, "b-") {
				acct = "A2"
			}
			if err := tx.InsertChallenge(&otp.Challenge{ID: id, AccountID: acct, SecretID: "k1", CodeMAC: []byte(id),
				State: st, Attempts: 2, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}); err != nil {
				return err
			}
		}
		if err := tx.SupersedeChallenges("A9"); err != nil { // no challenges: nothing to do
			return err
		}
		return tx.SupersedeChallenges("A1")
	})
	states["a-sending"], states["a-live"] = otp.ChallengeSuperseded, otp.ChallengeSuperseded
	for id, want := range states {
		c := lockChallenge(t, s, id)
		if c == nil || c.State != want || c.Attempts != 2 || string(c.CodeMAC) != id {
			t.Errorf("challenge %s after SupersedeChallenges(A1): %+v, want state %s and nothing else changed", id, c, want)
		}
	}
}

func testPurge(t *testing.T, open Opener) {
	s := one(t, open)
	ctx := context.Background()
	// Each kind has its own cut-off; records sit just before, at and just
	// after it, and only the ones before go.
	cut := otp.PurgeBefore{Requests: t0, Challenges: t0.Add(time.Hour), Events: t0.Add(2 * time.Hour)}
	offsets := map[string]time.Duration{"before": -time.Millisecond, "at": 0, "after": time.Millisecond}
	inTx(t, s, func(tx otp.Tx) error {
		for name, d := range offsets {
			at := cut.Requests.Add(d)
			if err := tx.InsertRequest(&otp.Request{ID: name, Method: "sendOtp", Fingerprint: []byte{1},
				State: otp.RequestDone, CreatedAt: at, ClaimedAt: at}); err != nil {
				return err
			}
			exp := cut.Challenges.Add(d)
			if err := tx.InsertChallenge(&otp.Challenge{ID: name, AccountID: "A1", SecretID: "k1", CodeMAC: []byte{1},
				State: otp.ChallengeLive, CreatedAt: exp.Add(-5 * time.Minute), ExpiresAt: exp}); err != nil {
				return err
			}
			if err := tx.AddEvent(otp.EventSend, "account:A1", cut.Events.Add(d)); err != nil {
				return err
			}
		}
		// Rows that budgets touched must not stop a purge.
		_, err := tx.CountEvents(otp.EventSend, "account:A1", t0, 100)
		return err
	})
	n, err := s.Purge(ctx, cut)
	if err != nil || n != 3 {
		t.Fatalf("Purge = %d, %v; want 3 rows", n, err)
	}
	for name := range offsets {
		gone := name == "before"
		if r := lockRequest(t, s, "", "sendOtp", name); (r == nil) != gone {
			t.Errorf("request created %s the cut-off: present %v", name, r != nil)
		}
		if c := lockChallenge(t, s, name); (c == nil) != gone {
			t.Errorf("challenge expiring %s the cut-off: present %v", name, c != nil)
		}
	}
	if got := countEvents(t, s, otp.EventSend, "account:A1", cut.Events.Add(-time.Hour)); got != 2 {
		t.Errorf("%d events left, want 2", got)
	}
	if n, err := s.Purge(ctx, cut); err != nil || n != 0 {
		t.Errorf("second Purge = %d, %v; want 0", n, err)
	}
}

// testRenameSubjects: the events whose subject starts with the prefix are
// renamed, every one of them (more subjects than a batch), the others left
// alone; a second run finds nothing to do.
func testRenameSubjects(t *testing.T, open Opener) {
	s := one(t, open)
	ctx := context.Background()
	const phones = 2500 // more than one batch of subjects
	inTx(t, s, func(tx otp.Tx) error {
		for i := range phones {
			for _, kind := range []otp.EventKind{otp.EventSend, otp.EventVerifyFail} {
				if err := tx.AddEvent(kind, fmt.Sprintf("phone:+9198%08d", i), t0); err != nil {
					return err
				}
			}
		}
		for _, subject := range []string{"account:A1", "phone:hashed", "phones:+91"} {
			if err := tx.AddEvent(otp.EventSend, subject, t0); err != nil {
				return err
			}
		}
		return nil
	})
	rename := func(subject string) string { return "phone:h" + strings.TrimPrefix(subject, "phone:+") }
	n, err := s.RenameSubjects(ctx, "phone:+", rename)
	if err != nil || n != 2*phones {
		t.Fatalf("RenameSubjects = %d, %v; want %d events", n, err, 2*phones)
	}
	for _, c := range []struct {
		subject string
		want    int
	}{
		{"phone:+919800000000", 0}, {"phone:h919800000000", 1}, {fmt.Sprintf("phone:h9198%08d", phones-1), 1},
		{"account:A1", 1}, {"phone:hashed", 1}, {"phones:+91", 1},
	} {
		if got := countEvents(t, s, otp.EventSend, c.subject, t0.Add(-time.Hour)); got != c.want {
			t.Errorf("events of %s after the renaming: %d, want %d", c.subject, got, c.want)
		}
	}
	if got := countEvents(t, s, otp.EventVerifyFail, "phone:h919800000007", t0.Add(-time.Hour)); got != 1 {
		t.Errorf("a renamed subject lost its events of another kind: %d, want 1", got)
	}
	if n, err := s.RenameSubjects(ctx, "phone:+", rename); err != nil || n != 0 {
		t.Errorf("second RenameSubjects = %d, %v; want 0", n, err)
	}
	// A name that would be renamed again is refused, not looped on.
	inTx(t, s, func(tx otp.Tx) error { return tx.AddEvent(otp.EventSend, "phone:+1", t0) })
	if _, err := s.RenameSubjects(ctx, "phone:+", func(s string) string { return s + "0" }); err == nil {
		t.Error("RenameSubjects to names with the prefix: no error")
	}
}

// writeAll inserts a record of every kind, as a transaction that then fails
// would.
func writeAll(tx otp.Tx) error {
	if err := tx.InsertRequest(&otp.Request{ID: "r", Method: "sendOtp", Fingerprint: []byte{1}, State: otp.RequestDone,
		CreatedAt: t0, ClaimedAt: t0}); err != nil {
		return err
	}
	if err := tx.InsertChallenge(&otp.Challenge{ID: "c", AccountID: "A1", SecretID: "k1", CodeMAC: []byte{1},
		State: otp.ChallengeLive, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}); err != nil {
		return err
	}
	if err := tx.SupersedeChallenges("A1"); err != nil {
		return err
	}
	return tx.AddEvent(otp.EventSend, "account:A1", t0)
}

func checkNothingWritten(t *testing.T, s otp.Store) {
	t.Helper()
	if r := lockRequest(t, s, "", "sendOtp", "r"); r != nil {
		t.Errorf("a rolled back request persisted: %+v", r)
	}
	if c := lockChallenge(t, s, "c"); c != nil {
		t.Errorf("a rolled back challenge persisted: %+v", c)
	}
	if n := countEvents(t, s, otp.EventSend, "account:A1", t0.Add(-time.Hour)); n != 0 {
		t.Errorf("%d rolled back events persisted", n)
	}
}

func testRollback(t *testing.T, open Opener) {
	s := one(t, open)
	errFn := fmt.Errorf("the function's own error: %w", otp.ErrInFlight)
	calls := 0
	err := s.Tx(context.Background(), func(tx otp.Tx) error {
		calls++
		if err := writeAll(tx); err != nil {
			t.Errorf("writing: %v", err)
		}
		return errFn
	})
	// The domain tells its outcomes apart with errors.Is: fn's error comes
	// back as it was.
	if !errors.Is(err, errFn) || !errors.Is(err, otp.ErrInFlight) {
		t.Errorf("Tx returned %v, want the function's error", err)
	}
	// Only the database's failures are retried.
	if calls != 1 {
		t.Errorf("the function ran %d times, want once", calls)
	}
	checkNothingWritten(t, s)
}

func testRollbackOnPanic(t *testing.T, open Opener) {
	s := one(t, open)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the function's panic", r)
			}
		}()
		s.Tx(context.Background(), func(tx otp.Tx) error {
			if err := writeAll(tx); err != nil {
				t.Errorf("writing: %v", err)
			}
			panic("boom")
		})
	}()
	// And the store still works.
	checkNothingWritten(t, s)
}

// concurrently runs fn(i, store) for i in [0, N) at once, spreading the calls
// over the stores, and fails the test on any error.
func concurrently(t *testing.T, stores []otp.Store, fn func(i int, s otp.Store) error) {
	t.Helper()
	warmUp(t, stores)
	atOnce(func(i int) {
		if err := fn(i, stores[i%len(stores)]); err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	})
}

// atOnce runs fn(i) for i in [0, N), each in a goroutine, all released at
// the same moment so that they contend, and waits for them.
func atOnce(fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range N {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

// warmUp runs N transactions at once on each store, so that pools have their
// connections open and the goroutines that follow meet in the database
// rather than queue for connections.
func warmUp(t *testing.T, stores []otp.Store) {
	t.Helper()
	var wg sync.WaitGroup
	for _, s := range stores {
		for range N {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.Tx(context.Background(), func(tx otp.Tx) error {
					_, err := tx.LockRequest("warm-up", "sendOtp", "none")
					return err
				})
			}()
		}
	}
	wg.Wait()
}

// testConcurrentNewRequest is two instances claiming the same new requestId:
// both find no record, and exactly one insert may win. The store must not let
// the loser's error escape: it runs the transaction again, and then the
// loser finds the winner's record.
func testConcurrentNewRequest(t *testing.T, open Opener) {
	stores := open(t, Instances)
	var wins atomic.Int32
	var winner atomic.Value
	concurrently(t, stores, func(i int, s otp.Store) error {
		inserted := false
		err := s.Tx(context.Background(), func(tx otp.Tx) error {
			inserted = false // fn may run more than once
			r, err := tx.LockRequest("piaid", "sendOtp", "same")
			if err != nil || r != nil {
				return err
			}
			inserted = true
			return tx.InsertRequest(&otp.Request{Scope: "piaid", ID: "same", Method: "sendOtp", Fingerprint: []byte{1},
				State: otp.RequestPending, ReplyID: fmt.Sprint(i), CreatedAt: t0, ClaimedAt: t0})
		})
		if err == nil && inserted {
			wins.Add(1)
			winner.Store(fmt.Sprint(i))
		}
		return err
	})
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d transactions inserted the record, want 1", n)
	}
	if r := lockRequest(t, stores[0], "piaid", "sendOtp", "same"); r == nil || r.ReplyID != winner.Load() {
		t.Errorf("stored record %+v, want the winner's (%v)", r, winner.Load())
	}
}

func insertLive(t *testing.T, s otp.Store, id string) {
	t.Helper()
	inTx(t, s, func(tx otp.Tx) error {
		return tx.InsertChallenge(&otp.Challenge{ID: id, AccountID: "A1", SecretID: "k1", CodeMAC: []byte{1},
			State: otp.ChallengeLive, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)})
	})
}

// testConcurrentAttempts: read-modify-write of a locked challenge loses no
// update.
func testConcurrentAttempts(t *testing.T, open Opener) {
	stores := open(t, Instances)
	insertLive(t, stores[0], "ch")
	concurrently(t, stores, func(i int, s otp.Store) error {
		return s.Tx(context.Background(), func(tx otp.Tx) error {
			c, err := tx.LockChallenge("ch")
			if err != nil || c == nil {
				return errors.Join(err, errors.New("challenge not found"))
			}
			c.Attempts++
			return tx.UpdateChallenge(c)
		})
	})
	if c := lockChallenge(t, stores[0], "ch"); c == nil || c.Attempts != N {
		t.Errorf("challenge after %d increments: %+v", N, c)
	}
}

// testConcurrentConsume: of N transactions that consume a live challenge,
// one does.
func testConcurrentConsume(t *testing.T, open Opener) {
	stores := open(t, Instances)
	insertLive(t, stores[0], "ch")
	var wins atomic.Int32
	concurrently(t, stores, func(i int, s otp.Store) error {
		won := false
		err := s.Tx(context.Background(), func(tx otp.Tx) error {
			won = false
			c, err := tx.LockChallenge("ch")
			if err != nil || c == nil {
				return errors.Join(err, errors.New("challenge not found"))
			}
			if c.State != otp.ChallengeLive {
				return nil
			}
			c.State, won = otp.ChallengeConsumed, true
			return tx.UpdateChallenge(c)
		})
		if err == nil && won {
			wins.Add(1)
		}
		return err
	})
	if n := wins.Load(); n != 1 {
		t.Errorf("%d transactions consumed the challenge, want 1", n)
	}
}

// testConcurrentBudget: transactions that count a subject's events and add
// one while under a limit never exceed it together.
func testConcurrentBudget(t *testing.T, open Opener) {
	stores := open(t, Instances)
	const limit = 5
	var wins atomic.Int32
	concurrently(t, stores, func(i int, s otp.Store) error {
		won := false
		err := s.Tx(context.Background(), func(tx otp.Tx) error {
			won = false
			n, err := tx.CountEvents(otp.EventSend, "account:A1", t0.Add(-time.Hour), 100)
			if err != nil || n >= limit {
				return err
			}
			won = true
			return tx.AddEvent(otp.EventSend, "account:A1", t0)
		})
		if err == nil && won {
			wins.Add(1)
		}
		return err
	})
	n := countEvents(t, stores[0], otp.EventSend, "account:A1", t0.Add(-time.Hour))
	if wins.Load() != limit || n != limit {
		t.Errorf("%d transactions added an event, %d events stored; want %d under a budget of %d", wins.Load(), n, limit, limit)
	}
}

// testConcurrentBudgets: transactions that count the budgets of an account
// and its phone with CountEventsMany, and add an event to both while neither
// is spent, never exceed either together. They name the subjects in
// different orders, so that a store that locked them in the order given
// would deadlock; and a second account shares the phone, so that the phone's
// budget is the one spent first.
func testConcurrentBudgets(t *testing.T, open Opener) {
	stores := open(t, Instances)
	const accountLimit, phoneLimit = 4, 6
	var wins atomic.Int32
	concurrently(t, stores, func(i int, s otp.Store) error {
		account := fmt.Sprint("account:A", i%2)
		subjects := []string{account, "phone:p"}
		if i%3 == 0 {
			subjects = []string{"phone:p", account}
		}
		won := false
		err := s.Tx(context.Background(), func(tx otp.Tx) error {
			won = false
			since := t0.Add(-time.Hour)
			ns, err := tx.CountEventsMany([]otp.EventCount{
				{Kind: otp.EventSend, Subjects: subjects[:1], Since: since, AtMost: 100},
				{Kind: otp.EventSend, Subjects: subjects[1:], Since: since, AtMost: 100},
			})
			if err != nil {
				return err
			}
			limits := map[string]int{account: accountLimit, "phone:p": phoneLimit}
			if ns[0] >= limits[subjects[0]] || ns[1] >= limits[subjects[1]] {
				return nil
			}
			won = true
			if err := tx.AddEvent(otp.EventSend, account, t0); err != nil {
				return err
			}
			return tx.AddEvent(otp.EventSend, "phone:p", t0)
		})
		if err == nil && won {
			wins.Add(1)
		}
		return err
	})
	n := countEvents(t, stores[0], otp.EventSend, "phone:p", t0.Add(-time.Hour))
	if wins.Load() != phoneLimit || n != phoneLimit {
		t.Errorf("%d transactions added an event, %d events of the phone stored; want %d under its budget of %d", wins.Load(), n, phoneLimit, phoneLimit)
	}
	for _, a := range []string{"account:A0", "account:A1"} {
		if n := countEvents(t, stores[0], otp.EventSend, a, t0.Add(-time.Hour)); n > accountLimit {
			t.Errorf("%s has %d events, over its budget of %d", a, n, accountLimit)
		}
	}
}

// testConcurrentSupersede: of N transactions that each retire the account's
// challenges and insert a live one, only the last one's stays live.
func testConcurrentSupersede(t *testing.T, open Opener) {
	stores := open(t, Instances)
	concurrently(t, stores, func(i int, s otp.Store) error {
		return s.Tx(context.Background(), func(tx otp.Tx) error {
			if err := tx.SupersedeChallenges("A1"); err != nil {
				return err
			}
			return tx.InsertChallenge(&otp.Challenge{ID: fmt.Sprint("ch-", i), AccountID: "A1", SecretID: "k1",
				CodeMAC: []byte{1}, State: otp.ChallengeLive, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)})
		})
	})
	live := 0
	for i := range N {
		if c := lockChallenge(t, stores[0], fmt.Sprint("ch-", i)); c != nil && c.State == otp.ChallengeLive {
			live++
		}
	}
	if live != 1 {
		t.Errorf("%d live challenges for one account, want 1", live)
	}
}
