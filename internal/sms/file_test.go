package sms

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestFileSenderLineFormat(t *testing.T) {
	var buf strings.Builder
	s := NewWriterSender(&buf)
	s.now = fixedClock(time.Date(2026, 1, 2, 8, 34, 5, 123456789, time.FixedZone("IST", 5*3600+1800)))

	m := Message{To: "+919876543210", Text: "AB12345678C\nYour code is 123456. <b> & \"quoted\" €"}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	// HTML characters unescaped, the newline escaped so that the line stays
	// one line, the time in UTC.
	want := `{"to":"+919876543210","text":"AB12345678C\nYour code is 123456. <b> & \"quoted\" €","at":"2026-01-02T03:04:05.123456789Z"}` + "\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("line mismatch (-want +got):\n%s", diff)
	}
	if s.Name() != "file" {
		t.Errorf("Name() = %q, want \"file\"", s.Name())
	}
}

// TestFileSenderLineFormatDLT: the flow and DLT ids, when a message has
// them, so that a test of the real binary can check them.
func TestFileSenderLineFormatDLT(t *testing.T) {
	var buf strings.Builder
	s := NewWriterSender(&buf)
	s.now = fixedClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	m := Message{To: "+919876543210", Text: "123456", Flow: FlowCard, DLT: &DLT{EntityID: "1101", TemplateID: "1107", Header: "XYZBNK"}}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	want := `{"to":"+919876543210","text":"123456","at":"2026-01-02T03:04:05Z","flow":"card","dlt":{"entityId":"1101","templateId":"1107","header":"XYZBNK"}}` + "\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("line mismatch (-want +got):\n%s", diff)
	}
}

func TestFileSenderRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sms.jsonl")
	msgs := []Message{
		{To: "+919876543210", Text: "AB12345678C\nYour code is 123456."},
		{To: "+33612345678", Text: "0123456789A\nVotre code : 000001 — ne le partagez pas"},
		{To: "+15551234567", Text: ""},
		{To: "+919876543210", Text: "123456 is your OTP. -XYZ Bank", Flow: FlowCard, DLT: &DLT{EntityID: "1101234567890123456", TemplateID: "1107161234567890123", Header: "XYZBNK"}},
		{To: "+919876543210", Text: "AB12345678C\n123456", Flow: FlowLegacy, DLT: &DLT{EntityID: "1", TemplateID: "2"}},
	}

	// Two senders one after the other: the second appends, never truncates.
	for _, part := range [][]Message{msgs[:2], msgs[2:]} {
		s, err := NewFileSender(path)
		if err != nil {
			t.Fatalf("NewFileSender() error = %v", err)
		}
		for _, m := range part {
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatalf("Send() error = %v", err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close() error = %v", err)
		}
	}

	got, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile() error = %v", err)
	}
	if diff := cmp.Diff(msgs, got); diff != "" {
		t.Errorf("ReadFile() mismatch (-want +got):\n%s", diff)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode = %v, want 0600: the file holds codes", perm)
	}
}

func TestFileSenderConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sms.jsonl")
	// Two senders on one path stand for two processes sharing the file.
	var senders [2]*FileSender
	for i := range senders {
		s, err := NewFileSender(path)
		if err != nil {
			t.Fatalf("NewFileSender() error = %v", err)
		}
		defer s.Close()
		senders[i] = s
	}

	const goroutines, perGoroutine = 20, 50
	// A long text makes a torn or interleaved line likely if writes were split.
	padding := strings.Repeat("x", 2000)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			s := senders[g%len(senders)]
			for i := range perGoroutine {
				m := Message{To: fmt.Sprintf("+91%010d", g), Text: fmt.Sprintf("%d-%d %s", g, i, padding)}
				if err := s.Send(context.Background(), m); err != nil {
					t.Errorf("Send() error = %v", err)
					return
				}
			}
		})
	}
	wg.Wait()

	got, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile() error = %v", err)
	}
	if len(got) != goroutines*perGoroutine {
		t.Fatalf("ReadFile() returned %d messages, want %d", len(got), goroutines*perGoroutine)
	}
	seen := map[string]bool{}
	for _, m := range got {
		seen[m.Text] = true
	}
	for g := range goroutines {
		for i := range perGoroutine {
			if text := fmt.Sprintf("%d-%d %s", g, i, padding); !seen[text] {
				t.Errorf("message %d-%d missing", g, i)
			}
		}
	}
}

