package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// SetBatch sets a store's batch size for Purge and RenameSubjects, and
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
			if err := tx.InsertRequest(&otp.Request{ID: id, Method: "sendOtp", Fingerprint: []byte{1}, SecretID: "k1",
				State: otp.RequestDone, CreatedAt: at, ClaimedAt: at}); err != nil {
				return err
			}
			if err := tx.InsertChallenge(&otp.Challenge{ID: id, AccountID: "A1", CodeMAC: []byte{1}, SecretID: "k1",
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

// LegacyPhone is the phone number of the rows that LegacyRows describes.
const LegacyPhone = phone1

// LegacyRows are the rows that an otpgate of schema version 4 left, for a
// store's migration test to write in its dialect: accounts A1 and A2 (as-2)
// share LegacyPhone; challenge ch-1 of A1 holds the number in clear, code_mac
// 0x0102, live, one attempt, created at t0; a card of A1 whose hash is 32
// bytes of 0x01; and five sends counted under "phone:"+LegacyPhone, in the
// minute after t0.
var LegacyRows = struct {
	T0        int64
	CardHash  []byte
	PhoneSend string
}{t0.UnixMilli(), cardHash(1), "phone:" + phone1}

// CheckLegacyRowsConverted checks a store migrated from LegacyRows: the rows
// name the legacy secret, and once the Service has hashed the phones of
// older events, no event holds the number and the phone's budget still
// counts its five sends.
func CheckLegacyRowsConverted(t *testing.T, s otp.Store) {
	t.Helper()
	ctx := context.Background()
	ch := lockChallenge(t, s, "ch-1")
	if ch == nil || ch.SecretID != otp.LegacySecretID || ch.AccountID != "A1" || ch.Attempts != 1 || string(ch.CodeMAC) != "\x01\x02" {
		t.Errorf("challenge ch-1 after the migration: %+v; want A1's, 1 attempt, code_mac 0102, secret %q", ch, otp.LegacySecretID)
	}
	var card *otp.Card
	inTx(t, s, func(tx otp.Tx) (err error) { _, card, err = tx.AccountByCard(LegacyRows.CardHash); return err })
	if card == nil || card.SecretID != otp.LegacySecretID {
		t.Errorf("the card after the migration: %+v; want secret %q", card, otp.LegacySecretID)
	}
	svc, err := otp.New(otp.Config{Store: s, Messenger: &messenger{}, Policy: otp.DefaultPolicy(),
		Secret: cardHash(7), Now: func() time.Time { return t0.Add(2 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := svc.HashLegacyPhones(ctx); err != nil || n != 5 {
		t.Fatalf("HashLegacyPhones = %d, %v; want 5 events", n, err)
	}
	if n, err := svc.HashLegacyPhones(ctx); err != nil || n != 0 {
		t.Errorf("HashLegacyPhones again = %d, %v; want 0", n, err)
	}
	if n := countEvents(t, s, otp.EventSend, LegacyRows.PhoneSend, t0.Add(-time.Hour)); n != 0 {
		t.Errorf("%d events still name the phone in clear", n)
	}
	// A2 has sent nothing, but its phone has sent five times in 15 minutes.
	out, err := svc.Send(ctx, otp.SendRequest{Ref: otp.Ref{RequestID: "send-a2", Method: "sendOtp", Fingerprint: []byte("a2")},
		AssociationID: "as-2"})
	if err != nil || out.Result != otp.SendLimitReached {
		t.Errorf("sendOtp to the phone whose sends were counted before the migration = %+v, %v; want %s", out, err, otp.SendLimitReached)
	}
}
