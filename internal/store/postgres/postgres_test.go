package postgres_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/pgtest"
	"github.com/otpgate/otpgate/internal/store/postgres"
	"github.com/otpgate/otpgate/internal/store/sqlstore"
	"github.com/otpgate/otpgate/internal/store/storetest"
)

// open opens a Store on url with a small pool, closed when t ends.
func open(t *testing.T, url string, opts postgres.Options) *postgres.Store {
	t.Helper()
	if opts.MaxConns == 0 {
		opts.MaxConns = 6
	}
	s, err := postgres.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStoreSuite runs the store behaviour suite with n Stores, each with its
// own pool, on one database: n otpgate instances.
func TestStoreSuite(t *testing.T) {
	storetest.RunInstances(t, func(t *testing.T, n int) []otp.Store {
		url := pgtest.NewDatabase(t)
		stores := make([]otp.Store, n)
		for i := range stores {
			stores[i] = open(t, url, postgres.Options{Migrate: i == 0})
		}
		return stores
	})
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	ms, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	url := pgtest.NewEmptyDatabase(t)

	// An unmigrated database is refused without Migrate.
	if _, err := postgres.Open(ctx, url, postgres.Options{}); err == nil || !strings.Contains(err.Error(), "run otpgate migrate") {
		t.Fatalf("Open without Migrate on an empty database: %v", err)
	}

	// Instances starting at once all migrate: one applies, the others wait
	// for it and find nothing left to do.
	const n = 6
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(ctx, url, postgres.Options{Migrate: true, MaxConns: 2})
			if err != nil {
				t.Errorf("migrator %d: %v", i, err)
				return
			}
			s.Close()
		}()
	}
	wg.Wait()

	s := open(t, url, postgres.Options{})
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(ms) {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, len(ms))
	}
	var rows int
	if err := s.Pool().QueryRow(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("%d rows in schema_version (%v), want 1", rows, err)
	}
	if applied, err := s.Migrate(ctx); err != nil || applied != 0 {
		t.Errorf("Migrate on a current schema = %d, %v; want 0, nil", applied, err)
	}

	// A newer schema is refused, with or without Migrate.
	if _, err := s.Pool().Exec(ctx, `UPDATE schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	for _, migrate := range []bool{true, false} {
		_, err := postgres.Open(ctx, url, postgres.Options{Migrate: migrate})
		if err == nil || !strings.Contains(err.Error(), "newer than this binary knows") {
			t.Errorf("Open (Migrate %v) on a newer schema: %v", migrate, err)
		}
	}
}

func TestOpenFailures(t *testing.T) {
	ctx := context.Background()
	if _, err := postgres.Open(ctx, "postgres://a b", postgres.Options{}); err == nil {
		t.Error("Open accepted a malformed URL")
	}
	url := pgtest.NewDatabase(t)
	// A database that does not exist is a final error: no retries.
	bad := strings.Replace(url, "otpgate_test_", "otpgate_missing_", 1)
	start := time.Now()
	if _, err := postgres.Open(ctx, bad, postgres.Options{Migrate: true}); err == nil {
		t.Error("Open of a missing database succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open of a missing database took %v", d)
	}
}

// TestRetriesLostConnections: a connection that dies under a transaction (a
// server restart, a failover, a proxy dropping it) costs a retry, not an
// error, and the failed attempt leaves nothing behind.
func TestRetriesLostConnections(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := open(t, url, postgres.Options{MaxConns: 2})
	admin := open(t, url, postgres.Options{MaxConns: 1})
	// Ends every session of this test's database but admin's own, and waits
	// until they are gone.
	terminate := func() {
		t.Helper()
		_, err := admin.Pool().Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); ; {
			var left int
			err := admin.Pool().QueryRow(ctx, `SELECT COUNT(*) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&left)
			if err != nil {
				t.Fatal(err)
			}
			if left == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d sessions outlived pg_terminate_backend", left)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	calls := 0
	err := s.Tx(ctx, func(tx otp.Tx) error {
		calls++
		if err := tx.AddEvent(otp.EventSend, "account:A1", time.Now()); err != nil {
			return err
		}
		if calls == 1 {
			terminate()
		}
		_, err := tx.CountEvents(otp.EventSend, "account:A1", time.Time{}, 1)
		return err
	})
	if err != nil || calls != 2 {
		t.Fatalf("Tx whose connection died = %v after %d calls; want success on the second", err, calls)
	}
	if n := countEvents(t, s); n != 1 {
		t.Errorf("%d events, want 1: the first attempt's must be rolled back", n)
	}

	// Idle pooled connections that died are replaced on the way.
	terminate()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after the pool's connections died: %v", err)
	}
	terminate()
	if err := s.Tx(ctx, func(tx otp.Tx) error { return tx.AddEvent(otp.EventSend, "account:A1", time.Now()) }); err != nil {
		t.Errorf("Tx after the pool's connections died: %v", err)
	}

	// Without retries, the same failure is the caller's.
	once := open(t, url, postgres.Options{MaxConns: 1, MaxRetries: -1})
	if err := once.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	terminate()
	if err := once.Tx(ctx, func(tx otp.Tx) error { return tx.AddEvent(otp.EventSend, "account:A1", time.Now()) }); err == nil {
		t.Error("with MaxRetries -1, a Tx on a dead connection succeeded: is the test killing connections?")
	}
}