// countingWriter counts Write calls, to check that a line is one write.
type countingWriter struct {
	mu     sync.Mutex
	writes []string
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func TestFileSenderOneWritePerMessage(t *testing.T) {
	var w countingWriter
	s := NewWriterSender(&w)
	for i := range 3 {
		if err := s.Send(context.Background(), Message{To: "+1", Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.writes) != 3 {
		t.Fatalf("%d writes for 3 messages, want 3", len(w.writes))
	}
	for _, line := range w.writes {
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Errorf("write %q is not exactly one line", line)
		}
	}
}

func TestFileSenderRefuses(t *testing.T) {
	t.Run("cancelled context", func(t *testing.T) {
		var w countingWriter
		s := NewWriterSender(&w)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Send(ctx, Message{To: "+1", Text: "x"}); err == nil {
			t.Error("Send() with a cancelled context succeeded")
		}
		if len(w.writes) != 0 {
			t.Errorf("%d writes after a cancelled Send, want 0", len(w.writes))
		}
	})
	t.Run("after Close", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sms.jsonl")
		s, err := NewFileSender(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close() error = %v, want nil", err)
		}
		if err := s.Send(context.Background(), Message{To: "+1", Text: "x"}); err == nil {
			t.Error("Send() after Close succeeded")
		}
	})
	t.Run("empty path", func(t *testing.T) {
		if _, err := NewFileSender(""); err == nil {
			t.Error("NewFileSender(\"\") succeeded")
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		_, err := NewFileSender(filepath.Join(t.TempDir(), "no", "such", "dir", "sms.jsonl"))
		if err == nil || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("NewFileSender() error = %v, want a no-such-file error", err)
		}
	})
}

// TestFileSenderStdout swaps os.Stdout, so it must not run in parallel.
func TestFileSenderStdout(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stdout
	os.Stdout = f
	defer func() { os.Stdout = saved }()

	s, err := NewFileSender(Stdout)
	os.Stdout = saved
	if err != nil {
		t.Fatalf("NewFileSender(%q) error = %v", Stdout, err)
	}
	m := Message{To: "+919876543210", Text: "AB12345678C\ncode 123456"}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	// Close must leave standard output open.
	if _, err := f.WriteString(""); err != nil {
		t.Errorf("standard output closed by Close: %v", err)
	}
	got, err := ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Message{m}, got); diff != "" {
		t.Errorf("standard output mismatch (-want +got):\n%s", diff)
	}
}

func TestReadMessages(t *testing.T) {
	const (
		line1 = `{"to":"+911","text":"one","at":"2026-01-02T03:04:05Z"}`
		line2 = `{"to":"+912","text":"two\nlines","at":"2026-01-02T03:04:06Z"}`
	)
	m1 := Message{To: "+911", Text: "one"}
	m2 := Message{To: "+912", Text: "two\nlines"}
	tests := []struct {
		name    string
		input   string
		want    []Message
		wantErr string
	}{
		{name: "empty", input: "", want: nil},
		{name: "two lines", input: line1 + "\n" + line2 + "\n", want: []Message{m1, m2}},
		{name: "blank lines skipped", input: "\n" + line1 + "\n\n  \n" + line2 + "\n", want: []Message{m1, m2}},
		{name: "CRLF", input: line1 + "\r\n" + line2 + "\r\n", want: []Message{m1, m2}},
		{name: "torn last line ignored", input: line1 + "\n" + line2[:30], want: []Message{m1}},
		{name: "torn last line of one byte", input: line1 + "\n{", want: []Message{m1}},
		{name: "complete last line without newline kept", input: line1 + "\n" + line2, want: []Message{m1, m2}},
		{name: "unknown fields ignored", input: `{"to":"+911","text":"one","at":"x","provider":"y"}` + "\n", want: []Message{m1}},
		{name: "torn line in the middle", input: line1[:30] + "\n" + line2 + "\n", wantErr: "line 1"},
		{name: "not JSON", input: line1 + "\nhello\n" + line2 + "\n", wantErr: "line 2"},
		{name: "null", input: "null\n", wantErr: "line 1: not a JSON object"},
		{name: "wrong type", input: `{"to":1}` + "\n", wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadMessages(strings.NewReader(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadMessages() = %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadMessages() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadMessages() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "absent.jsonl"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile() error = %v, want fs.ErrNotExist", err)
	}
}
