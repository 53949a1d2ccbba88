package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/sms/smpp"
)

// deliveryTimeout bounds the write of one delivery receipt.
const deliveryTimeout = 5 * time.Second

// deliveries writes what delivery receipts say on the challenges in the
// store (otp.Store.RecordDelivery), once serve has opened it: the
// providers start first, and a receipt that comes before is only counted.
// It is telemetry: verifyOtp never reads it.
type deliveries struct {
	store atomic.Pointer[otp.Store]
	log   *slog.Logger
}

// use makes receipts go to st from now on; nil stops them.
func (d *deliveries) use(st otp.Store) {
	if st == nil {
		d.store.Store(nil)
		return
	}
	d.store.Store(&st)
}

// record writes a receipt of provider's message id; ok false (a step, not
// an outcome) writes nothing.
func (d *deliveries) record(provider, messageID string, state otp.DeliveryState, ok bool) {
	st := d.store.Load()
	if !ok || st == nil || messageID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deliveryTimeout)
	defer cancel()
	found, err := (*st).RecordDelivery(ctx, provider, messageID, state, time.Now())
	switch {
	case err != nil:
		d.log.Warn("sms: delivery receipt not recorded", "provider", provider, "message_id", messageID, "state", string(state), "error", err)
	case !found:
		// A message of an older challenge, already purged, or one that
		// another deployment sent through the same account.
		d.log.Debug("sms: delivery receipt of no known challenge", "provider", provider, "message_id", messageID)
	}
}

// smppDelivery is the delivery state of an SMPP receipt; false for a step
// (ENROUTE, ACCEPTD) rather than an outcome.
func smppDelivery(s smpp.MessageState) (otp.DeliveryState, bool) {
	switch s {
	case smpp.StateDelivered:
		return otp.DeliveryDelivered, true
	case smpp.StateUndeliverable:
		return otp.DeliveryUndeliverable, true
	case smpp.StateExpired:
		return otp.DeliveryExpired, true
	case smpp.StateRejected, smpp.StateDeleted:
		return otp.DeliveryFailed, true
	case smpp.StateEnroute, smpp.StateAccepted:
		return "", false
	}
	return otp.DeliveryUnknown, true
}

// twilioDelivery is the delivery state of a Twilio MessageStatus; false for
// a step (queued, sending, sent, …) rather than an outcome.
func twilioDelivery(status string) (otp.DeliveryState, bool) {
	switch status {
	case "delivered", "read":
		return otp.DeliveryDelivered, true
	case "undelivered":
		return otp.DeliveryUndeliverable, true
	case "failed", "canceled":
		return otp.DeliveryFailed, true
	case "queued", "sending", "sent", "accepted", "scheduled":
		return "", false
	}
	return otp.DeliveryUnknown, true
}
