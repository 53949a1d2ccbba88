package sms

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
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

	if err := m.SendCode(ctx, testPhone, "123456", testToken); err != nil {
		t.Fatalf("SendCode() error = %v", err)
	}
	if err := m.Send(ctx, testPhone, FlowCard, Vars{Code: "654321", Amount: &Amount{728_000_000, "INR"}, Last4: "4321"}); err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	// The otp engine as it stands passes no amount: a card template that
	// names one refuses, and nothing is sent.
	if err := m.SendCode(ctx, testPhone, "111111", ""); err == nil {
		t.Error("SendCode() of a card message without its amount succeeded")
	}
	want := []Message{
		{To: testPhone, Flow: FlowLegacy, Text: testToken + "\n123456 is your XYZ Bank verification code. Do not share it.",
			DLT: &DLT{EntityID: xyzEntityID, TemplateID: xyzLegacyTID, Header: xyzHeader}},
		{To: testPhone, Flow: FlowCard, Text: "654321 is your OTP for txn of INR 728.00 on card ending 4321. Do not share it. -XYZ Bank",
			DLT: &DLT{EntityID: xyzEntityID, TemplateID: xyzCardTID, Header: xyzHeader}},
	}
	if diff := cmp.Diff(want, rec.msgs); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

// TestMessengerSendCodeAsCodeMessenger: with one plain template, Messenger
// sends what CodeMessenger sent, for both flows of the engine as it stands.
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
	for _, token := range []string{testToken, ""} {
		if err := (CodeMessenger{Composer: composer, Sender: old}).SendCode(context.Background(), testPhone, "000042", token); err != nil {
			t.Fatal(err)
		}
		if err := (Messenger{Templates: set, Sender: now}).SendCode(context.Background(), testPhone, "000042", token); err != nil {
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
	err = Messenger{Templates: set, Sender: rec}.Send(context.Background(), testPhone, FlowCard,
		Vars{Code: "123456", Amount: &Amount{10_000_000, "USD"}, Last4: "4321"})
	if err == nil || errors.Is(err, ErrTooLong) || len(rec.msgs) != 0 {
		t.Errorf("Send() of a USD amount with an INR text = %v, sent %d; want an error and nothing sent", err, len(rec.msgs))
	}
}
