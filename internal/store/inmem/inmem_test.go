package inmem_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/inmem"
	"github.com/otpgate/otpgate/internal/store/storetest"
)

// TestStoreSuite runs the store behaviour suite: the fake that the domain's
// unit tests stand on behaves as the databases do. Several instances share
// one store, as several otpgate processes share one database.
func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(*testing.T) otp.Store { return inmem.New() })
}

func TestPurgeInBatches(t *testing.T) {
	s := inmem.New()
	storetest.PurgeInBatches(t, s, s.SetBatch, 7, 30)
}

// TestRollbackRestores: a failed transaction's updates and deletes are
// undone too, not only its inserts (the suite's Rollback checks those), and
// the indexes they touched find what they found before.
func TestRollbackRestores(t *testing.T) {
	ctx := context.Background()
	s := inmem.New()
	t0 := time.UnixMilli(1_763_000_000_000)
	if err := s.ImportAccounts(ctx, []otp.Account{{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive,
		AssociationIDs: []string{"as-1"}, Cards: []otp.Card{{Hash: []byte("card"), Last4: "0001"}}}}); err != nil {
		t.Fatal(err)
	}
	req := &otp.Request{ID: "r", Method: "sendOtp", Fingerprint: []byte{1}, State: otp.RequestPending, ClaimToken: "c1",
		ChallengeID: "ch", CreatedAt: t0, ClaimedAt: t0}
	ch := &otp.Challenge{ID: "ch", AccountID: "A1", SecretID: "k1", CodeMAC: []byte{1}, State: otp.ChallengeLive,
		CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	err := s.Tx(ctx, func(tx otp.Tx) error {
		return errors.Join(tx.InsertRequest(req), tx.InsertChallenge(ch), tx.AddEvent(otp.EventSend, "account:A1", t0),
			tx.RecordSubmission("ch", otp.Submission{Provider: "p", MessageID: "m-1"}))
	})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s)

	errFail := errors.New("fail")
	err = s.Tx(ctx, func(tx otp.Tx) error {
		done := *req
		done.State, done.ClaimToken = otp.RequestDone, "c2"
		c := *ch
		c.Attempts = 3
		return errors.Join(tx.UpdateRequest(&done), tx.UpdateChallenge(&c), tx.SupersedeChallenges("A1"),
			tx.DeleteEvent(otp.EventSend, "account:A1", t0), tx.AddEvent(otp.EventSend, "account:A1", t0),
			tx.RecordSubmission("ch", otp.Submission{Provider: "p", MessageID: "m-2"}),
			tx.DeleteRequest("", "sendOtp", "r"), errFail)
	})
	if !errors.Is(err, errFail) {
		t.Fatalf("Tx = %v, want the function's error", err)
	}
	err = s.ImportAccounts(ctx, []otp.Account{{ID: "A1", Phone: "+919812345678", Status: otp.StatusClosed},
		{ID: "A2", Phone: "+919812345678", Status: otp.StatusActive, AssociationIDs: []string{"as-2", "as-2"}}})
	if err == nil {
		t.Fatal("an import that names one association twice succeeded")
	}
	if diff := cmp.Diff(before, snapshot(t, s)); diff != "" {
		t.Errorf("after two failed transactions (-before +after):\n%s", diff)
	}
	if found, err := s.RecordDelivery(ctx, "p", "m-2", otp.DeliveryDelivered, t0); err != nil || found {
		t.Errorf("RecordDelivery of the rolled back message = %v, %v; want not found", found, err)
	}
	if found, err := s.RecordDelivery(ctx, "p", "m-1", otp.DeliveryDelivered, t0); err != nil || !found {
		t.Errorf("RecordDelivery of the committed message = %v, %v; want found", found, err)
	}
}

// state is what the lookups of a transaction see of the test's records.
type state struct {
	Request        *otp.Request
	Challenge      *otp.Challenge
	Events         int
	ByPhone, ByAs  *otp.Account
	OldPhone       *otp.Account
	CardOf, ByAsOf *otp.Account
}

func snapshot(t *testing.T, s *inmem.Store) state {
	t.Helper()
	var st state
	err := s.Tx(context.Background(), func(tx otp.Tx) (err error) {
		var errs [7]error
		st.Request, errs[0] = tx.LockRequest("", "sendOtp", "r")
		st.Challenge, errs[1] = tx.LockChallenge("ch")
		st.Events, errs[2] = tx.CountEvents(otp.EventSend, "account:A1", time.Time{}, 100)
		st.ByPhone, errs[3] = tx.AccountByPhone("+919876543210")
		st.OldPhone, errs[4] = tx.AccountByPhone("+919812345678")
		st.ByAs, errs[5] = tx.AccountByAssociation("as-1")
		st.CardOf, _, errs[6] = tx.AccountByCard([]byte("card"))
		st.ByAsOf, _ = tx.AccountByAssociation("as-2")
		return errors.Join(errs[:]...)
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Request == nil || st.Challenge == nil || st.ByPhone == nil || st.CardOf == nil || st.Events != 1 {
		t.Fatalf("the committed records are not all there: %+v", st)
	}
	return st
}

// TestNonDurableCommits: a transaction that asks for no durability commits
// all the same, and the next one sees it.
func TestNonDurableCommits(t *testing.T) {
	s := inmem.New()
	ctx := otp.NonDurable(context.Background())
	at := time.UnixMilli(1_763_000_000_000)
	if err := s.Tx(ctx, func(tx otp.Tx) error { return tx.AddEvent(otp.EventSend, "account:A1", at) }); err != nil {
		t.Fatal(err)
	}
	var n int
	err := s.Tx(context.Background(), func(tx otp.Tx) (err error) {
		n, err = tx.CountEvents(otp.EventSend, "account:A1", at.Add(-time.Second), 10)
		return err
	})
	if err != nil || n != 1 {
		t.Errorf("events after a non-durable commit: %d, %v; want 1", n, err)
	}
}
