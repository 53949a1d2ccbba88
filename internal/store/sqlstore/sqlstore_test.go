package sqlstore

import (
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

func TestRebind(t *testing.T) {
	q := `UPDATE t SET a = ?, b = ? WHERE c IN (?, ?)`
	if got := SQLite.Rebind(q); got != q {
		t.Errorf("SQLite.Rebind = %q, want it unchanged", got)
	}
	if got, want := PostgreSQL.Rebind(q), `UPDATE t SET a = $1, b = $2 WHERE c IN ($3, $4)`; got != want {
		t.Errorf("PostgreSQL.Rebind = %q, want %q", got, want)
	}
}

// TestStatements: each dialect gets its own placeholders and locking, and
// only PostgreSQL has lock rows.
func TestStatements(t *testing.T) {
	pg, lite := PostgreSQL.Statements(), SQLite.Statements()
	for _, q := range pg.All() {
		if strings.Contains(q, "?") {
			t.Errorf("a PostgreSQL statement keeps a ?: %s", q)
		}
	}
	for _, q := range lite.All() {
		if strings.Contains(q, "$") || strings.Contains(q, "FOR UPDATE") || strings.Contains(q, "ctid") {
			t.Errorf("a SQLite statement has PostgreSQL's syntax: %s", q)
		}
	}
	if !strings.HasSuffix(pg.LockRequest, "FOR UPDATE") || !strings.HasSuffix(pg.LockChallenge, "FOR UPDATE") {
		t.Error("PostgreSQL's LockRequest and LockChallenge must lock the row")
	}
	if pg.Lock == "" || lite.Lock != "" {
		t.Errorf("lock rows: PostgreSQL %q, SQLite %q; want only PostgreSQL's", pg.Lock, lite.Lock)
	}
	if n := strings.Count(pg.RecordDelivery, "$"); n != len(RecordDeliveryArgs("p", "m", otp.DeliveryDelivered, time.Time{})) {
		t.Errorf("RecordDelivery has %d placeholders, RecordDeliveryArgs another number", n)
	}
}

// recorder is a Conn that keeps the statements it is given.
type recorder struct{ execs []string }

func (r *recorder) Exec(_, query string, _ ...any) error {
	r.execs = append(r.execs, query)
	return nil
}
func (r *recorder) QueryRow(_, _ string, _ []any, _ ...any) (bool, error) {
	return false, nil
}

// TestLocksOncePerSubject: a subject's lock row is taken once per
// transaction, before the statement it guards.
func TestLocksOncePerSubject(t *testing.T) {
	r := &recorder{}
	q := PostgreSQL.Statements()
	tx := NewTx(r, q)
	for range 2 {
		if _, err := tx.CountEvents(otp.EventSend, "account:A1", time.Time{}, 5); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.SupersedeChallenges("A1"); err != nil {
		t.Fatal(err)
	}
	want := []string{q.Lock, q.Lock, q.Supersede}
	if strings.Join(r.execs, "\n") != strings.Join(want, "\n") {
		t.Errorf("statements = %q, want %q", r.execs, want)
	}
}

// TestStoresAnswer: a transaction that writes a done record must commit
// durably; one that only claims need not.
func TestStoresAnswer(t *testing.T) {
	tx := NewTx(&recorder{}, SQLite.Statements())
	if err := tx.InsertRequest(&otp.Request{State: otp.RequestPending}); err != nil || tx.StoresAnswer() {
		t.Fatalf("after a pending record: StoresAnswer %v, %v", tx.StoresAnswer(), err)
	}
	if err := tx.UpdateRequest(&otp.Request{State: otp.RequestDone}); err != nil || !tx.StoresAnswer() {
		t.Errorf("after a done record: StoresAnswer %v, %v", tx.StoresAnswer(), err)
	}
}

func TestPurgeSteps(t *testing.T) {
	cut := time.UnixMilli(1_763_000_000_000)
	steps := PostgreSQL.PurgeSteps(otp.PurgeBefore{Requests: cut, Challenges: cut, Events: cut})
	if len(steps) != 3 || steps[0].Table != "requests" || steps[2].Table != "events" || steps[1].Cut != cut.UnixMilli() {
		t.Fatalf("PurgeSteps = %+v", steps)
	}
	if want := `DELETE FROM challenges WHERE ctid = ANY(ARRAY(SELECT ctid FROM challenges WHERE expires_at < $1 LIMIT $2))`; steps[1].Query != want {
		t.Errorf("PostgreSQL purge of challenges = %q, want %q", steps[1].Query, want)
	}
	if want := `DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE at < ? LIMIT ?)`; SQLite.PurgeSteps(otp.PurgeBefore{})[2].Query != want {
		t.Errorf("SQLite purge of events = %q, want %q", SQLite.PurgeSteps(otp.PurgeBefore{})[2].Query, want)
	}
}

// TestImportLinks: links go in account order, association ids before cards
// before tokens, so that both engines report the same first conflict, and a
// conflict names a card by its last four digits only.
func TestImportLinks(t *testing.T) {
	links := ImportLinks([]otp.Account{
		{ID: "A1", AssociationIDs: []string{"as-1"}, Tokens: []otp.Card{{Last4: "0005"}}, Cards: []otp.Card{{Last4: "0001"}}},
		{ID: "A2", AssociationIDs: []string{"as-2"}},
	})
	var got []string
	for _, l := range links {
		got = append(got, l.Account+":"+l.Association+l.Table.Noun)
	}
	if want := "A1:as-1 A1:card A1:token A2:as-2"; strings.Join(got, " ") != want {
		t.Errorf("ImportLinks = %q, want %q", strings.Join(got, " "), want)
	}
	err := links[1].Conflict("sqlite", "B7")
	if want := "sqlite: import account A1: the card ending 0001 already belongs to account B7"; err == nil || err.Error() != want {
		t.Errorf("Conflict = %v, want %s", err, want)
	}
	if q, _ := PostgreSQL.Insert(links[2]); !strings.HasPrefix(q, "INSERT INTO tokens") || !strings.Contains(q, "ON CONFLICT (hash) DO NOTHING") {
		t.Errorf("the insert of a token: %s", q)
	}
}
