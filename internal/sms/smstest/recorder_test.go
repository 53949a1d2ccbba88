package smstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/sms"
)

func TestRecorder(t *testing.T) {
	ctx := context.Background()
	var r Recorder
	if r.Name() != "recorder" {
		t.Errorf("Name() = %q", r.Name())
	}
	if _, ok := r.Last(); ok {
		t.Error("Last() on an empty Recorder reported a message")
	}
	m1 := sms.Message{To: "+911", Text: "one"}
	m2 := sms.Message{To: "+912", Text: "two"}
	m3 := sms.Message{To: "+913", Text: "three"}

	if err := r.Send(ctx, m1); err != nil {
		t.Fatal(err)
	}
	errDown := errors.New("down")
	r.Fail(errDown)
	if err := r.Send(ctx, m2); !errors.Is(err, errDown) {
		t.Errorf("Send() after Fail = %v, want %v", err, errDown)
	}
	r.Fail(nil)
	if err := r.Send(ctx, m3); err != nil {
		t.Fatal(err)
	}

	if diff := cmp.Diff([]sms.Message{m1, m3}, r.Messages()); diff != "" {
		t.Errorf("Messages() (-want +got):\n%s", diff)
	}
	if last, ok := r.Last(); !ok || last != m3 {
		t.Errorf("Last() = %v, %v; want %v, true", last, ok, m3)
	}
	if r.Attempts() != 3 {
		t.Errorf("Attempts() = %d, want 3", r.Attempts())
	}

	// Messages returns a copy.
	r.Messages()[0].Text = "changed"
	if r.Messages()[0].Text != "one" {
		t.Error("Messages() shares its slice with the Recorder")
	}

	r.Reset()
	if len(r.Messages()) != 0 || r.Attempts() != 0 {
		t.Errorf("after Reset: %d messages, %d attempts", len(r.Messages()), r.Attempts())
	}
}

func TestRecorderCancelled(t *testing.T) {
	var r Recorder
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Send(ctx, sms.Message{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Send() = %v, want context.Canceled", err)
	}
	if len(r.Messages()) != 0 {
		t.Error("a cancelled Send was recorded")
	}
}

func TestRecorderHook(t *testing.T) {
	var r Recorder
	errHook := errors.New("hook")
	var seen []string
	r.SetHook(func(_ context.Context, m sms.Message) error {
		seen = append(seen, m.Text)
		_ = r.Attempts() // the hook may call back without deadlock
		if m.Text == "fail" {
			return errHook
		}
		return nil
	})
	ctx := context.Background()
	if err := r.Send(ctx, sms.Message{Text: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Send(ctx, sms.Message{Text: "fail"}); !errors.Is(err, errHook) {
		t.Errorf("Send() = %v, want the hook's error", err)
	}
	r.SetHook(nil)
	if err := r.Send(ctx, sms.Message{Text: "fail"}); err != nil {
		t.Errorf("Send() after SetHook(nil) = %v", err)
	}
	if diff := cmp.Diff([]string{"ok", "fail"}, seen); diff != "" {
		t.Errorf("hook saw (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]sms.Message{{Text: "ok"}, {Text: "fail"}}, r.Messages()); diff != "" {
		t.Errorf("Messages() (-want +got):\n%s", diff)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	var r Recorder
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if err := r.Send(context.Background(), sms.Message{Text: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
			_ = r.Messages()
			_, _ = r.Last()
		})
	}
	wg.Wait()
	if n := len(r.Messages()); n != 50 {
		t.Errorf("%d messages, want 50", n)
	}
}

func TestExtractCode(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		length int
		want   string
	}{
		{"default message", "AB12345678C\nYour verification code is 123456. Do not share it with anyone.", 6, "123456"},
		{"digits in the token ignored", "12345678901\nCode 654321", 6, "654321"},
		{"token of six digits ignored", "123456\nCode 654321", 6, "654321"},
		{"longer run skipped", "AB12345678C\nRef 12345678, code 654321", 6, "654321"},
		{"shorter run skipped", "AB12345678C\nStep 1 of 2: code 000042", 6, "000042"},
		{"first of two", "AB12345678C\n111111 or 222222", 6, "111111"},
		{"code on a later line", "AB12345678C\nHello\n\n987654", 6, "987654"},
		{"runs do not span lines", "AB12345678C\n123\n456", 6, ""},
		{"at the very start", "AB12345678C\n000000", 6, "000000"},
		{"other length", "AB12345678C\nCode 1234, ref 123456", 4, "1234"},
		{"no code", "AB12345678C\nHello", 6, ""},
		{"single line: no token line (India Cards)", "Code 123456", 6, "123456"},
		{"empty", "", 6, ""},
		{"zero length", "AB12345678C\nCode 123456", 0, ""},
		{"non-ASCII digits are not digits", "AB12345678C\nCode ١٢٣٤٥٦", 6, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExtractCode(tt.text, tt.length); got != tt.want {
				t.Errorf("ExtractCode(%q, %d) = %q, want %q", tt.text, tt.length, got, tt.want)
			}
		})
	}
}
