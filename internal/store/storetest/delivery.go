package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/otp"
)

// testDelivery: RecordSubmission names a challenge's message, and
// RecordDelivery finds it by the provider's id and keeps the first final
// state, whatever comes after it.
func testDelivery(t *testing.T, open Opener) {
	s := one(t, open)
	ctx := context.Background()
	insertLive(t, s, "ch-1")
	insertLive(t, s, "ch-2")
	insertLive(t, s, "ch-3")
	if d := lockChallenge(t, s, "ch-1").Delivery; d != (otp.Delivery{}) {
		t.Errorf("Delivery of a new challenge = %+v, want none", d)
	}
	record := func(provider, id string, state otp.DeliveryState, at time.Time) bool {
		t.Helper()
		found, err := s.RecordDelivery(ctx, provider, id, state, at)
		if err != nil {
			t.Fatalf("RecordDelivery(%s, %s, %s) error = %v", provider, id, state, err)
		}
		return found
	}
	check := func(id string, want otp.Delivery) {
		t.Helper()
		if diff := cmp.Diff(want, lockChallenge(t, s, id).Delivery); diff != "" {
			t.Errorf("Delivery of %s (-want +got):\n%s", id, diff)
		}
	}
	if record("smpp-1", "m-1", otp.DeliveryDelivered, t0) {
		t.Error("RecordDelivery of a message no challenge has found one")
	}

	inTx(t, s, func(tx otp.Tx) error {
		if err := tx.RecordSubmission("ch-1", otp.Submission{Provider: "smpp-1", MessageID: "m-1"}); err != nil {
			return err
		}
		if err := tx.RecordSubmission("ch-2", otp.Submission{Provider: "twilio", MessageID: "m-1"}); err != nil {
			return err
		}
		return tx.RecordSubmission("ch-3", otp.Submission{Provider: "http"})
	})
	sub1 := otp.Submission{Provider: "smpp-1", MessageID: "m-1"}
	check("ch-1", otp.Delivery{Submission: sub1, State: otp.DeliverySubmitted})
	check("ch-3", otp.Delivery{Submission: otp.Submission{Provider: "http"}, State: otp.DeliverySubmitted})
	if record("http", "", otp.DeliveryDelivered, t0) {
		t.Error("RecordDelivery without a message id found a challenge")
	}
	check("ch-3", otp.Delivery{Submission: otp.Submission{Provider: "http"}, State: otp.DeliverySubmitted})

	// Not final: a later receipt replaces it.
	if !record("smpp-1", "m-1", otp.DeliveryUnknown, t0) {
		t.Fatal("RecordDelivery did not find the submitted message")
	}
	check("ch-1", otp.Delivery{Submission: sub1, State: otp.DeliveryUnknown, At: t0})
	// The first final state stays: a repeat, or a later different receipt.
	if !record("smpp-1", "m-1", otp.DeliveryUndeliverable, t0.Add(time.Second)) {
		t.Fatal("RecordDelivery did not find the message")
	}
	for _, st := range []otp.DeliveryState{otp.DeliveryUndeliverable, otp.DeliveryDelivered, otp.DeliveryUnknown} {
		if !record("smpp-1", "m-1", st, t0.Add(time.Minute)) {
			t.Errorf("RecordDelivery(%s) after a final state did not find the message", st)
		}
	}
	check("ch-1", otp.Delivery{Submission: sub1, State: otp.DeliveryUndeliverable, At: t0.Add(time.Second)})
	// The same id at another provider is another message.
	check("ch-2", otp.Delivery{Submission: otp.Submission{Provider: "twilio", MessageID: "m-1"}, State: otp.DeliverySubmitted})

	// The challenge's own updates leave its delivery alone; a new SMS of it
	// starts over.
	ch := lockChallenge(t, s, "ch-1")
	ch.Attempts, ch.Delivery = 2, otp.Delivery{}
	inTx(t, s, func(tx otp.Tx) error { return tx.UpdateChallenge(ch) })
	check("ch-1", otp.Delivery{Submission: sub1, State: otp.DeliveryUndeliverable, At: t0.Add(time.Second)})
	inTx(t, s, func(tx otp.Tx) error {
		return tx.RecordSubmission("ch-1", otp.Submission{Provider: "twilio", MessageID: "SM2"})
	})
	check("ch-1", otp.Delivery{Submission: otp.Submission{Provider: "twilio", MessageID: "SM2"}, State: otp.DeliverySubmitted})
	if !record("twilio", "SM2", otp.DeliveryDelivered, t0) {
		t.Error("RecordDelivery did not find the new message")
	}
	check("ch-1", otp.Delivery{Submission: otp.Submission{Provider: "twilio", MessageID: "SM2"}, State: otp.DeliveryDelivered, At: t0})

	// SubmitChallenge is UpdateChallenge and RecordSubmission at once: a
	// new state and a new submission, the receipt's time cleared.
	ch = lockChallenge(t, s, "ch-1")
	ch.State, ch.Attempts, ch.SecretID, ch.CodeMAC, ch.ExpiresAt = otp.ChallengeSuperseded, 4, "k2", []byte{9, 9}, t0.Add(time.Hour)
	sub3 := otp.Submission{Provider: "smpp-2", MessageID: "m-3"}
	inTx(t, s, func(tx otp.Tx) error { return tx.SubmitChallenge(ch, sub3) })
	want := *ch
	want.Delivery = otp.Delivery{Submission: sub3, State: otp.DeliverySubmitted}
	if diff := cmp.Diff(&want, lockChallenge(t, s, "ch-1")); diff != "" {
		t.Errorf("after SubmitChallenge (-want +got):\n%s", diff)
	}
	if !record("smpp-2", "m-3", otp.DeliveryDelivered, t0) {
		t.Error("RecordDelivery did not find the message of SubmitChallenge")
	}
	if record("twilio", "SM2", otp.DeliveryFailed, t0) {
		t.Error("RecordDelivery found the message that SubmitChallenge replaced")
	}
}
