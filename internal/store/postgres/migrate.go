package postgres

import (
	"context"
	"embed"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otpgate/otpgate/internal/store/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations are the schema migrations of this dialect, oldest first.
func Migrations() ([]migrate.Migration, error) {
	return migrate.Load(migrationFS, "migrations")
}

// runner applies this dialect's migrations. Several processes may migrate one
// database at once: each migration transaction first takes an EXCLUSIVE lock
// on schema_version (it lets readers of the version through, no other
// migrator) and looks at the version again, so a migration is applied once.
func runner() (migrate.Runner, error) {
	ms, err := Migrations()
	return migrate.Runner{Migrations: ms, Lock: `LOCK TABLE schema_version IN EXCLUSIVE MODE`}, err
}

// Migrate applies the migrations the database lacks, each in its own
// transaction with the version bump, and reports how many it applied. A
// database newer than this binary is an error.
func (s *Store) Migrate(ctx context.Context) (applied int, err error) {
	r, err := runner()
	if err != nil {
		return 0, err
	}
	return r.Up(ctx, poolConn{s.pool})
}

// SchemaVersion reads the schema version of the database; 0 for a database
// that otpgate never migrated.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return migrate.Runner{}.Version(ctx, poolConn{s.pool})
}

// VersionOf reads the schema version of the database conn is connected to,
// without a Store (tools that must not migrate, nor need a pool); 0 for a
// database that otpgate never migrated.
func VersionOf(ctx context.Context, conn *pgx.Conn) (int, error) {
	return migrate.Runner{}.Version(ctx, poolConn{conn})
}

// checkSchema makes sure the database is at exactly the version this binary
// knows, for Open without Options.Migrate.
func (s *Store) checkSchema(ctx context.Context) error {
	r, err := runner()
	if err != nil {
		return err
	}
	return r.Check(ctx, poolConn{s.pool})
}

// querier is what a pool and a transaction share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// poolConn adapts the pool (or, within InTx, a transaction of it) to the
// migration runner. Without arguments pgx uses the simple protocol, which
// runs a file of several statements.
type poolConn struct{ q querier }

// Exec runs query. Two sessions creating schema_version at once can both
// pass IF NOT EXISTS, and the second then fails (on a catalog unique index,
// or finding the table's row type); once the first has committed, trying
// again finds the table.
func (c poolConn) Exec(ctx context.Context, query string) error {
	var err error
	for range 5 {
		_, err = c.q.Exec(ctx, query)
		var pe *pgconn.PgError
		if _, inTx := c.q.(pgx.Tx); err == nil || inTx || !errors.As(err, &pe) {
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
	return err
}

func (c poolConn) QueryInt(ctx context.Context, query string) (int, error) {
	var v int
	err := c.q.QueryRow(ctx, query).Scan(&v)
	return v, err
}

func (c poolConn) InTx(ctx context.Context, fn func(migrate.Conn) error) error {
	pool, ok := c.q.(*pgxpool.Pool)
	if !ok {
		return errors.New("postgres: a migration transaction within a transaction")
	}
	return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		return fn(poolConn{tx})
	})
}

func (poolConn) MissingTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01" // undefined_table
}
