package postgres

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/sqlstore"
)

// SetBatch bounds the batches of Purge and RenameSubjects of s and reports
// each one to seen (tests only).
func SetBatch(s *Store, rows int, seen func(table string, rows int64)) {
	s.batch, s.onBatch = rows, seen
}

// OpenCounting is Open with every write to the server counted in sent. The
// client writes once per round trip (it sends a batch of messages, then
// waits for the answers), so sent counts round trips.
func OpenCounting(ctx context.Context, databaseURL string, opts Options, sent *atomic.Int64) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, sent: sent}, nil
	}
	return open(ctx, cfg, opts)
}

type countingConn struct {
	net.Conn
	sent *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.sent.Add(1)
	return c.Conn.Write(b)
}

// SyncCommit is the synchronous_commit that tx, a transaction of a Store, will
// commit with.
func SyncCommit(tx otp.Tx) (string, error) {
	var v string
	_, err := tx.(*sqlstore.Tx).Conn().(*pgTx).QueryRow("show", `SELECT current_setting('synchronous_commit')`, nil, &v)
	return v, err
}
