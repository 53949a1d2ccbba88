package sms_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/sms/smstest"
)

// named gives a Recorder another name, to tell senders apart.
type named struct {
	*smstest.Recorder
	name string
}

func (n named) Name() string { return n.name }

func TestFailover(t *testing.T) {
	errA := errors.New("gateway a down")
	errB := errors.New("gateway b down")
	msg := sms.Message{To: "+919876543210", Text: "AB12345678C\ncode 123456"}
	tests := []struct {
		name         string
		fail         []error // one per sender; nil accepts
		cancelled    bool
		wantErrs     []error // each must be in the returned error; nil means success
		wantAttempts []int
		wantSent     []int // messages recorded per sender
	}{
		{name: "first accepts", fail: []error{nil, nil}, wantAttempts: []int{1, 0}, wantSent: []int{1, 0}},
		{name: "first fails, second accepts", fail: []error{errA, nil}, wantAttempts: []int{1, 1}, wantSent: []int{0, 1}},
		{name: "first two fail, third accepts", fail: []error{errA, errB, nil}, wantAttempts: []int{1, 1, 1}, wantSent: []int{0, 0, 1}},
		{name: "all fail", fail: []error{errA, errB}, wantErrs: []error{errA, errB}, wantAttempts: []int{1, 1}, wantSent: []int{0, 0}},
		{name: "single sender fails", fail: []error{errA}, wantErrs: []error{errA}, wantAttempts: []int{1}, wantSent: []int{0}},
		{name: "cancelled", fail: []error{nil, nil}, cancelled: true, wantErrs: []error{context.Canceled}, wantAttempts: []int{0, 0}, wantSent: []int{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := make([]*smstest.Recorder, len(tt.fail))
			senders := make([]sms.Sender, len(tt.fail))
			for i, err := range tt.fail {
				recs[i] = &smstest.Recorder{}
				recs[i].Fail(err)
				senders[i] = named{recs[i], string(rune('a' + i))}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelled {
				cancel()
			}

			err := sms.NewFailover(senders...).Send(ctx, msg)

			if tt.wantErrs == nil && err != nil {
				t.Errorf("Send() error = %v, want nil", err)
			}
			if tt.wantErrs != nil && err == nil {
				t.Error("Send() succeeded, want an error")
			}
			for _, want := range tt.wantErrs {
				if !errors.Is(err, want) {
					t.Errorf("Send() error = %v, want it to wrap %v", err, want)
				}
			}
			var attempts, sent []int
			for _, r := range recs {
				attempts = append(attempts, r.Attempts())
				sent = append(sent, len(r.Messages()))
			}
			if diff := cmp.Diff(tt.wantAttempts, attempts); diff != "" {
				t.Errorf("attempts per sender (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSent, sent); diff != "" {
				t.Errorf("messages per sender (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailoverStopsWhenCancelled(t *testing.T) {
	// The first sender is still running when the caller gives up: the
	// second must not be tried.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, second := &smstest.Recorder{}, &smstest.Recorder{}
	errTimeout := errors.New("gateway timeout")
	first.SetHook(func(context.Context, sms.Message) error {
		cancel()
		return errTimeout
	})
	err := sms.NewFailover(named{first, "a"}, named{second, "b"}).Send(ctx, sms.Message{})
	if !errors.Is(err, errTimeout) || !errors.Is(err, context.Canceled) {
		t.Errorf("Send() error = %v, want both the sender's error and context.Canceled", err)
	}
	if n := second.Attempts(); n != 0 {
		t.Errorf("second sender tried %d times after cancellation, want 0", n)
	}
}

func TestFailoverErrorNamesSenders(t *testing.T) {
	a, b := &smstest.Recorder{}, &smstest.Recorder{}
	a.Fail(errors.New("status 500"))
	b.Fail(errors.New("timeout"))
	err := sms.NewFailover(named{a, "http"}, named{b, "file"}).Send(context.Background(), sms.Message{})
	if err == nil {
		t.Fatal("Send() succeeded")
	}
	for _, want := range []string{"http: status 500", "file: timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestFailoverName(t *testing.T) {
	r := &smstest.Recorder{}
	tests := []struct {
		senders []sms.Sender
		want    string
	}{
		{nil, ""},
		{[]sms.Sender{r}, "recorder"},
		{[]sms.Sender{named{r, "http"}, named{r, "file"}}, "http+file"},
	}
	for _, tt := range tests {
		if got := sms.NewFailover(tt.senders...).Name(); got != tt.want {
			t.Errorf("Name() = %q, want %q", got, tt.want)
		}
	}
}

func TestFailoverNoSenders(t *testing.T) {
	if err := sms.NewFailover().Send(context.Background(), sms.Message{}); err == nil {
		t.Error("Send() with no senders succeeded")
	}
}

func TestFailoverNilSenderPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewFailover(nil) did not panic")
		}
	}()
	sms.NewFailover(&smstest.Recorder{}, nil)
}
