package migrate_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/otpgate/otpgate/internal/store/migrate"
	_ "modernc.org/sqlite"
)

func files(names ...string) fstest.MapFS {
	fs := fstest.MapFS{}
	for _, n := range names {
		fs["m/"+n] = &fstest.MapFile{Data: []byte("CREATE TABLE t" + strings.Split(n, "_")[0] + " (x INTEGER);")}
	}
	return fs
}

func TestLoad(t *testing.T) {
	ms, err := migrate.Load(files("0002_b.sql", "0001_a.sql", "README"), "m")
	if err != nil || len(ms) != 2 || ms[0].Name != "0001_a.sql" || ms[1].Version != 2 {
		t.Fatalf("Load = %+v, %v; want 0001_a.sql then version 2", ms, err)
	}
	for _, bad := range []fstest.MapFS{files("0001_a.sql", "0003_c.sql"), files("first.sql")} {
		if _, err := migrate.Load(bad, "m"); err == nil {
			t.Errorf("Load accepted %v", bad)
		}
	}
}

// TestRunner: Up applies what is missing and nothing twice, Check wants
// exactly the latest version, and a newer database is refused by both.
func TestRunner(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := migrate.SQL(db)
	all, err := migrate.Load(files("0001_a.sql", "0002_b.sql", "0003_c.sql"), "m")
	if err != nil {
		t.Fatal(err)
	}
	old := migrate.Runner{Migrations: all[:2]}
	if v, err := old.Version(ctx, c); err != nil || v != 0 {
		t.Fatalf("Version of a new database = %d, %v; want 0", v, err)
	}
	if err := old.Check(ctx, c); err == nil || !strings.Contains(err.Error(), "run otpgate migrate") {
		t.Errorf("Check of a new database = %v", err)
	}
	if n, err := old.Up(ctx, c); err != nil || n != 2 {
		t.Fatalf("Up = %d, %v; want 2", n, err)
	}
	if err := old.Check(ctx, c); err != nil {
		t.Errorf("Check after Up: %v", err)
	}
	now := migrate.Runner{Migrations: all}
	if n, err := now.Up(ctx, c); err != nil || n != 1 {
		t.Fatalf("Up of one more = %d, %v; want 1", n, err)
	}
	if n, err := now.Up(ctx, c); err != nil || n != 0 {
		t.Errorf("Up again = %d, %v; want 0", n, err)
	}
	// The format every release wrote and reads: one row, the version.
	var rows, version int
	if err := db.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_version`).Scan(&rows, &version); err != nil || rows != 1 || version != 3 {
		t.Errorf("schema_version holds %d rows, the newest %d (%v); want one row, 3", rows, version, err)
	}
	if _, err := old.Up(ctx, c); err == nil || !strings.Contains(err.Error(), "newer than this binary knows") {
		t.Errorf("an older binary's Up = %v", err)
	}
	if err := old.Check(ctx, c); err == nil || !strings.Contains(err.Error(), "newer than this binary knows") {
		t.Errorf("an older binary's Check = %v", err)
	}
}
