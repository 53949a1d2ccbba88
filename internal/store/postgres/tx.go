package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otpgate/otpgate/internal/store/sqlstore"
)

// statements are the transactions' statements in PostgreSQL's dialect.
var statements = sqlstore.PostgreSQL.Statements()

// beginSQL starts every transaction: READ COMMITTED whatever the server's
// default, as the row locks assume.
const beginSQL = `BEGIN ISOLATION LEVEL READ COMMITTED`

// beginWhat names BEGIN among the statements of a round trip.
const beginWhat = "begin"

// pgTx is one attempt at a transaction, on a connection of the pool.
//
// It saves round trips by pipelining: BEGIN and every statement whose answer
// is not needed at once (writes, lock rows) wait in a batch, which goes to
// the server with the next statement whose answer is needed, or with the
// COMMIT. A flow's transactions then cost one round trip per read, plus one
// for the writes and the COMMIT together. A write that fails is reported by
// the read or the COMMIT it travelled with; the server runs nothing after a
// failed statement of a batch, so the transaction never commits past it.
type pgTx struct {
	ctx  context.Context
	conn *pgxpool.Conn
	// queued waits for the next round trip; whats names each statement of
	// it for errors.
	queued *pgx.Batch
	whats  []string
	// begun: BEGIN has been queued (and maybe sent); sent: a batch went to
	// the server, so the transaction must be ended there.
	begun, sent bool
	// answered: a round trip of this attempt came back, so the connection
	// was alive within it.
	answered bool
	// retry is set by the first failed statement that makes the attempt worth
	// running again; retryErr is that failure.
	retry    retryClass
	retryErr error
}

var _ sqlstore.Conn = (*pgTx)(nil)

// fail wraps the error of a statement and notes whether it makes the attempt
// retryable. Once a statement has failed, PostgreSQL aborts the transaction,
// so only the first failure counts.
func (t *pgTx) fail(what string, err error) error {
	if t.retry == final {
		if c := classify(t.ctx, err, t.conn.Conn()); c != final {
			t.retry, t.retryErr = c, sqlstore.Wrap("postgres", what, err)
		}
	}
	return sqlstore.Wrap("postgres", what, err)
}

// queue adds a statement to the next round trip, after BEGIN.
func (t *pgTx) queue(what, query string, args ...any) {
	if t.queued == nil {
		t.queued = &pgx.Batch{}
	}
	if !t.begun {
		t.begun = true
		t.queued.Queue(beginSQL)
		t.whats = append(t.whats, beginWhat)
	}
	t.queued.Queue(query, args...)
	t.whats = append(t.whats, what)
}

// lazyCommit makes the transaction's COMMIT return without waiting for the
// disk (otp.NonDurable): the claim of a sendOtp, which a retry repairs.
func (t *pgTx) lazyCommit() {
	t.queue("commit lazily", `SET LOCAL synchronous_commit TO OFF`)
}

// durableCommit gives the COMMIT back the server's setting (DEFAULT: the
// configuration's, the database's or the role's, so that a synchronous
// standby is waited for as configured): the transaction stores an answer,
// which must be durable before it leaves.
func (t *pgTx) durableCommit() {
	t.queue("commit durably", `SET LOCAL synchronous_commit TO DEFAULT`)
}

// Exec queues a statement for the next round trip.
func (t *pgTx) Exec(what, query string, args ...any) error {
	t.queue(what, query, args...)
	return nil
}

// QueryRow sends what is queued and the query in one round trip, and scans
// the query's row.
func (t *pgTx) QueryRow(what, query string, args []any, dest ...any) (bool, error) {
	found := true
	err := t.roundTrip(what, query, args, func(br pgx.BatchResults) error {
		err := br.QueryRow().Scan(dest...)
		if errors.Is(err, pgx.ErrNoRows) {
			found = false
			return nil
		}
		return err
	})
	return found && err == nil, err
}

