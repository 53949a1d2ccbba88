// Package postgres is the store for several otpgate instances sharing one
// PostgreSQL database (13 or newer), through a pgx connection pool.
//
// It keeps the semantics of the SQLite store, where one writer at a time makes
// claim-then-act safe, with row locks instead: every transaction runs at READ
// COMMITTED, LockRequest and LockChallenge read with SELECT … FOR UPDATE, and
// the operations that guard rows that may not exist yet (counting a subject's
// events, retiring an account's live challenges) first lock a row of the
// locks table. Conflicts that remain (two instances inserting the same new
// requestId: a unique violation; serialization failures; deadlocks) and
// connections lost before COMMIT make Tx run the whole function again, a
// bounded number of times.
//
// The SQL stays portable: no advisory locks, no LISTEN/NOTIFY.
package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/sqlstore"
)

// DefaultMaxRetries is how often a transaction is run again after a conflict
// or a lost connection, unless Options say otherwise.
const DefaultMaxRetries = 5

// DefaultConnectTimeout bounds the opening of one connection when neither
// the URL (connect_timeout) nor Options set it.
const DefaultConnectTimeout = 5 * time.Second

// Options tune Open.
type Options struct {
	// Migrate applies the pending schema migrations at Open. Without it, Open
	// only checks that the schema is the one this binary knows.
	Migrate bool
	// MaxConns caps the pool; 0 keeps the URL's pool_max_conns or pgxpool's
	// default (the larger of 4 and the number of CPUs).
	MaxConns int32
	// MaxRetries bounds how often one transaction is run again after a
	// retryable failure; 0 means DefaultMaxRetries, a negative value none.
	MaxRetries int
	// ConnectTimeout bounds each new connection when the URL sets no
	// connect_timeout; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

// Store is the PostgreSQL implementation of otp.Store. It is safe for
// concurrent use, and any number of Stores (in any number of processes) may
// share one database.
type Store struct {
	pool       *pgxpool.Pool
	maxRetries int
	// batch bounds the rows that one statement of Purge or RenameSubjects
	// changes; onBatch, when set, sees each batch (tests).
	batch   int
	onBatch func(table string, rows int64)
}

// DefaultBatch is how many rows one transaction of Purge deletes (or of
// RenameSubjects renames) at most, so that no transaction of theirs holds
// locks, or grows, for long.
const DefaultBatch = 1000

var _ otp.Store = (*Store)(nil)

// Open connects to the database at databaseURL (a postgres:// URL or a
// key=value connection string, as pgx reads them) and applies or checks the
// schema. The pool connects lazily beyond what the schema step needs.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return open(ctx, cfg, opts)
}

