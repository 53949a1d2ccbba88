package otp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/sms"
)

// submitter is an SMS provider that gives each message it accepts an id.
type submitter struct{ id string }

func (s submitter) Name() string { return "smpp-1" }

func (s submitter) Send(ctx context.Context, m sms.Message) error {
	_, err := s.SendID(ctx, m)
	return err
}

func (s submitter) SendID(context.Context, sms.Message) (string, error) { return s.id, nil }

// down is an SMS provider that accepts nothing.
type down struct{}

func (down) Name() string                            { return "http-1" }
func (down) Send(context.Context, sms.Message) error { return errors.New("gateway down") }

// viaRouter is the deployment's Messenger, a router whose first provider is
// down, that also keeps the code for the test.
type viaRouter struct {
	codes *recorder
	sms.Messenger
}

func (v viaRouter) SendCode(ctx context.Context, m otp.CodeSMS) (otp.Submission, error) {
	v.codes.SendCode(ctx, m)
	return v.Messenger.SendCode(ctx, m)
}

func (h *harness) challenge(t *testing.T, id string) *otp.Challenge {
	t.Helper()
	var ch *otp.Challenge
	if err := h.store.Tx(context.Background(), func(tx otp.Tx) (err error) { ch, err = tx.LockChallenge(id); return err }); err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestDeliveryReceipts: the challenge of a sendOtp names the provider that
// accepted its SMS and the provider's id of it; a receipt that says the SMS
// never arrived is recorded, and changes nothing of what verifyOtp answers.
func TestDeliveryReceipts(t *testing.T) {
	ctx := context.Background()
	texts, err := sms.NewTemplateSet(sms.TemplateSetConfig{CodeLength: otp.DefaultPolicy().CodeLength,
		Templates: map[sms.Flow]sms.Template{sms.FlowLegacy: {Text: sms.DefaultTemplate}}})
	if err != nil {
		t.Fatal(err)
	}
	router, err := sms.NewRouter(sms.RouterConfig{Providers: []sms.Provider{{Sender: down{}}, {Sender: submitter{"0a1b2c"}}}})
	if err != nil {
		t.Fatal(err)
	}
	codes := &recorder{}
	h := newHarnessWith(t, func(c *otp.Config) {
		c.Messenger = viaRouter{codes, sms.Messenger{Templates: texts, Sender: router}}
	}, otp.Account{ID: "A1", Phone: phone1, Status: otp.StatusActive})

	out, err := h.svc.Send(ctx, legacySend("send-1", "send 1"))
	expect(t, "sendOtp", out, err, otp.SendSuccess)
	id := h.record(t, "", "sendOtp", "send-1").ChallengeID
	want := otp.Delivery{Submission: otp.Submission{Provider: "smpp-1", MessageID: "0a1b2c"}, State: otp.DeliverySubmitted}
	if got := h.challenge(t, id).Delivery; got != want {
		t.Fatalf("Delivery after the send = %+v, want %+v", got, want)
	}

	at := now.Add(time.Minute)
	if found, err := h.store.RecordDelivery(ctx, "smpp-1", "0a1b2c", otp.DeliveryUndeliverable, at); err != nil || !found {
		t.Fatalf("RecordDelivery = %v, %v; want the challenge found", found, err)
	}
	want.State, want.At = otp.DeliveryUndeliverable, at
	if got := h.challenge(t, id).Delivery; !got.At.Equal(want.At) || got.Submission != want.Submission || got.State != want.State {
		t.Fatalf("Delivery after the receipt = %+v, want %+v", got, want)
	}

	code := codes.codeFor(phone1)
	out, err = h.svc.Verify(ctx, legacyVerify("verify-1", "send-1", wrong(code)))
	expect(t, "verifyOtp of a wrong code", out, err, otp.VerifyNotMatched)
	out, err = h.svc.Verify(ctx, legacyVerify("verify-2", "send-1", code))
	expect(t, "verifyOtp of the code whose SMS was undeliverable", out, err, otp.VerifySuccess)
}
