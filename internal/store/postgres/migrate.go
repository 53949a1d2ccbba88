package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/otpgate/otpgate/internal/store/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations are the schema migrations of this dialect, oldest first.
func Migrations() ([]migrate.Migration, error) {
	return migrate.Load(migrationFS, "migrations")
}

// Migrate applies the migrations the database lacks, each in its own
// transaction with the version bump, and reports how many it applied. Several
// processes may migrate one database at once: each migration transaction
// first takes an EXCLUSIVE lock on schema_version (it lets readers of the
// version through, no other migrator) and looks at the version again, so a
// migration is applied once. A database newer than this binary is an error.
//
// This is migrate.Up with the lock; the migrate package works on database/sql
// and has no notion of it.
func (s *Store) Migrate(ctx context.Context) (applied int, err error) {
	ms, err := Migrations()
	if err != nil {
		return 0, err
	}
	if err := s.createVersionTable(ctx); err != nil {
		return 0, err
	}
	current, err := s.SchemaVersion(ctx)
	if err != nil {
		return 0, err
	}
	if current > migrate.Latest(ms) {
		return 0, errTooNew(current, migrate.Latest(ms))
	}
	for _, m := range ms[current:] {
		did, err := s.apply(ctx, m, migrate.Latest(ms))
		if err != nil {
			return applied, err
		}
		if did {
			applied++
		}
	}
	return applied, nil
}

// createVersionTable creates schema_version unless it exists. Two sessions
// creating it at once can both pass IF NOT EXISTS, and the second then fails
// (on a catalog unique index, or finding the table's row type); once the
// first has committed, trying again finds the table.
func (s *Store) createVersionTable(ctx context.Context) error {
	var err error
	for range 5 {
		_, err = s.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`)
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) {
			break
		}
		switch pe.Code {
		case "23505", // unique_violation, in pg_type or pg_class
			"42P07", // duplicate_table
			"42710": // duplicate_object: the row type
			continue
		}
		break
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// SchemaVersion reads the schema version of the database; 0 for a database
// that otpgate never migrated.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("migrate: read version: %w", err)
	}
	return v, nil
}

func (s *Store) apply(ctx context.Context, m migrate.Migration, latest int) (applied bool, err error) {
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE schema_version IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		// Another process may have migrated since we looked; this statement
		// runs after the lock is ours, so it sees what that one committed.
		var v int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
			return err
		}
		if v > latest {
			return errTooNew(v, latest)
		}
		if v >= m.Version {
			return nil
		}
		// Without arguments pgx uses the simple protocol, which runs a file of
		// several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM schema_version`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, m.Version); err != nil {
			return err
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("migrate: %s: %w", m.Name, err)
	}
	return applied, nil
}

// checkSchema makes sure the database is at exactly the version this binary
// knows, for Open without Options.Migrate.
func (s *Store) checkSchema(ctx context.Context) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch latest := migrate.Latest(ms); {
	case v > latest:
		return errTooNew(v, latest)
	case v < latest:
		return fmt.Errorf("migrate: the database schema is at version %d, older than this binary needs (%d); run otpgate migrate", v, latest)
	}
	return nil
}
