package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/migrate"
)

// LegacyDB is a new, empty database of one engine, to be filled as an older
// release left it.
type LegacyDB struct {
	// Migrations are the engine's migrations.
	Migrations []migrate.Migration
	// Exec runs a statement (? placeholders), or a script without
	// arguments, on the database, outside any store.
	Exec func(query string, args ...any) error
	// Open opens the engine's store on the database, migrating it.
	Open func() otp.Store
}

// at brings the database to schema version v as the release of that version
// did, its version table included: one row of one INTEGER column, which
// every release's runner (both engines') wrote and the runner reads.
func (db LegacyDB) at(t *testing.T, v int) {
	t.Helper()
	db.exec(t, `CREATE TABLE schema_version (version INTEGER NOT NULL)`)
	for _, m := range db.Migrations[:v] {
		db.exec(t, m.SQL)
	}
	db.exec(t, `INSERT INTO schema_version (version) VALUES (`+strconv.Itoa(v)+`)`)
}

func (db LegacyDB) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if err := db.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// MigrateOpensCurrent: a database that the previous release migrated to the
// latest schema opens with nothing to apply, and works.
func MigrateOpensCurrent(t *testing.T, db LegacyDB) otp.Store {
	t.Helper()
	db.at(t, len(db.Migrations))
	s := db.Open()
	importAccounts(t, s, otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive})
	if a := byPhone(t, s, phone1); a == nil || a.ID != "A1" {
		t.Errorf("the account imported into a database of the previous release: %+v", a)
	}
	return s
}

// MigrateKeepsRequests: a database that an otpgate of migration 0002 left,
// with an idempotency record, is migrated at Open; the record is then found
// under its new key (scope, method, id), whole, and that key lets the same
// requestId live on another method. It returns the store, for the engine's
// own checks.
func MigrateKeepsRequests(t *testing.T, db LegacyDB) otp.Store {
	t.Helper()
	db.at(t, 2)
	db.exec(t, `INSERT INTO requests (scope, id, method, fingerprint, state, result, reply_id, challenge_id, sends, claim_token, claimed_at, created_at)
		VALUES ('piaid', 'req-1', 'authenticate', ?, 'done', 'success', 'reply-1', 'ch-1', 2, 'claim-1', 1763000000000, 1762999999000)`, []byte{0, 0xff})
	s := db.Open()
	want := &otp.Request{Scope: "piaid", ID: "req-1", Method: "authenticate", Fingerprint: []byte{0, 0xff}, SecretID: otp.LegacySecretID,
		State: otp.RequestDone, Result: otp.SendSuccess, ReplyID: "reply-1", ChallengeID: "ch-1", Sends: 2, ClaimToken: "claim-1",
		ClaimedAt: time.UnixMilli(1763000000000), CreatedAt: time.UnixMilli(1762999999000)}
	err := s.Tx(context.Background(), func(tx otp.Tx) error {
		got, err := tx.LockRequest("piaid", "authenticate", "req-1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("the record after the migration (-want +got):\n%s", diff)
		}
		other := *want
		other.Method = "resendOtp"
		return tx.InsertRequest(&other)
	})
	if err != nil {
		t.Fatalf("the same requestId on another method after the migration: %v", err)
	}
	return s
}

// MigrateHashesPhones: a database that an otpgate of schema 4 left, with a
// phone number in a challenge and in budget events (LegacyRows), is migrated
// at Open: the rows name the legacy secret, and the events are converted by
// the Service (CheckLegacyRowsConverted). It returns the store, for the
// engine's own checks of the challenge's phone column.
func MigrateHashesPhones(t *testing.T, db LegacyDB) otp.Store {
	t.Helper()
	db.at(t, 4)
	rows := LegacyRows
	db.exec(t, `INSERT INTO accounts (id, phone, status, updated_at) VALUES ('A1', ?, 'active', 0), ('A2', ?, 'active', 0)`, LegacyPhone, LegacyPhone)
	db.exec(t, `INSERT INTO associations (id, account_id) VALUES ('as-2', 'A2')`)
	db.exec(t, `INSERT INTO challenges (id, account_id, phone, code_mac, state, attempts, created_at, expires_at)
		VALUES ('ch-1', 'A1', ?, ?, 'live', 1, ?, ?)`, LegacyPhone, []byte{1, 2}, rows.T0, rows.T0+300_000)
	db.exec(t, `INSERT INTO cards (hash, account_id, last4, expiry_year, expiry_month) VALUES (?, 'A1', '4242', 2031, 7)`, rows.CardHash)
	for i := range 5 {
		db.exec(t, `INSERT INTO events (kind, subject, at) VALUES ('send', ?, ?)`, rows.PhoneSend, rows.T0+int64(i)*10_000)
	}
	s := db.Open()
	CheckLegacyRowsConverted(t, s)
	return s
}
