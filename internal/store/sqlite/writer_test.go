package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// batchOf runs fns as the units of one batch: a first unit holds the writer
// until every fn's caller has queued it, one after the other, so that they
// all join the next batch in that order. It returns each fn's Tx error.
func batchOf(t *testing.T, s *Store, ctxs []context.Context, fns ...func(tx *sqlTx) error) []error {
	t.Helper()
	hold, held := make(chan struct{}), make(chan struct{})
	go s.w.do(context.Background(), true, func(*sqlTx) error {
		close(held)
		<-hold
		return nil
	})
	<-held
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		ctx := context.Background()
		if ctxs != nil && ctxs[i] != nil {
			ctx = ctxs[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.w.do(ctx, true, fn)
		}()
		waitFor(t, func() bool { return len(s.w.submit) == i+1 })
	}
	before := s.WriterStats().Batches // the holding unit's batch is still running
	close(hold)
	wg.Wait()
	if got := s.WriterStats().Batches - before - 1; got != 1 && len(fns) > 0 {
		t.Fatalf("the units ran in %d batches, want 1", got)
	}
	return errs
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

func insertRequest(id string) func(tx *sqlTx) error {
	return func(tx *sqlTx) error {
		return tx.InsertRequest(&otp.Request{ID: id, Method: "sendOtp", Fingerprint: []byte{1}, State: otp.RequestDone})
	}
}

// requests lists the ids of the stored requests, as a reader sees them.
func requests(t *testing.T, s *Store) string {
	t.Helper()
	rows, err := s.db.Query(`SELECT id FROM requests ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return strings.Join(ids, ",")
}

// TestBatchUnitsAreIsolated: in one batch, a unit that fails (its own error,
// or a statement's) is rolled back alone and gets its error unchanged; the
// units after it do not see what it did, they see what the units before
// them did, and they commit.
func TestBatchUnitsAreIsolated(t *testing.T) {
	s, _ := open(t)
	errBoom := errors.New("boom")
	var sawB, sawA bool
	errs := batchOf(t, s, nil,
		insertRequest("A"),
		func(tx *sqlTx) error {
			if err := insertRequest("B")(tx); err != nil {
				return err
			}
			return errBoom
		},
		func(tx *sqlTx) error {
			a, err := tx.LockRequest("", "sendOtp", "A")
			sawA = a != nil
			if err != nil {
				return err
			}
			b, err := tx.LockRequest("", "sendOtp", "B")
			sawB = b != nil
			if err != nil {
				return err
			}
			return insertRequest("C")(tx)
		},
		insertRequest("A"), // a duplicate key: the statement fails
		insertRequest("D"),
	)
	if errs[0] != nil || errs[2] != nil || errs[4] != nil {
		t.Errorf("the good units failed: %v", errs)
	}
	if errs[1] != errBoom {
		t.Errorf("the failing unit got %v, want its own error unchanged", errs[1])
	}
	if errs[3] == nil || !strings.Contains(errs[3].Error(), "UNIQUE") {
		t.Errorf("the duplicate insert got %v, want a UNIQUE constraint error", errs[3])
	}
	if !sawA || sawB {
		t.Errorf("the third unit saw A: %v (want true), B: %v (want false)", sawA, sawB)
	}
	if got := requests(t, s); got != "A,C,D" {
		t.Errorf("stored requests %q, want A,C,D", got)
	}
}

// TestBatchRunsInArrivalOrder: the units of a batch run in the order their
// callers came.
func TestBatchRunsInArrivalOrder(t *testing.T) {
	s, _ := open(t)
	var order []int
	fns := make([]func(*sqlTx) error, 8)
	for i := range fns {
		fns[i] = func(*sqlTx) error { order = append(order, i); return nil }
	}
	batchOf(t, s, nil, fns...)
	if fmt.Sprint(order) != "[0 1 2 3 4 5 6 7]" {
		t.Errorf("ran in order %v", order)
	}
}

// TestBatchCommitFailureFailsEveryUnit: when the COMMIT fails (here: a
// deferred foreign key that one unit broke), no unit of the batch is
// stored, each caller gets the commit's error, and the writer goes on.
func TestBatchCommitFailureFailsEveryUnit(t *testing.T) {
	s, _ := open(t)
	errs := batchOf(t, s, nil,
		insertRequest("A"),
		func(tx *sqlTx) error {
			if _, err := tx.conn.ExecContext(tx.ctx, `PRAGMA defer_foreign_keys = ON`); err != nil {
				return err
			}
			_, err := tx.conn.ExecContext(tx.ctx, `INSERT INTO associations (id, account_id) VALUES ('as-1', 'nobody')`)
			return err
		},
		insertRequest("B"),
	)
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "sqlite: commit") || !strings.Contains(err.Error(), "FOREIGN KEY") {
			t.Errorf("unit %d: got %v, want the commit's foreign key error", i, err)
		}
	}
	if got := requests(t, s); got != "" {
		t.Errorf("stored requests %q after a failed commit, want none", got)
	}
	if err := s.w.do(context.Background(), true, insertRequest("C")); err != nil {
		t.Fatalf("the next transaction: %v", err)
	}
	if got := requests(t, s); got != "C" {
		t.Errorf("stored requests %q, want C", got)
	}
}

// TestBatchCancellation: a unit whose caller gave up before the writer came
// to it never runs and gets the context's error; a unit whose context ends
// while it runs is neither interrupted nor undone, and its caller waits for
// the commit. Neither harms the batch.
func TestBatchCancellation(t *testing.T) {
	s, _ := open(t)
	midway, cancelMidway := context.WithCancel(context.Background())
	errs := batchOf(t, s, []context.Context{nil, midway, nil},
		insertRequest("A"),
		func(tx *sqlTx) error {
			cancelMidway()
			return insertRequest("C")(tx)
		},
		insertRequest("D"),
	)
	if errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Errorf("errors %v, want none", errs)
	}
	if got := requests(t, s); got != "A,C,D" {
		t.Errorf("stored %q, want A,C,D", got)
	}

	// Cancelled while waiting for its batch: never runs.
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	errs = batchOf(t, s, []context.Context{nil, ctx, nil},
		func(tx *sqlTx) error { cancel(); return insertRequest("E")(tx) },
		func(tx *sqlTx) error { ran = true; return insertRequest("F")(tx) },
		insertRequest("G"),
	)
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("errors %v", errs)
	}
	if !errors.Is(errs[1], context.Canceled) || ran {
		t.Errorf("the unit cancelled before its turn: %v, ran %v; want context.Canceled, not run", errs[1], ran)
	}
	if got := requests(t, s); got != "A,C,D,E,G" {
		t.Errorf("stored %q, want A,C,D,E,G", got)
	}
}

// TestBatchPanic: a unit that panics panics in its caller's goroutine, is
// rolled back, and the rest of the batch commits.
func TestBatchPanic(t *testing.T) {
	s, _ := open(t)
	var recovered any
	hold, held := make(chan struct{}), make(chan struct{})
	go s.w.do(context.Background(), true, func(*sqlTx) error { close(held); <-hold; return nil })
	<-held
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { recovered = recover() }()
		s.w.do(context.Background(), true, func(tx *sqlTx) error {
			insertRequest("P")(tx)
			panic("unit panic")
		})
	}()
	waitFor(t, func() bool { return len(s.w.submit) == 1 })
	after := make(chan error, 1)
	go func() { after <- s.w.do(context.Background(), true, insertRequest("Q")) }()
	waitFor(t, func() bool { return len(s.w.submit) == 2 })
	close(hold)
	<-done
	if recovered != "unit panic" {
		t.Errorf("the caller recovered %v, want the unit's panic", recovered)
	}
	if err := <-after; err != nil {
		t.Fatal(err)
	}
	if got := requests(t, s); got != "Q" {
		t.Errorf("stored %q, want Q", got)
	}
}

// TestGroupCommit: concurrent transactions share commits, and none of their
// increments is lost.
func TestGroupCommit(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	const callers, each = 16, 25
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := s.Tx(ctx, func(tx otp.Tx) error {
					return tx.AddEvent(otp.EventSend, "s", time.UnixMilli(int64(c*each+i)))
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil || n != callers*each {
		t.Fatalf("%d events (%v), want %d", n, err, callers*each)
	}
	st := s.WriterStats()
	t.Logf("writer: %+v", st)
	if st.Batches >= st.Units {
		t.Errorf("%d units in %d batches: no batch held two", st.Units, st.Batches)
	}
}

// TestNonDurableAnswerIsSynced: a non-durable transaction is released
// without an fsync of the log, unless it stores an answer: then the log is
// synced before its caller is released.
func TestNonDurableAnswerIsSynced(t *testing.T) {
	s, _ := open(t)
	lazy := otp.NonDurable(context.Background())
	pending := func(tx otp.Tx) error {
		return tx.InsertRequest(&otp.Request{ID: "P", Method: "sendOtp", Fingerprint: []byte{1}, State: otp.RequestPending})
	}
	full := s.WriterStats().Syncs
	if err := s.Tx(lazy, pending); err != nil {
		t.Fatal(err)
	}
	if got := s.WriterStats().Syncs - full; got != 0 {
		t.Errorf("a non-durable claim synced the log (%d fsyncs)", got)
	}
	if err := s.Tx(lazy, func(tx otp.Tx) error {
		return tx.InsertRequest(&otp.Request{ID: "D", Method: "sendOtp", Fingerprint: []byte{1}, State: otp.RequestDone})
	}); err != nil {
		t.Fatal(err)
	}
	if got := s.WriterStats().Syncs - full; got != 1 {
		t.Errorf("a non-durable transaction that stored an answer: %d fsyncs, want 1", got)
	}
	if err := s.Tx(context.Background(), func(tx otp.Tx) error {
		r, err := tx.LockRequest("", "sendOtp", "P")
		if err != nil || r == nil {
			return fmt.Errorf("P: %v %v", r, err)
		}
		r.State = otp.RequestDone
		return tx.UpdateRequest(r)
	}); err != nil {
		t.Fatal(err)
	}
	if got := s.WriterStats().Syncs - full; got != 2 {
		t.Errorf("a durable transaction: %d fsyncs in all, want 2", got)
	}
}

// TestClosedStoreRefuses: a transaction after Close fails, and does not hang.
func TestClosedStoreRefuses(t *testing.T) {
	s, _ := open(t)
	s.Close()
	if err := s.Tx(context.Background(), func(otp.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Errorf("Tx after Close: %v, want errClosed", err)
	}
}

// BenchmarkClaimTx runs, from parallel goroutines, the statements of a
// sendOtp's claiming transaction: the replay lookup, the account, two budget
// counts, the challenge, two budget events, the record. It reports the
// units per batch and how busy the writer was.
func BenchmarkClaimTx(b *testing.B) {
	for _, c := range []struct {
		name string
		sync string
		ctx  context.Context
	}{
		{"full", "full", context.Background()},
		{"full-nondurable", "full", otp.NonDurable(context.Background())},
		{"normal", "normal", context.Background()},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, err := OpenWith(context.Background(), filepath.Join(b.TempDir(), "otpgate.db"), Options{Synchronous: c.sync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var accounts []otp.Account
			for i := range 1000 {
				accounts = append(accounts, otp.Account{ID: fmt.Sprint("A", i), Phone: fmt.Sprintf("+9198%08d", i), Status: otp.StatusActive})
			}
			if err := s.ImportAccounts(context.Background(), accounts); err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			start, before := time.Now(), s.WriterStats()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					phone := fmt.Sprintf("+9198%08d", i%1000)
					now := time.Now()
					err := s.Tx(c.ctx, func(tx otp.Tx) error {
						if r, err := tx.LockRequest("", "sendOtp", fmt.Sprint("r", i)); err != nil || r != nil {
							return fmt.Errorf("replay lookup: %v %v", r, err)
						}
						a, err := tx.AccountByPhone(phone)
						if err != nil || a == nil {
							return fmt.Errorf("account: %v %v", a, err)
						}
						for _, subject := range []string{"account:" + a.ID, "phone:" + phone} {
							if _, err := tx.CountEvents(otp.EventSend, subject, now.Add(-time.Second), 5); err != nil {
								return err
							}
						}
						ch := fmt.Sprint("c", i)
						if err := tx.InsertChallenge(&otp.Challenge{ID: ch, AccountID: a.ID, CodeMAC: []byte{1}, State: otp.ChallengeSending,
							CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
							return err
						}
						for _, subject := range []string{"account:" + a.ID, "phone:" + phone} {
							if err := tx.AddEvent(otp.EventSend, subject, now); err != nil {
								return err
							}
						}
						return tx.InsertRequest(&otp.Request{ID: fmt.Sprint("r", i), Method: "sendOtp", Fingerprint: []byte{1},
							State: otp.RequestPending, ChallengeID: ch, Sends: 1, ClaimedAt: now, CreatedAt: now})
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			st := s.WriterStats()
			units, batches := st.Units-before.Units, st.Batches-before.Batches
			b.ReportMetric(float64(units)/float64(max(batches, 1)), "units/batch")
			b.ReportMetric(float64(st.Busy-before.Busy)/float64(time.Since(start)), "writer-busy")
		})
	}
}
