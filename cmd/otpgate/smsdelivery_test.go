package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/sms/smpp"
	"github.com/otpgate/otpgate/internal/store/sqlite"
)

func TestDeliveryStates(t *testing.T) {
	for s, want := range map[smpp.MessageState]otp.DeliveryState{
		smpp.StateDelivered: otp.DeliveryDelivered, smpp.StateUndeliverable: otp.DeliveryUndeliverable,
		smpp.StateExpired: otp.DeliveryExpired, smpp.StateRejected: otp.DeliveryFailed, smpp.StateDeleted: otp.DeliveryFailed,
		smpp.StateUnknown: otp.DeliveryUnknown, smpp.StateUnknownValue: otp.DeliveryUnknown,
		smpp.StateEnroute: "", smpp.StateAccepted: "",
	} {
		if got, ok := smppDelivery(s); got != want || ok != (want != "") {
			t.Errorf("smppDelivery(%s) = %q, %v; want %q", s, got, ok, want)
		}
	}
	for s, want := range map[string]otp.DeliveryState{
		"delivered": otp.DeliveryDelivered, "read": otp.DeliveryDelivered, "undelivered": otp.DeliveryUndeliverable,
		"failed": otp.DeliveryFailed, "canceled": otp.DeliveryFailed, "whatever": otp.DeliveryUnknown,
		"queued": "", "sending": "", "sent": "", "accepted": "", "scheduled": "",
	} {
		if got, ok := twilioDelivery(s); got != want || ok != (want != "") {
			t.Errorf("twilioDelivery(%s) = %q, %v; want %q", s, got, ok, want)
		}
	}
}

// TestDeliveriesRecord: a receipt goes on its challenge only while serve
// has the store open, and a step (sent) writes nothing.
func TestDeliveriesRecord(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "otpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Now()
	err = st.Tx(ctx, func(tx otp.Tx) error {
		ch := &otp.Challenge{ID: "ch-1", AccountID: "A1", SecretID: "k1", CodeMAC: []byte{1}, State: otp.ChallengeLive, CreatedAt: at, ExpiresAt: at.Add(time.Minute)}
		if err := tx.InsertChallenge(ch); err != nil {
			return err
		}
		return tx.RecordSubmission(ch.ID, otp.Submission{Provider: "twilio", MessageID: "SM1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	state := func() otp.DeliveryState {
		t.Helper()
		var ch *otp.Challenge
		if err := st.Tx(ctx, func(tx otp.Tx) (err error) { ch, err = tx.LockChallenge("ch-1"); return err }); err != nil {
			t.Fatal(err)
		}
		return ch.Delivery.State
	}
	d := &deliveries{log: slog.New(slog.DiscardHandler)}
	d.record("twilio", "SM1", otp.DeliveryFailed, true) // before serve opened the store
	d.use(st)
	s, ok := twilioDelivery("sent")
	d.record("twilio", "SM1", s, ok)
	if got := state(); got != otp.DeliverySubmitted {
		t.Fatalf("state after a receipt before the store and a step = %s, want submitted", got)
	}
	s, ok = twilioDelivery("undelivered")
	d.record("twilio", "SM1", s, ok)
	if got := state(); got != otp.DeliveryUndeliverable {
		t.Fatalf("state after undelivered = %s", got)
	}
	d.use(nil)
	d.record("twilio", "SM1", otp.DeliveryDelivered, true)
	if got := state(); got != otp.DeliveryUndeliverable {
		t.Fatalf("state after the store closed = %s", got)
	}
}
