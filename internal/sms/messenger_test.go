package sms

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/otp"
)

// recording is a Sender that keeps what it is given.
type recording struct{ msgs []Message }

func (r *recording) Name() string { return "recording" }
func (r *recording) Send(_ context.Context, m Message) error {
	r.msgs = append(r.msgs, m)
	return nil
}

func TestMessenger(t *testing.T) {
	set, err := NewTemplateSet(TemplateSetConfig{CodeLength: 6, Templates: xyzTemplates()})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recording{}
	m := Messenger{Templates: set, Sender: rec}
	ctx := context.Background()

	// sendOtp: no card, the legacy flow with its token line.
	if _, err := m.SendCode(ctx, otp.CodeSMS{Phone: testPhone, Code: "123456", SMSMatchingToken: testToken}); err != nil {
		t.Fatalf("SendCode() of sendOtp error = %v", err)
	}
	// authenticate and resendOtp: the card flow, stating what the engine passes.
	card := &otp.CardSMS{AmountMicros: 728_000_000, CurrencyCode: "INR", Last4: "4321"}
	if _, err := m.SendCode(ctx, otp.CodeSMS{Phone: testPhone, Code: "654321", Card: card}); err != nil {
		t.Fatalf("SendCode() of authenticate error = %v", err)
	}
	if _, err := m.Send(ctx, testPhone, FlowCard, Vars{Code: "654321", Amount: &Amount{728_000_000, "INR"}, Last4: "4321"}); err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	want := []Message{
		{To: testPhone, Flow: FlowLegacy, Text: testToken + "\n123456 is your XYZ Bank verification code. Do not share it.",
			DLT: &DLT{EntityID: xyzEntityID, TemplateID: xyzLegacyTID, Header: xyzHeader}},
		{To: testPhone, Flow: FlowCard, Text: "654321 is your OTP for txn of INR 728.00 on card ending 4321. Do not share it. -XYZ Bank",
			DLT: &DLT{EntityID: xyzEntityID, TemplateID: xyzCardTID, Header: xyzHeader}},
	}
	want = append(want, want[1])
	if diff := cmp.Diff(want, rec.msgs); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}

	// What the card template names and the engine does not know is refused,
	// and nothing is sent: no currency (no amount), no last four digits, or
	// an India Cards message without its card.
	rec.msgs = nil
	for name, c := range map[string]otp.CodeSMS{
		"no currency": {Phone: testPhone, Code: "111111", Card: &otp.CardSMS{AmountMicros: 1_000_000, Last4: "4321"}},
		"no last4":    {Phone: testPhone, Code: "111111", Card: &otp.CardSMS{AmountMicros: 1_000_000, CurrencyCode: "INR"}},
		"no card":     {Phone: testPhone, Code: "111111"},
	} {
		if _, err := m.SendCode(ctx, c); err == nil {
			t.Errorf("SendCode() with %s succeeded", name)
		}
	}
	if len(rec.msgs) != 0 {
		t.Errorf("%d messages sent that could not be rendered", len(rec.msgs))
	}
}

// TestMessengerSendCodeAsCodeMessenger: with one plain template, Messenger
// sends what CodeMessenger sent, for both flows of the engine.
func TestMessengerSendCodeAsCodeMessenger(t *testing.T) {
	composer, err := NewComposer(DefaultTemplate, 6)
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewTemplateSet(TemplateSetConfig{CodeLength: 6, Templates: map[Flow]Template{FlowLegacy: {Text: DefaultTemplate}}})
	if err != nil {
		t.Fatal(err)
	}
	old, now := &recording{}, &recording{}
	for _, c := range []otp.CodeSMS{
		{Phone: testPhone, Code: "000042", SMSMatchingToken: testToken},
		{Phone: testPhone, Code: "000042", Card: &otp.CardSMS{AmountMicros: 728_000_000, CurrencyCode: "INR", Last4: "4321"}},
	} {
		if _, err := (CodeMessenger{Composer: composer, Sender: old}).SendCode(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		if _, err := (Messenger{Templates: set, Sender: now}).SendCode(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	for i := range old.msgs {
		if old.msgs[i].To != now.msgs[i].To || old.msgs[i].Text != now.msgs[i].Text {
			t.Errorf("message %d: Messenger sent %+v, CodeMessenger %+v", i, now.msgs[i], old.msgs[i])
		}
	}
	if now.msgs[0].Flow != FlowLegacy || now.msgs[1].Flow != FlowCard {
		t.Errorf("flows %q and %q, want legacy and card", now.msgs[0].Flow, now.msgs[1].Flow)
	}
}

func TestMessengerSendsNothingItCannotRender(t *testing.T) {
	set, err := NewTemplateSet(TemplateSetConfig{CodeLength: 6, Templates: xyzTemplates()})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recording{}
	_, err = Messenger{Templates: set, Sender: rec}.Send(context.Background(), testPhone, FlowCard,
		Vars{Code: "123456", Amount: &Amount{10_000_000, "USD"}, Last4: "4321"})
	if err == nil || errors.Is(err, ErrTooLong) || len(rec.msgs) != 0 {
		t.Errorf("Send() of a USD amount with an INR text = %v, sent %d; want an error and nothing sent", err, len(rec.msgs))
	}
}
