package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/pgtest"
	"github.com/otpgate/otpgate/internal/store/postgres"
)

// TestNonDurableClaims: a transaction under otp.NonDurable commits without
// waiting for the disk, until it writes an answer (a done record); any other
// commits as the server is configured.
func TestNonDurableClaims(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.NewDatabase(t), postgres.Options{})
	record := func(id string, state otp.RequestState) *otp.Request {
		return &otp.Request{Scope: "piaid", ID: id, Method: "sendOtp", Fingerprint: []byte{1}, SecretID: "k1", State: state,
			ClaimedAt: time.Now(), CreatedAt: time.Now()}
	}
	var configured string
	if err := s.Tx(ctx, func(tx otp.Tx) (err error) { configured, err = postgres.SyncCommit(tx); return err }); err != nil {
		t.Fatal(err)
	}
	if configured == "off" {
		t.Fatalf("the test server commits with synchronous_commit off: the test would prove nothing")
	}
	for _, c := range []struct {
		name    string
		ctx     context.Context
		writes  []*otp.Request
		setting string
	}{
		{"durable", ctx, []*otp.Request{record("r1", otp.RequestPending)}, configured},
		{"a claim", otp.NonDurable(ctx), []*otp.Request{record("r2", otp.RequestPending)}, "off"},
		{"a claim that answers", otp.NonDurable(ctx), []*otp.Request{record("r3", otp.RequestPending), record("r4", otp.RequestDone)}, configured},
	} {
		err := s.Tx(c.ctx, func(tx otp.Tx) error {
			for _, r := range c.writes {
				if err := tx.InsertRequest(r); err != nil {
					return err
				}
			}
			got, err := postgres.SyncCommit(tx)
			if err == nil && got != c.setting {
				t.Errorf("%s commits with synchronous_commit %s, want %s", c.name, got, c.setting)
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
}
