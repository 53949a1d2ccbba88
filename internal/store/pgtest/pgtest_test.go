package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/otpgate/otpgate/internal/store/pgtest"
)

func TestNewDatabase(t *testing.T) {
	ctx := context.Background()
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b {
		t.Fatalf("two tests got one database: %s", a)
	}
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var version, requests int
	if err := conn.QueryRow(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&version); err != nil || version < 1 {
		t.Fatalf("schema version %d (%v), want the migrated schema", version, err)
	}
	if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM requests`).Scan(&requests); err != nil || requests != 0 {
		t.Fatalf("%d requests (%v) in a new database", requests, err)
	}
	// Writes stay in this database.
	if _, err := conn.Exec(ctx, `INSERT INTO events (kind, subject, at) VALUES ('send', 's', 1)`); err != nil {
		t.Fatal(err)
	}
	conn2, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	var events int
	if err := conn2.QueryRow(ctx, `SELECT COUNT(*) FROM events`).Scan(&events); err != nil || events != 0 {
		t.Fatalf("%d events (%v) in the other database", events, err)
	}
}
