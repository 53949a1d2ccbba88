// Package sqlite is the embedded default store: one database file in the data
// directory, nothing to install. Every write goes through one writer
// (writer.go), which runs the transactions of concurrent requests in batches,
// one commit each; a pool of read connections answers what needs no write.
// Transactions begin IMMEDIATE, so that several processes on one file (or
// a command beside the server) serialize their writers too, which is what
// makes claim-then-act safe here.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/migrate"
	"github.com/otpgate/otpgate/internal/store/sqlstore"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite implementation of otp.Store.
type Store struct {
	// db is the pool of read connections (query_only): pings, scans,
	// inspection by tests and tools. Nothing writes through it.
	db *sql.DB
	// reads are Read's lookups, prepared on db: a statement of a
	// database/sql pool is prepared once per connection that runs it,
	// rather than parsed on every lookup.
	reads map[string]*sql.Stmt
	// wdb holds the one writing connection, which w owns.
	wdb *sql.DB
	w   *writer
	// batch bounds the rows that one statement of Purge or RenameSubjects
	// changes; onBatch, when set, sees each batch (tests).
	batch   int
	onBatch func(table string, rows int64)
}

// DefaultBatch is how many rows one transaction of Purge deletes (or of
// RenameSubjects renames) at most: a few milliseconds of SQLite's single
// writer, so that requests queue behind it no longer than that.
const DefaultBatch = 1000

// Options tune the store.
type Options struct {
	// Synchronous is SQLite's synchronous mode, "full" (the default) or
	// "normal". FULL syncs the log on every commit, so a committed answer
	// survives a power cut; NORMAL, in WAL mode, survives a crash of otpgate
	// but may lose the last commits to a power cut or kernel panic, for about
	// twice the commits per second.
	Synchronous string
}

var _ otp.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and brings its
// schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, opts Options) (*Store, error) {
	sync := "FULL"
	switch opts.Synchronous {
	case "", "full":
	case "normal":
		sync = "NORMAL"
	default:
		return nil, fmt.Errorf("sqlite: synchronous %q: want full or normal", opts.Synchronous)
	}
	// Create the file ourselves so that it is the owner's alone: it holds the
	// directory's phone numbers. SQLite gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	f.Close()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	wdb, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One writing connection: SQLite has one writer anyway, and the writer
	// turns what would be lock contention into batches.
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxIdleTime(0)
	if err := migrateUp(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	conn, err := wdb.Conn(ctx)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	stmts, err := prepare(ctx, conn, statements.All())
	if err != nil {
		conn.Close()
		wdb.Close()
		return nil, err
	}
	// Readers: WAL lets them read a committed snapshot while the writer
	// writes. query_only makes a write through them an error, not a
	// second writer contending for the lock.
	r := url.Values{}
	r.Add("_pragma", "busy_timeout(10000)")
	r.Add("_pragma", "query_only(1)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+r.Encode())
	if err != nil {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	reads, err := prepare(ctx, db, []string{statements.AccountByPhone, statements.AccountByID, statements.AccountByAssociation,
		statements.AccountByCard, statements.AccountByToken})
	if err != nil {
		db.Close()
		conn.Close()
		wdb.Close()
		return nil, err
	}
	s := &Store{db: db, reads: reads, wdb: wdb, w: newWriter(conn, stmts, sync == "FULL"), batch: DefaultBatch}
	return s, nil
}

// prepare prepares queries on p (the writer's connection, or the pool of
// readers), keyed by their text.
func prepare(ctx context.Context, p interface {
	PrepareContext(context.Context, string) (*sql.Stmt, error)
}, queries []string) (map[string]*sql.Stmt, error) {
	stmts := make(map[string]*sql.Stmt, len(queries))
	for _, q := range queries {
		st, err := p.PrepareContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
		stmts[q] = st
	}
	return stmts, nil
}

func migrateUp(ctx context.Context, db *sql.DB) error {
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return err
	}
	_, err = migrate.Up(ctx, db, ms)
	return err
}

// DB is the pool of read connections, for inspection by tests and tools:
// it refuses writes.
func (s *Store) DB() *sql.DB { return s.db }

// WriterStats are the counters of the store's writer.
func (s *Store) WriterStats() WriterStats { return s.w.Stats() }

// Close waits for the batch in progress, refuses further transactions and
// closes the database.
func (s *Store) Close() error {
	s.w.stop()
	return errors.Join(s.w.conn.Close(), s.wdb.Close(), s.db.Close())
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return errors.Join(s.w.failed(), s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one)) // a failed fsync: not ready (writer.go)
}

// Tx runs fn as one unit of the writer's next batch (writer.go): in a
// savepoint of its own, committed with the other units of the batch. It is
// durable unless ctx comes from otp.NonDurable and fn stores no answer.
func (s *Store) Tx(ctx context.Context, fn func(otp.Tx) error) error {
	return s.w.do(ctx, otp.IsDurable(ctx), func(t *sqlTx) error { return fn(t) })
}

