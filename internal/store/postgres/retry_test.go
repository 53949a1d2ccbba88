package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/otpgate/otpgate/internal/otp"
)

// notSent is an error of pgconn's kind that says nothing reached the server.
type notSent struct{}

func (notSent) Error() string     { return "write failed before sending" }
func (notSent) SafeToRetry() bool { return true }

func pgErr(code string) error {
	return fmt.Errorf("postgres: insert request: %w", &pgconn.PgError{Code: code, Message: "m"})
}

func TestClassify(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name   string
		ctx    context.Context
		err    error
		want   retryClass
		commit retryClass // at COMMIT
	}{
		{"unique violation", nil, pgErr("23505"), conflict, conflict},
		{"serialization failure", nil, pgErr("40001"), conflict, conflict},
		{"deadlock", nil, pgErr("40P01"), conflict, conflict},
		{"backend terminated", nil, pgErr("57P01"), transient, final},
		{"server starting", nil, pgErr("57P03"), transient, final},
		{"connection failure", nil, pgErr("08006"), transient, final},
		{"too many connections", nil, pgErr("53300"), transient, final},
		{"foreign key", nil, pgErr("23503"), final, final},
		{"syntax", nil, pgErr("42601"), final, final},
		{"conflict, but the caller gave up", canceled, pgErr("40001"), final, final},
		{"canceled", nil, fmt.Errorf("x: %w", context.Canceled), final, final},
		{"deadline", nil, context.DeadlineExceeded, final, final},
		{"the domain's own", nil, otp.ErrInFlight, final, final},
		{"no rows", nil, pgx.ErrNoRows, final, final},
		{"nothing sent", nil, fmt.Errorf("begin: %w", notSent{}), transient, transient},
		// The connection broke while a statement was out: before COMMIT that
		// is a failed attempt; under COMMIT it may have committed.
		{"unexpected EOF", nil, fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), transient, final},
		{"reset", nil, &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, transient, final},
		{"closed", nil, net.ErrClosed, transient, final},
	} {
		ctx := c.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		if got := classify(ctx, c.err, nil); got != c.want {
			t.Errorf("%s: classify = %d, want %d", c.name, got, c.want)
		}
		if got := classifyCommit(ctx, c.err); got != c.commit {
			t.Errorf("%s: classifyCommit = %d, want %d", c.name, got, c.commit)
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempt := range 20 {
		for _, c := range []retryClass{conflict, transient} {
			d := backoff(attempt, c)
			if d <= 0 || d > time.Second {
				t.Errorf("backoff(%d, %d) = %v", attempt, c, d)
			}
		}
	}
	if d := backoff(0, conflict); d > 2*time.Millisecond {
		t.Errorf("the first retry of a conflict waits %v", d)
	}
}

func TestRetryIsBounded(t *testing.T) {
	s := &Store{maxRetries: 3}
	ctx := context.Background()
	for _, c := range []struct {
		name      string
		fails     int // attempts that fail before one succeeds
		class     retryClass
		wantCalls int
		wantErr   string
	}{
		{"conflict once", 1, conflict, 2, ""},
		{"always a conflict", 100, conflict, 4, "gave up after 4 attempts"},
		{"transient", 3, transient, 4, ""},
		{"final", 100, final, 1, "boom"},
	} {
		calls := 0
		err := s.retry(ctx, func() (retryClass, error) {
			calls++
			if calls <= c.fails {
				return c.class, errors.New("boom")
			}
			return final, nil
		})
		if calls != c.wantCalls || (err == nil) != (c.wantErr == "") || err != nil && !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: %d calls, %v; want %d calls, error %q", c.name, calls, err, c.wantCalls, c.wantErr)
		}
	}

	// A caller that gives up during a backoff is not kept waiting.
	ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	s.maxRetries = 1000
	start := time.Now()
	if err := s.retry(ctx, func() (retryClass, error) { return transient, errors.New("down") }); err == nil {
		t.Error("retry against a dead server succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("retry outlived its context by %v", d)
	}
}
