package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// A store closed cleanly leaves only its database file: the last close
// checkpoints the write-ahead log into it and removes the log, as SQLite
// does when nothing of the store is left open.
func TestCloseRemovesLog(t *testing.T) {
	for _, sync := range []string{"full", "normal"} {
		t.Run(sync, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "otpgate.db")
			s, err := OpenWith(context.Background(), path, Options{Synchronous: sync})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Tx(context.Background(), func(tx otp.Tx) error {
				return tx.AddEvent(otp.EventSend, "subject", time.Now())
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path + "-wal"); !os.IsNotExist(err) {
				t.Errorf("the log %s-wal is still there after Close (stat: %v)", path, err)
			}
		})
	}
}