// open is Open of a parsed configuration (which tests may tune).
func open(ctx context.Context, cfg *pgxpool.Config, opts Options) (*Store, error) {
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
		if opts.ConnectTimeout > 0 {
			cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, maxRetries: opts.MaxRetries, batch: DefaultBatch}
	switch {
	case s.maxRetries == 0:
		s.maxRetries = DefaultMaxRetries
	case s.maxRetries < 0:
		s.maxRetries = 0
	}
	if opts.Migrate {
		_, err = s.Migrate(ctx)
	} else {
		err = s.checkSchema(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Pool is the underlying connection pool, for inspection by tests and tools.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes every connection of the pool, waiting for those in use.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping reports whether the database answers, trying again (as a transaction
// would) when a pooled connection turns out to be dead.
func (s *Store) Ping(ctx context.Context) error {
	return s.retry(ctx, func() (retryClass, error) {
		if err := s.pool.Ping(ctx); err != nil {
			return classify(ctx, err, nil), fmt.Errorf("postgres: ping: %w", err)
		}
		return final, nil
	})
}

// Read runs fn's lookups as plain queries of the pool, outside any
// transaction, so that they hold no connection in a transaction between
// them.
func (s *Store) Read(ctx context.Context, fn func(otp.Reader) error) error {
	return fn(sqlstore.NewTx(poolReader{s: s, ctx: ctx}, statements))
}

// Tx runs fn in one READ COMMITTED transaction. Its COMMIT waits for the
// disk (synchronous_commit as the server has it) unless ctx comes from
// otp.NonDurable and fn stores no answer: then it is on the server and seen by
// every instance when Tx returns, and only a crash of the server within
// wal_writer_delay may lose it. When the database reports a
// conflict (the same new row inserted by another transaction, a serialization
// failure, a deadlock) or the connection fails before COMMIT is sent, the
// transaction is rolled back and fn runs again in a new one, up to MaxRetries
// times. Errors of fn's own are returned as they are.
func (s *Store) Tx(ctx context.Context, fn func(otp.Tx) error) error {
	durable := otp.IsDurable(ctx)
	return s.inTx(ctx, func(t *pgTx) error {
		tx := sqlstore.NewTx(t, statements)
		if !durable {
			t.lazyCommit()
			tx.OnAnswer = t.durableCommit
		}
		return fn(tx)
	})
}

// ImportAccounts upserts accounts and replaces their association ids, cards
// and tokens, all in one transaction. An association id, card or token that
// belongs to an account outside the import fails the whole import.
func (s *Store) ImportAccounts(ctx context.Context, accounts []otp.Account) error {
	return s.inTx(ctx, func(t *pgTx) error {
		return t.importAccounts(accounts, time.Now().UnixMilli())
	})
}

// importBatch is how many statements of an import go to the server at once.
const importBatch = 500

func (t *pgTx) importAccounts(accounts []otp.Account, now int64) error {
	pg := sqlstore.PostgreSQL
	deletes := pg.DeleteLinks()
	for start := 0; start < len(accounts); start += importBatch {
		for _, a := range accounts[start:min(start+importBatch, len(accounts))] {
			what := "import account " + a.ID
			query, args := pg.UpsertAccount(a, now)
			t.queue(what, query, args...)
			for _, query := range deletes {
				t.queue(what, query, a.ID)
			}
		}
		if _, err := t.sendQueued(); err != nil {
			return err
		}
	}
	links := sqlstore.ImportLinks(accounts)
	for start := 0; start < len(links); start += importBatch {
		part := links[start:min(start+importBatch, len(links))]
		for _, l := range part {
			query, args := pg.Insert(l)
			t.queue("import account "+l.Account, query, args...)
		}
		affected, err := t.sendQueued()
		if err != nil {
			return err
		}
		for i, n := range affected {
			if n != 1 {
				var owner string
				query, args := pg.Owner(part[i])
				if _, err := t.QueryRow("import account "+part[i].Account, query, args, &owner); err != nil {
					return err
				}
				return part[i].Conflict("postgres", owner)
			}
		}
	}
	return nil
}

// Purge deletes records past their retention, at most s.batch rows per
// transaction so that no lock is held long and no transaction grows with the
// backlog, and reports how many rows went. It also empties the locks table
// of the rows nobody holds; those do not count.
func (s *Store) Purge(ctx context.Context, p otp.PurgeBefore) (int64, error) {
	var total int64
	for _, q := range sqlstore.PostgreSQL.PurgeSteps(p) {
		for {
			var n int64
			err := s.inTx(ctx, func(t *pgTx) (err error) {
				n, err = t.execNow("purge "+q.Table, q.Query, q.Cut, s.batch)
				return err
			})
			if err != nil {
				return total, err
			}
			total += n
			if s.onBatch != nil {
				s.onBatch(q.Table, n)
			}
			if n < int64(s.batch) {
				break
			}
		}
	}
	// A lock row holds no state: deleting one that nobody holds is safe, as
	// the next transaction that needs it inserts it again. SKIP LOCKED leaves
	// the held ones alone instead of waiting for them (or deadlocking).
	err := s.inTx(ctx, func(t *pgTx) error {
		_, err := t.execNow("purge locks", `DELETE FROM locks WHERE (space, key) IN
			(SELECT space, key FROM locks FOR UPDATE SKIP LOCKED)`)
		return err
	})
	return total, err
}

// RecordDelivery updates the challenges that carry the message: a final
// state stays as it is, so that a repeated or late receipt changes nothing.
func (s *Store) RecordDelivery(ctx context.Context, provider, messageID string, state otp.DeliveryState, at time.Time) (bool, error) {
	if messageID == "" {
		return false, nil
	}
	var n int64
	err := s.inTx(ctx, func(t *pgTx) (err error) {
		n, err = t.execNow("record delivery", statements.RecordDelivery, sqlstore.RecordDeliveryArgs(provider, messageID, state, at)...)
		return err
	})
	return n > 0, err
}

// RenameSubjects renames the events whose subject starts with prefix, a
// batch of subjects per transaction.
func (s *Store) RenameSubjects(ctx context.Context, prefix string, rename func(string) string) (int64, error) {
	var total int64
	for {
		var n int64
		var found bool
		err := s.inTx(ctx, func(t *pgTx) error {
			n, found = 0, false
			var subjects []string
			err := t.roundTrip("rename subjects", `SELECT DISTINCT subject FROM events WHERE substr(subject, 1, $1) = $2 LIMIT $3`,
				[]any{len(prefix), prefix, s.batch}, func(br pgx.BatchResults) error {
					rows, err := br.Query()
					if err != nil {
						return err
					}
					subjects, err = pgx.CollectRows(rows, pgx.RowTo[string])
					return err
				})
			if err != nil {
				return err
			}
			found = len(subjects) > 0
			for _, old := range subjects {
				renamed := rename(old)
				if strings.HasPrefix(renamed, prefix) {
					return fmt.Errorf("postgres: rename subjects: the new name of a subject starts with %q too", prefix)
				}
				m, err := t.execNow("rename subjects", `UPDATE events SET subject = $1 WHERE subject = $2`, renamed, old)
				if err != nil {
					return err
				}
				n += m
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		if !found {
			return total, nil
		}
		total += n
		if s.onBatch != nil {
			s.onBatch("events", n)
		}
	}
}
