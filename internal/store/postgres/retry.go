package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// retryClass says whether a failed attempt may be run again, and how soon.
type retryClass int

const (
	// final: return the error.
	final retryClass = iota
	// conflict: another transaction got there first and has committed (or is
	// about to); running again at once sees its rows.
	conflict
	// transient: the connection or the server failed; running again a little
	// later, on another connection, may succeed.
	transient
)

// classify says what a failure of a statement, of BEGIN or of a ping means.
// conn, when known, is the connection it ran on. Nothing before COMMIT can
// have committed, so any failure of the database (rather than of the request
// or of fn's logic) may be retried.
func classify(ctx context.Context, err error, conn *pgx.Conn) retryClass {
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return final
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505", // unique_violation: a concurrent transaction inserted the same key and committed
			"40001", // serialization_failure
			"40P01": // deadlock_detected
			return conflict
		case "57P01", // admin_shutdown: the server is stopping, or our backend was terminated
			"57P02", // crash_shutdown
			"57P03", // cannot_connect_now: the server is starting or stopping
			"53300": // too_many_connections
			return transient
		}
		if strings.HasPrefix(pe.Code, "08") { // connection_exception
			return transient
		}
		return final
	}
	// No answer from the server: it could not be reached, or the connection
	// broke under the statement.
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case pgconn.SafeToRetry(err),
		conn != nil && conn.IsClosed(),
		errors.As(err, &ce),
		errors.As(err, &ne),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed):
		return transient
	}
	return final
}

// classifyCommit says what a failed COMMIT means. Only a failure known to
// have left nothing committed is retried: the server refused the commit with
// a conflict, or the COMMIT never left this process. Anything else (the
// connection broke while the COMMIT was under way) may have committed, and is
// final.
func classifyCommit(ctx context.Context, err error) retryClass {
	if ctx.Err() != nil {
		return final
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if c := classify(ctx, err, nil); c == conflict {
			return conflict
		}
		return final
	}
	if pgconn.SafeToRetry(err) {
		return transient
	}
	return final
}

// backoff is the pause before retry number attempt+1: short and jittered
// for conflicts, longer for failures of the server or the network.
func backoff(attempt int, c retryClass) time.Duration {
	base := 2 * time.Millisecond
	if c == transient {
		base = 25 * time.Millisecond
	}
	d := min(base<<min(attempt, 10), time.Second)
	return d/2 + rand.N(d/2+1)
}

// retry runs once until it succeeds, fails for good, or has been retried
// s.maxRetries times.
func (s *Store) retry(ctx context.Context, once func() (retryClass, error)) error {
	for attempt := 0; ; attempt++ {
		class, err := once()
		if err == nil || class == final {
			return err
		}
		if attempt >= s.maxRetries {
			if s.maxRetries > 0 {
				err = fmt.Errorf("postgres: gave up after %d attempts: %w", attempt+1, err)
			}
			return err
		}
		t := time.NewTimer(backoff(attempt, class))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// inTx runs fn in a READ COMMITTED transaction, again in a new one after a
// retryable failure.
func (s *Store) inTx(ctx context.Context, fn func(*pgTx) error) error {
	return s.retry(ctx, func() (retryClass, error) { return s.txOnce(ctx, fn) })
}

func (s *Store) txOnce(ctx context.Context, fn func(*pgTx) error) (retryClass, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		// No transaction exists yet: any failure that is not the caller's
		// (its context) or the configuration's is worth another try.
		return classify(ctx, err, nil), fmt.Errorf("postgres: begin: %w", err)
	}
	defer conn.Release()
	t := &pgTx{ctx: ctx, conn: conn}
	committing := false
	defer func() {
		if !committing {
			// Also on a panic in fn.
			t.rollback()
		}
	}()
	if err := fn(t); err != nil {
		// fn may have wrapped or replaced the store's error: what the store
		// saw decides.
		return t.retry, err
	}
	if t.retry != final {
		// fn went on after a failed statement; the transaction is aborted.
		return t.retry, t.retryErr
	}
	committing = true
	class, err := t.commit()
	if err != nil {
		t.rollback()
	}
	return class, err
}
