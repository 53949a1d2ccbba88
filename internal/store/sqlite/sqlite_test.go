package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/storetest"
)

func open(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "otpgate.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestRefusesANewerSchema(t *testing.T) {
	s, path := open(t)
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "newer than this binary knows") {
		t.Fatalf("opening a newer schema: %v", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	s, path := open(t)
	ctx := context.Background()
	if err := s.ImportAccounts(ctx, []otp.Account{{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	err = s2.Tx(ctx, func(tx otp.Tx) error {
		a, err := tx.AccountByPhone("+919876543210")
		if err == nil && (a == nil || a.ID != "A1") {
			t.Errorf("account after reopening: %+v", a)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestImportIsAllOrNothing(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	first := []otp.Account{
		{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive, AssociationIDs: []string{"as-1"}},
		{ID: "A2", Phone: "+919812345678", Status: otp.StatusActive, AssociationIDs: []string{"as-2"}},
	}
	if err := s.ImportAccounts(ctx, first); err != nil {
		t.Fatal(err)
	}
	// A3 claims A2's association id: the whole import fails, A1's change too.
	bad := []otp.Account{
		{ID: "A1", Phone: "+919800000001", Status: otp.StatusClosed, AssociationIDs: []string{"as-1"}},
		{ID: "A3", Phone: "+919800000003", Status: otp.StatusActive, AssociationIDs: []string{"as-2"}},
	}
	err := s.ImportAccounts(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), `"as-2" already belongs to account A2`) {
		t.Fatalf("conflicting import: %v", err)
	}
	var n int
	s.db.QueryRow(`SELECT COUNT(*) FROM accounts WHERE id = 'A1' AND phone = '+919876543210' AND status = 'active'`).Scan(&n)
	if n != 1 {
		t.Error("a failed import changed A1")
	}
	s.db.QueryRow(`SELECT COUNT(*) FROM accounts`).Scan(&n)
	if n != 2 {
		t.Errorf("%d accounts after a failed import, want 2", n)
	}
	// Moving an association id between two accounts of one import works, and
	// re-importing never duplicates.
	moved := []otp.Account{
		{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive, AssociationIDs: []string{"as-2"}},
		{ID: "A2", Phone: "+919812345678", Status: otp.StatusActive, AssociationIDs: []string{"as-1", "as-3"}},
	}
	for range 2 {
		if err := s.ImportAccounts(ctx, moved); err != nil {
			t.Fatal(err)
		}
	}
	s.db.QueryRow(`SELECT COUNT(*) FROM associations`).Scan(&n)
	if n != 3 {
		t.Errorf("%d associations, want 3", n)
	}
	s.db.QueryRow(`SELECT COUNT(*) FROM associations WHERE id = 'as-2' AND account_id = 'A1'`).Scan(&n)
	if n != 1 {
		t.Error("as-2 did not move to A1")
	}
}

func TestPurge(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	now := time.UnixMilli(1_763_000_000_000)
	old, fresh := now.Add(-48*time.Hour), now.Add(-time.Minute)
	err := s.Tx(ctx, func(tx otp.Tx) error {
		for i, at := range []time.Time{old, fresh} {
			id := []string{"old", "fresh"}[i]
			if err := tx.InsertRequest(&otp.Request{Scope: "", ID: id, Method: "sendOtp", Fingerprint: []byte{1},
				State: otp.RequestDone, CreatedAt: at, ClaimedAt: at}); err != nil {
				return err
			}
			if err := tx.InsertChallenge(&otp.Challenge{ID: id, AccountID: "A1", SecretID: "k1", CodeMAC: []byte{1},
				State: otp.ChallengeLive, CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute)}); err != nil {
				return err
			}
			if err := tx.AddEvent(otp.EventSend, "account:A1", at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Purge(ctx, otp.PurgeBefore{Requests: now.Add(-24 * time.Hour), Challenges: now.Add(-24 * time.Hour), Events: now.Add(-24 * time.Hour)})
	if err != nil || n != 3 {
		t.Fatalf("purged %d rows (%v), want 3", n, err)
	}
	for _, table := range []string{"requests", "challenges", "events"} {
		var left int
		s.db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&left)
		if left != 1 {
			t.Errorf("%s: %d rows left, want 1", table, left)
		}
	}
}

// TestSynchronousMode: with full (the default), a durable transaction
// is released after an fsync of the log and one from otp.NonDurable without;
// with normal, none is synced. The writer's connection commits with NORMAL
// either way: the syncer, not the commit, syncs the log.
func TestSynchronousMode(t *testing.T) {
	ctx := context.Background()
	lazy := otp.NonDurable(ctx)
	for _, c := range []struct {
		mode            string
		durable, others int64
	}{{"", 1, 0}, {"full", 1, 0}, {"normal", 0, 0}} {
		s, err := OpenWith(ctx, filepath.Join(t.TempDir(), "otpgate.db"), Options{Synchronous: c.mode})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []struct {
			ctx  context.Context
			name string
			want int64
		}{{ctx, "durable", c.durable}, {lazy, "non-durable", c.others}, {ctx, "durable again", c.durable}} {
			before := s.WriterStats().Syncs
			var sync int
			err := s.Tx(q.ctx, func(tx otp.Tx) error {
				return tx.(*sqlTx).conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync)
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.WriterStats().Syncs - before; got != q.want {
				t.Errorf("synchronous %q, %s transaction: %d fsyncs of the log, want %d", c.mode, q.name, got, q.want)
			}
			if sync != 1 {
				t.Errorf("synchronous %q: the writer's connection commits with synchronous %d, want 1 (NORMAL)", c.mode, sync)
			}
		}
		s.Close()
	}
	if _, err := OpenWith(ctx, filepath.Join(t.TempDir(), "otpgate.db"), Options{Synchronous: "off"}); err == nil {
		t.Error("synchronous off was accepted")
	}
}

// legacy is a new, empty database file for storetest's migration tests.
func legacy(t *testing.T) storetest.LegacyDB {
	path := filepath.Join(t.TempDir(), "otpgate.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	return storetest.LegacyDB{
		Migrations: ms,
		Exec: func(query string, args ...any) error {
			_, err := db.Exec(query, args...)
			return err
		},
		Open: func() otp.Store {
			db.Close() // as the older release would have been, before the new one starts
			s, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// TestMigrateOpensCurrent: a database of the previous release's latest schema.
func TestMigrateOpensCurrent(t *testing.T) {
	storetest.MigrateOpensCurrent(t, legacy(t))
}

// TestMigrateKeepsRequests: records of schema 2 survive the new key, and
// Purge finds requests by their age through an index.
func TestMigrateKeepsRequests(t *testing.T) {
	s := storetest.MigrateKeepsRequests(t, legacy(t)).(*Store)
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'requests_by_created' AND tbl_name = 'requests'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("index requests_by_created on requests: %d (%v), want 1", n, err)
	}
}

// TestPurgeInBatches: a backlog of expired rows goes in bounded batches,
// each its own transaction, so that SQLite's one writer is never held for
// the whole of it.
func TestPurgeInBatches(t *testing.T) {
	s, _ := open(t)
	storetest.PurgeInBatches(t, s, func(rows int, seen func(string, int64)) { s.batch, s.onBatch = rows, seen }, 100, 2550)
}

// TestMigrateHashesPhones: a database of schema 4 with phone numbers in
// clear is migrated; the challenges lose their phone column.
func TestMigrateHashesPhones(t *testing.T) {
	s := storetest.MigrateHashesPhones(t, legacy(t)).(*Store)
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('challenges') WHERE name = 'phone'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("challenges still has a phone column (%d, %v)", n, err)
	}
}