func countEvents(t *testing.T, s *postgres.Store) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(context.Background(), `SELECT COUNT(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRetriesDeadlocks: two transactions that lock two challenges in opposite
// orders deadlock; PostgreSQL aborts one (after deadlock_timeout, 1s by
// default) and Tx runs it again.
func TestRetriesDeadlocks(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	a, b := open(t, url, postgres.Options{}), open(t, url, postgres.Options{})
	err := a.Tx(ctx, func(tx otp.Tx) error {
		for _, id := range []string{"x", "y"} {
			if err := tx.InsertChallenge(&otp.Challenge{ID: id, AccountID: "A1", SecretID: "k1", CodeMAC: []byte{1},
				State: otp.ChallengeLive, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var both sync.WaitGroup
	both.Add(2)
	var calls atomic.Int32
	var wg sync.WaitGroup
	for i, s := range []*postgres.Store{a, b} {
		order := []string{"x", "y"}
		if i == 1 {
			order = []string{"y", "x"}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			err := s.Tx(ctx, func(tx otp.Tx) error {
				calls.Add(1)
				for j, id := range order {
					c, err := tx.LockChallenge(id)
					if err != nil {
						return err
					}
					c.Attempts++
					if err := tx.UpdateChallenge(c); err != nil {
						return err
					}
					if j == 0 && first {
						// Both hold their first lock before either takes its second.
						first = false
						both.Done()
						both.Wait()
					}
				}
				return nil
			})
			if err != nil {
				t.Errorf("transaction %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 3 {
		t.Errorf("%d runs of the functions, want 3: two, and the deadlock victim's again", n)
	}
	for _, id := range []string{"x", "y"} {
		var attempts int
		if err := a.Pool().QueryRow(ctx, `SELECT attempts FROM challenges WHERE id = $1`, id).Scan(&attempts); err != nil || attempts != 2 {
			t.Errorf("challenge %s: %d attempts (%v), want 2", id, attempts, err)
		}
	}
}

// TestRecoversWhenTheServerReturns stops and starts a PostgreSQL of its own:
// while it is down, Ping and Tx fail (the server answers 503); once it is
// back, the same Store works again without a restart.
func TestRecoversWhenTheServerReturns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx := context.Background()
	c := pgtest.StartCluster(t)
	s := open(t, c.NewDatabase(t), postgres.Options{MaxConns: 4})
	add := func() error {
		return s.Tx(ctx, func(tx otp.Tx) error { return tx.AddEvent(otp.EventSend, "account:A1", time.Now()) })
	}
	if err := add(); err != nil {
		t.Fatal(err)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping succeeded with the server stopped")
	}
	err := add()
	if err == nil {
		t.Fatal("Tx succeeded with the server stopped")
	}
	if !strings.HasPrefix(err.Error(), "postgres: ") {
		t.Errorf("Tx error %q does not say where it comes from", err)
	}
	t.Logf("with the server down, Ping and Tx gave up after %v: %v", time.Since(start), err)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failing took %v: retries must be bounded", d)
	}

	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after the server came back: %v", err)
	}
	if err := add(); err != nil {
		t.Errorf("Tx after the server came back: %v", err)
	}
	if n := countEvents(t, s); n != 2 {
		t.Errorf("%d events, want 2", n)
	}
}

// legacy is a new, empty database for storetest's migration tests.
func legacy(t *testing.T) storetest.LegacyDB {
	ctx := context.Background()
	url := pgtest.NewEmptyDatabase(t)
	ms, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return storetest.LegacyDB{
		Migrations: ms,
		Exec: func(query string, args ...any) error {
			// Without arguments, Exec runs a file of several statements.
			_, err := conn.Exec(ctx, sqlstore.PostgreSQL.Rebind(query), args...)
			return err
		},
		Open: func() otp.Store { return open(t, url, postgres.Options{Migrate: true}) },
	}
}

// TestMigrateOpensCurrent: a database of the previous release's latest schema.
func TestMigrateOpensCurrent(t *testing.T) {
	s := storetest.MigrateOpensCurrent(t, legacy(t)).(*postgres.Store)
	if applied, err := s.Migrate(context.Background()); err != nil || applied != 0 {
		t.Errorf("Migrate of a current schema = %d, %v; want 0, nil", applied, err)
	}
}

// TestMigrateKeepsRequests: records of schema 2 survive the new key.
func TestMigrateKeepsRequests(t *testing.T) {
	storetest.MigrateKeepsRequests(t, legacy(t))
}

// TestPurgeInBatches: a backlog of expired rows goes in bounded batches,
// each its own transaction.
func TestPurgeInBatches(t *testing.T) {
	s := open(t, pgtest.NewDatabase(t), postgres.Options{Migrate: true})
	storetest.PurgeInBatches(t, s, func(rows int, seen func(string, int64)) { postgres.SetBatch(s, rows, seen) }, 100, 1050)
}

// TestMigrateHashesPhones: a database of schema 4 with phone numbers in
// clear is migrated; the challenges' phone column stays a release longer for
// the previous release's instances, emptied, and filled for them when this
// one inserts.
func TestMigrateHashesPhones(t *testing.T) {
	s := storetest.MigrateHashesPhones(t, legacy(t)).(*postgres.Store)
	ctx := context.Background()
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT COUNT(*) FROM challenges WHERE phone <> ''`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d challenges still hold a phone number (%v)", n, err)
	}
	err := s.Tx(ctx, func(tx otp.Tx) error {
		return tx.InsertChallenge(&otp.Challenge{ID: "ch-2", AccountID: "A1", CodeMAC: []byte{1}, SecretID: "k1",
			State: otp.ChallengeLive, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)})
	})
	if err != nil {
		t.Errorf("a challenge inserted without the phone column: %v", err)
	}
}

