// Package migrate applies numbered SQL migrations, one file per version
// ("0001_init.sql"), and refuses a database whose schema is newer than the
// binary knows. It is small on purpose: the SQL is portable enough that one
// folder per dialect suffices.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the migrations of a folder of fsys, sorted by version.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("migrate: %s: file names start with a version number", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrate: %s: expected version %d", m.Name, i+1)
		}
	}
	return ms, nil
}

// Latest is the newest version among ms.
func Latest(ms []Migration) int { return len(ms) }

// Conn is what the runner needs of a database. SQL adapts a database/sql
// database; the postgres store adapts its pool.
type Conn interface {
	// Exec runs a statement, or a script of several, without arguments.
	Exec(ctx context.Context, query string) error
	// QueryInt runs a query whose one row is one integer.
	QueryInt(ctx context.Context, query string) (int, error)
	// InTx runs fn in one transaction, with a Conn of that transaction, and
	// commits unless fn fails.
	InTx(ctx context.Context, fn func(tx Conn) error) error
	// MissingTable reports whether err says that a table does not exist.
	MissingTable(err error) bool
}

// Runner applies one engine's migrations. The schema version lives in
// schema_version, one row of one INTEGER column, as every release wrote it.
type Runner struct {
	Migrations []Migration
	// Lock, when set, is the first statement of each migration's
	// transaction: it keeps other migrators out until the transaction ends
	// (PostgreSQL: LOCK TABLE schema_version IN EXCLUSIVE MODE, which lets
	// readers of the version through). Without it the engine must serialize
	// writing transactions itself (SQLite's IMMEDIATE transactions do).
	Lock string
}

const (
	createVersionTable = `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`
	readVersion        = `SELECT COALESCE(MAX(version), 0) FROM schema_version`
)

// Up applies every migration newer than the database's version, each in its
// own transaction with the version bump, and reports how many it applied.
// Several processes may migrate one database at once: each transaction looks
// at the version again (after Lock), so a migration is applied once. A
// database at a version newer than the latest known is an error: an older
// binary must not write to a schema it does not understand.
func (r Runner) Up(ctx context.Context, c Conn) (applied int, err error) {
	if err := c.Exec(ctx, createVersionTable); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	current, err := r.Version(ctx, c)
	if err != nil {
		return 0, err
	}
	latest := Latest(r.Migrations)
	if current > latest {
		return 0, ErrTooNew(current, latest)
	}
	for _, m := range r.Migrations[current:] {
		did, err := r.apply(ctx, c, m)
		if err != nil {
			return applied, err
		}
		if did {
			applied++
		}
	}
	return applied, nil
}

// Check makes sure the database is at exactly the version the migrations
// end at, for a process that must not migrate.
func (r Runner) Check(ctx context.Context, c Conn) error {
	v, err := r.Version(ctx, c)
	if err != nil {
		return err
	}
	switch latest := Latest(r.Migrations); {
	case v > latest:
		return ErrTooNew(v, latest)
	case v < latest:
		return fmt.Errorf("migrate: the database schema is at version %d, older than this binary needs (%d); run otpgate migrate", v, latest)
	}
	return nil
}

// Version reads the schema version; 0 for a database never migrated.
func (r Runner) Version(ctx context.Context, c Conn) (int, error) {
	v, err := c.QueryInt(ctx, readVersion)
	if err != nil && c.MissingTable(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("migrate: read version: %w", err)
	}
	return v, nil
}

// ErrTooNew is the error of a schema newer than this binary knows.
func ErrTooNew(current, latest int) error {
	return fmt.Errorf("migrate: the database schema is at version %d, newer than this binary knows (%d); upgrade otpgate", current, latest)
}

func (r Runner) apply(ctx context.Context, c Conn, m Migration) (applied bool, err error) {
	err = c.InTx(ctx, func(tx Conn) error {
		if r.Lock != "" {
			if err := tx.Exec(ctx, r.Lock); err != nil {
				return err
			}
		}
		// Another process may have migrated since we looked; this runs
		// after the lock is ours, so it sees what that one committed.
		v, err := tx.QueryInt(ctx, readVersion)
		if err != nil {
			return err
		}
		if latest := Latest(r.Migrations); v > latest {
			return ErrTooNew(v, latest)
		}
		if v >= m.Version {
			return nil
		}
		for _, q := range []string{m.SQL, `DELETE FROM schema_version`,
			`INSERT INTO schema_version (version) VALUES (` + strconv.Itoa(m.Version) + `)`} {
			if err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("migrate: %s: %w", m.Name, err)
	}
	return applied, nil
}

// Up applies ms to a database/sql database (see Runner.Up).
func Up(ctx context.Context, db *sql.DB, ms []Migration) (applied int, err error) {
	return Runner{Migrations: ms}.Up(ctx, SQL(db))
}

// Version reads the schema version of a database/sql database; 0 for a new
// one.
func Version(ctx context.Context, db *sql.DB) (int, error) {
	return Runner{}.Version(ctx, SQL(db))
}

// SQL adapts a database/sql database to the runner.
func SQL(db *sql.DB) Conn { return sqlConn{db: db, q: db} }

// sqlConn runs on q: db, or a transaction of db within InTx.
type sqlConn struct {
	db *sql.DB
	q  interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (c sqlConn) Exec(ctx context.Context, query string) error {
	_, err := c.q.ExecContext(ctx, query)
	return err
}

func (c sqlConn) QueryInt(ctx context.Context, query string) (int, error) {
	var v int
	err := c.q.QueryRowContext(ctx, query).Scan(&v)
	return v, err
}

func (c sqlConn) InTx(ctx context.Context, fn func(Conn) error) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(sqlConn{db: c.db, q: tx}); err != nil {
		return err
	}
	return tx.Commit()
}

// MissingTable: SQLite words it "no such table".
func (sqlConn) MissingTable(err error) bool {
	return strings.Contains(err.Error(), "no such table")
}
