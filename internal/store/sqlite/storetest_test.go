package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/sqlite"
	"github.com/otpgate/otpgate/internal/store/storetest"
)

// TestStoreSuite runs the store behaviour suite with n Stores on one database
// file, as n otpgate processes sharing a data directory would.
func TestStoreSuite(t *testing.T) {
	storetest.RunInstances(t, func(t *testing.T, n int) []otp.Store {
		path := filepath.Join(t.TempDir(), "otpgate.db")
		stores := make([]otp.Store, n)
		for i := range stores {
			s, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			stores[i] = s
		}
		return stores
	})
}
