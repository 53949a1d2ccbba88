package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// SetBatch sets a store's batch size for Purge, and
// installs seen, which the store calls after each batch with the table and
// the rows the batch changed.
type SetBatch func(rows int, seen func(table string, rows int64))

// PurgeInBatches fills s with rows expired rows of each kind, and a few
// fresh ones, and checks that Purge removes every expired row in batches of
// at most batch rows, each its own transaction: another writer commits
// between two batches (on SQLite's one connection, or against a lock held
// across batches, it could not), and the fresh rows stay.
func PurgeInBatches(t *testing.T, s otp.Store, setBatch SetBatch, batch, rows int) {
	t.Helper()
	ctx := context.Background()
	cut := t0
	inTx(t, s, func(tx otp.Tx) error {
		for i := range rows + 2 {
			at := cut.Add(-time.Duration(i+1) * time.Millisecond) // expired
			if i >= rows {
				at = cut.Add(time.Hour) // fresh
			}
			id := fmt.Sprint("r-", i)
			if err := tx.InsertRequest(&otp.Request{ID: id, Method: "sendOtp", Fingerprint: []byte{1},
				State: otp.RequestDone, CreatedAt: at, ClaimedAt: at}); err != nil {
				return err
			}
			if err := tx.InsertChallenge(&otp.Challenge{ID: id, AccountID: "A1", Phone: phone1, CodeMAC: []byte{1},
				State: otp.ChallengeLive, CreatedAt: at.Add(-5 * time.Minute), ExpiresAt: at}); err != nil {
				return err
			}
			if err := tx.AddEvent(otp.EventSend, "account:A1", at); err != nil {
				return err
			}
		}
		return nil
	})

	seen := map[string][]int64{}
	interleaved := 0
	setBatch(batch, func(table string, n int64) {
		seen[table] = append(seen[table], n)
		// A write between two batches commits, and soon.
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := s.Tx(wctx, func(tx otp.Tx) error {
			return tx.AddEvent(otp.EventSend, "account:between-batches", cut.Add(time.Hour))
		})
		if err != nil {
			t.Errorf("a write between two batches of %s: %v", table, err)
			return
		}
		interleaved++
	})
	defer setBatch(batch, nil)

	n, err := s.Purge(ctx, otp.PurgeBefore{Requests: cut, Challenges: cut, Events: cut})
	if err != nil || n != int64(3*rows) {
		t.Fatalf("Purge = %d, %v; want %d rows", n, err, 3*rows)
	}
	full := rows / batch
	for _, table := range []string{"requests", "challenges", "events"} {
		var sum int64
		for _, b := range seen[table] {
			if b > int64(batch) {
				t.Errorf("%s: a batch of %d rows, over %d", table, b, batch)
			}
			sum += b
		}
		if sum != int64(rows) || len(seen[table]) != full+1 {
			t.Errorf("%s: batches %v; want %d rows in %d batches of %d, then one of the rest", table, seen[table], rows, full, batch)
		}
	}
	if want := len(seen["requests"]) + len(seen["challenges"]) + len(seen["events"]); interleaved != want {
		t.Errorf("%d writes committed between batches, want %d", interleaved, want)
	}
	for i := rows; i < rows+2; i++ {
		if r := lockRequest(t, s, "", "sendOtp", fmt.Sprint("r-", i)); r == nil {
			t.Errorf("the fresh request r-%d was purged", i)
		}
	}
	if got := countEvents(t, s, otp.EventSend, "account:A1", cut.Add(-24*time.Hour)); got != 2 {
		t.Errorf("%d events of account:A1 left, want the 2 fresh ones", got)
	}
}