// Read runs fn's lookups on the pool of read connections, beside the
// writer: WAL lets them read the last commit while it writes, so that
// lookups that decide nothing a unit writes need not queue for it.
func (s *Store) Read(ctx context.Context, fn func(otp.Reader) error) error {
	return fn(sqlstore.NewTx(poolReader{stmts: s.reads, ctx: ctx}, statements))
}

// poolReader is a sqlstore.Conn over the read connections, for Read.
type poolReader struct {
	stmts map[string]*sql.Stmt // Store.reads
	ctx   context.Context
}

// Exec refuses: the lookups of a Reader write nothing.
func (r poolReader) Exec(what, _ string, _ ...any) error {
	return fmt.Errorf("sqlite: %s: a read writes nothing", what)
}

// QueryRow runs the query on a read connection and scans its first row.
func (r poolReader) QueryRow(what, query string, args []any, dest ...any) (bool, error) {
	st, ok := r.stmts[query]
	if !ok {
		return false, fmt.Errorf("sqlite: %s: not a lookup of Read", what)
	}
	return found(what, st.QueryRowContext(r.ctx, args...).Scan(dest...))
}

// found is QueryRow's answer after a scan that ended with err: no row is
// not found, not an error.
func found(what string, err error) (bool, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, sqlstore.Wrap("sqlite", what, err)
	}
	return true, nil
}

// ImportAccounts upserts accounts and replaces their association ids, cards
// and tokens, all in one transaction. An association id, card or token that
// belongs to an account outside the import fails the whole import.
func (s *Store) ImportAccounts(ctx context.Context, accounts []otp.Account) error {
	return s.w.do(ctx, true, func(t *sqlTx) error { return importAccounts(t.ctx, t.conn, accounts) })
}

func importAccounts(ctx context.Context, tx *sql.Conn, accounts []otp.Account) error {
	lite := sqlstore.SQLite
	now := time.Now().UnixMilli()
	deletes := lite.DeleteLinks()
	for _, a := range accounts {
		query, args := lite.UpsertAccount(a, now)
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("sqlite: import account %s: %w", a.ID, err)
		}
		for _, query := range deletes {
			if _, err := tx.ExecContext(ctx, query, a.ID); err != nil {
				return fmt.Errorf("sqlite: import account %s: %w", a.ID, err)
			}
		}
	}
	for _, l := range sqlstore.ImportLinks(accounts) {
		query, args := lite.Insert(l)
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("sqlite: import account %s: %w", l.Account, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: import account %s: %w", l.Account, err)
		}
		if n == 1 {
			continue
		}
		var owner string
		query, args = lite.Owner(l)
		if err := tx.QueryRowContext(ctx, query, args...).Scan(&owner); err != nil {
			return fmt.Errorf("sqlite: import account %s: %w", l.Account, err)
		}
		return l.Conflict("sqlite", owner)
	}
	return nil
}

// Purge deletes records past their retention, at most s.batch rows per
// statement, each statement its own transaction: SQLite has one writer, and
// a single DELETE of a large backlog (after a long outage of the purger, or
// a retention made shorter) would hold it, and every request behind it, for
// as long as it ran.
func (s *Store) Purge(ctx context.Context, p otp.PurgeBefore) (int64, error) {
	var total int64
	for _, q := range sqlstore.SQLite.PurgeSteps(p) {
		n, err := s.inBatches(ctx, q.Table, func() (res sql.Result, err error) {
			// Not durable: a purge that a crash undoes is done again.
			err = s.w.do(ctx, false, func(t *sqlTx) error {
				res, err = t.conn.ExecContext(t.ctx, q.Query, q.Cut, s.batch)
				return err
			})
			return res, err
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("sqlite: purge %s: %w", q.Table, err)
		}
	}
	return total, nil
}

// inBatches runs one batch statement until it changes fewer than s.batch
// rows, and reports how many it changed in all.
func (s *Store) inBatches(ctx context.Context, table string, batch func() (sql.Result, error)) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		res, err := batch()
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if s.onBatch != nil {
			s.onBatch(table, n)
		}
		if n < int64(s.batch) {
			return total, nil
		}
	}
}