// TestFailedWriteCommitsNothing: writes travel with the COMMIT; one that
// fails there is reported under its own name, and the COMMIT after it never
// runs, so the writes before it are not committed either.
func TestFailedWriteCommitsNothing(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.NewDatabase(t), postgres.Options{MaxRetries: -1})
	ch := &otp.Challenge{ID: "x", AccountID: "A1", SecretID: "k1", CodeMAC: []byte{1},
		State: otp.ChallengeLive, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}
	if err := s.Tx(ctx, func(tx otp.Tx) error { return tx.InsertChallenge(ch) }); err != nil {
		t.Fatal(err)
	}
	err := s.Tx(ctx, func(tx otp.Tx) error {
		if _, err := tx.LockChallenge("x"); err != nil { // a read first: the writes go with the COMMIT
			return err
		}
		if err := tx.AddEvent(otp.EventSend, "account:A1", time.Now()); err != nil {
			return err
		}
		return tx.InsertChallenge(ch) // the same id again
	})
	if err == nil || !strings.Contains(err.Error(), "insert challenge") {
		t.Errorf("Tx with a duplicate challenge = %v, want the insert's unique violation", err)
	}
	if n := countEvents(t, s); n != 0 {
		t.Errorf("%d events committed by a transaction whose last write failed", n)
	}
}