// execNow sends what is queued and the statement in one round trip, and
// reports the rows the statement changed.
func (t *pgTx) execNow(what, query string, args ...any) (int64, error) {
	var n int64
	err := t.roundTrip(what, query, args, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// roundTrip sends the queued statements and query (whose answer last reads),
// and reports the first failure.
func (t *pgTx) roundTrip(what, query string, args []any, last func(pgx.BatchResults) error) error {
	t.queue(what, query, args...)
	b, whats := t.queued, t.whats
	t.queued, t.whats = nil, nil
	t.sent = true
	br := t.conn.SendBatch(t.ctx, b)
	for i := range len(whats) - 1 {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return t.fail(whats[i], err)
		}
	}
	if err := last(br); err != nil {
		br.Close()
		return t.fail(what, err)
	}
	if err := br.Close(); err != nil {
		return t.fail(what, err)
	}
	t.answered = true
	return nil
}

// commit sends what is queued and COMMIT. With the writes in the same round
// trip, a failure of theirs is known to have left nothing committed (the
// server skips the rest of a batch after a failed statement); a failure of
// COMMIT, or of the connection under it, may not have, and is final.
func (t *pgTx) commit() (retryClass, error) {
	if !t.begun {
		return final, nil // nothing was asked of the database
	}
	if !t.answered && t.queued != nil {
		// Nothing has shown yet that this connection is alive (a
		// transaction of writes only): send them first, so that a dead
		// connection fails a round trip that cannot commit, and is retried.
		if err := t.roundTrip("commit", "SELECT 1", nil, func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return err
		}); err != nil {
			return t.retry, err
		}
	}
	b, whats := t.queued, t.whats
	if b == nil {
		b = &pgx.Batch{}
	}
	t.queued, t.whats = nil, nil
	b.Queue("COMMIT")
	t.sent = true
	br := t.conn.SendBatch(t.ctx, b)
	defer br.Close()
	for i := range whats {
		if _, err := br.Exec(); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				// The server refused a statement before COMMIT.
				err = t.fail(whats[i], err)
				return t.retry, err
			}
			return classifyCommit(t.ctx, err), fmt.Errorf("postgres: commit: %w", err)
		}
	}
	if _, err := br.Exec(); err != nil {
		return classifyCommit(t.ctx, err), fmt.Errorf("postgres: commit: %w", err)
	}
	if err := br.Close(); err != nil {
		return classifyCommit(t.ctx, err), fmt.Errorf("postgres: commit: %w", err)
	}
	return final, nil
}

// rollback ends a transaction that will not commit. A failed rollback
// leaves the connection in a transaction, and the pool then closes it,
// which rolls back on the server's side.
func (t *pgTx) rollback() {
	if t.sent {
		_, _ = t.conn.Exec(context.WithoutCancel(t.ctx), "ROLLBACK")
	}
}

// sendQueued sends what is queued and reports the rows each statement
// changed, BEGIN left out.
func (t *pgTx) sendQueued() ([]int64, error) {
	if t.queued == nil {
		return nil, nil
	}
	b, whats := t.queued, t.whats
	t.queued, t.whats = nil, nil
	t.sent = true
	br := t.conn.SendBatch(t.ctx, b)
	affected := make([]int64, 0, len(whats))
	for i, what := range whats {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return nil, t.fail(what, err)
		}
		if i == 0 && what == beginWhat {
			continue
		}
		affected = append(affected, tag.RowsAffected())
	}
	if err := br.Close(); err != nil {
		return nil, t.fail("batch", err)
	}
	t.answered = true
	return affected, nil
}

// poolReader runs the directory lookups of Store.Read as plain queries of
// the pool, outside any transaction: each sees what was committed when it
// ran, and holds no lock.
type poolReader struct {
	s   *Store
	ctx context.Context
}

var _ sqlstore.Conn = poolReader{}

// Exec refuses: the lookups of a Reader write nothing.
func (r poolReader) Exec(what, _ string, _ ...any) error {
	return fmt.Errorf("postgres: %s: a read writes nothing", what)
}

// QueryRow runs the query on a connection of the pool, again after a
// failure that a read can safely retry (a lost connection, a server that
// restarted).
func (r poolReader) QueryRow(what, query string, args []any, dest ...any) (found bool, err error) {
	err = r.s.retry(r.ctx, func() (retryClass, error) {
		found = true
		err := r.s.pool.QueryRow(r.ctx, query, args...).Scan(dest...)
		if errors.Is(err, pgx.ErrNoRows) {
			found = false
			return final, nil
		}
		if err != nil {
			return classify(r.ctx, err, nil), sqlstore.Wrap("postgres", what, err)
		}
		return final, nil
	})
	return found && err == nil, err
}