// RenameSubjects renames the events whose subject starts with prefix, a
// batch of subjects per transaction.
func (s *Store) RenameSubjects(ctx context.Context, prefix string, rename func(string) string) (int64, error) {
	var total int64
	for {
		rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT subject FROM events WHERE substr(subject, 1, ?) = ? LIMIT ?`,
			len(prefix), prefix, s.batch)
		if err != nil {
			return total, fmt.Errorf("sqlite: rename subjects: %w", err)
		}
		var subjects []string
		for rows.Next() {
			var subject string
			if err := rows.Scan(&subject); err != nil {
				rows.Close()
				return total, fmt.Errorf("sqlite: rename subjects: %w", err)
			}
			subjects = append(subjects, subject)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("sqlite: rename subjects: %w", err)
		}
		if len(subjects) == 0 {
			return total, nil
		}
		var n int64
		// Not durable: a crash that undoes a rename leaves old subjects,
		// which the next start renames again.
		err = s.w.do(ctx, false, func(t *sqlTx) error {
			n = 0
			for _, old := range subjects {
				renamed := rename(old)
				if strings.HasPrefix(renamed, prefix) {
					return fmt.Errorf("sqlite: rename subjects: the new name of a subject starts with %q too", prefix)
				}
				res, err := t.conn.ExecContext(t.ctx, `UPDATE events SET subject = ? WHERE subject = ?`, renamed, old)
				if err != nil {
					return fmt.Errorf("sqlite: rename subjects: %w", err)
				}
				m, _ := res.RowsAffected()
				n += m
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if s.onBatch != nil {
			s.onBatch("events", n)
		}
	}
}

// statements are the transactions' statements in SQLite's dialect, prepared
// once at Open on the writer's connection.
var statements = sqlstore.SQLite.Statements()

// sqlTx is one unit's view of the writer's transaction: the shared row
// mapping (sqlstore.Tx) over the writer's connection.
type sqlTx struct {
	*sqlstore.Tx
	ctx   context.Context // the caller's, without its cancellation: see unit.ctx
	conn  *sql.Conn       // the writer's connection, in a transaction
	stmts map[string]*sql.Stmt
	unit  *unit
	// ran, when the unit's context carries one (tests), counts the
	// statements the unit runs.
	ran *atomic.Int64
}

// ranKey carries a counter of statements in a Tx's context (tests).
type ranKey struct{}

var _ sqlstore.Conn = (*sqlTx)(nil)

// newSQLTx is unit u's transaction on the writer's connection. Storing an
// answer (a done record) makes the unit durable: an answer must be on disk
// before it leaves (otp.NonDurable).
func newSQLTx(u *unit, conn *sql.Conn, stmts map[string]*sql.Stmt) *sqlTx {
	t := &sqlTx{ctx: context.WithoutCancel(u.ctx), conn: conn, stmts: stmts, unit: u}
	t.ran, _ = u.ctx.Value(ranKey{}).(*atomic.Int64)
	t.Tx = sqlstore.NewTx(t, statements)
	t.OnAnswer = func() { u.durable = true }
	return t
}

// stmt is the statement of query prepared once on the writer's connection:
// parsing SQL anew on every request was a fifth of the time a request held
// the database. The fixed statements are prepared at Open; one whose shape
// depends on its arguments (sqlstore's CountMany, of as many budgets as the
// policy has) the first time it runs, and kept. Only the writer's goroutine
// runs units, so the map needs no lock.
func (t *sqlTx) stmt(query string) (*sql.Stmt, error) {
	if t.ran != nil {
		t.ran.Add(1)
	}
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	st, err := t.conn.PrepareContext(t.ctx, query)
	if err != nil {
		return nil, err
	}
	t.stmts[query] = st
	return st, nil
}

// Exec runs a statement at once: the writer's connection is in the same
// process, so there is no round trip to save.
func (t *sqlTx) Exec(what, query string, args ...any) error {
	st, err := t.stmt(query)
	if err == nil {
		_, err = st.ExecContext(t.ctx, args...)
	}
	if err != nil {
		return sqlstore.Wrap("sqlite", what, err)
	}
	return nil
}

// QueryRow runs a query and scans its first row.
func (t *sqlTx) QueryRow(what, query string, args []any, dest ...any) (bool, error) {
	st, err := t.stmt(query)
	if err == nil {
		err = st.QueryRowContext(t.ctx, args...).Scan(dest...)
	}
	return found(what, err)
}

// RecordDelivery updates the challenges that carry the message: a final
// state stays as it is, so that a repeated or late receipt changes nothing.
func (s *Store) RecordDelivery(ctx context.Context, provider, messageID string, state otp.DeliveryState, at time.Time) (bool, error) {
	if messageID == "" {
		return false, nil
	}
	// Durable: the provider is told the receipt was taken, and does not
	// send it again.
	var res sql.Result
	err := s.w.do(ctx, true, func(t *sqlTx) (err error) {
		st, err := t.stmt(statements.RecordDelivery)
		if err != nil {
			return err
		}
		res, err = st.ExecContext(t.ctx, sqlstore.RecordDeliveryArgs(provider, messageID, state, at)...)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: record delivery: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: record delivery: %w", err)
	}
	return n > 0, nil
}
