package sms

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Stdout is the path that makes [NewFileSender] write to standard output.
const Stdout = "-"

// FileSender is a development and test sink: instead of sending an SMS it
// appends one JSON object per line, {"to":…,"text":…,"at":…}, to a file or a
// writer (with "flow" and "dlt":{"entityId","templateId","header"} when the
// message has them), from which [ReadFile] (or a person) reads the codes back. It is safe
// for concurrent use.
//
// The file holds codes in clear: it is for development, never production.
type FileSender struct {
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer // nil when the writer is not ours to close
	closed bool
	now    func() time.Time // replaced in tests
}

// fileRecord is one line of a FileSender's output.
type fileRecord struct {
	To   string   `json:"to"`
	Text string   `json:"text"`
	At   string   `json:"at"` // RFC 3339 with nanoseconds, UTC
	Flow Flow     `json:"flow,omitempty"`
	DLT  *fileDLT `json:"dlt,omitempty"`
}

// fileDLT is Message.DLT in a line of a FileSender.
type fileDLT struct {
	EntityID   string `json:"entityId"`
	TemplateID string `json:"templateId"`
	Header     string `json:"header,omitempty"`
}

// NewFileSender opens path for appending, creating it with mode 0600 (it
// holds codes) if it does not exist. The path "-" ([Stdout]) writes to
// standard output, for a console sink; Close then leaves standard output open.
func NewFileSender(path string) (*FileSender, error) {
	switch path {
	case "":
		return nil, errors.New("sms: file sender: empty path")
	case Stdout:
		return NewWriterSender(os.Stdout), nil
	}
	// O_APPEND makes every write land at the end of the file even when
	// several processes share it, and a single write of a whole line is
	// then not interleaved with theirs on local file systems.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sms: file sender: %w", err)
	}
	s := NewWriterSender(f)
	s.closer = f
	return s, nil
}

// NewWriterSender returns a FileSender that writes its lines to w, each with
// a single call to w.Write. Close does not close w.
func NewWriterSender(w io.Writer) *FileSender {
	return &FileSender{w: w, now: time.Now}
}

// Name returns "file".
func (s *FileSender) Name() string { return "file" }

// Send appends m as one line. A nil error means the whole line was written.
func (s *FileSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sms: file sender: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("sms: file sender: closed")
	}
	// The time is taken under the lock so that "at" never goes backwards
	// from one line to the next.
	rec := fileRecord{To: m.To, Text: m.Text, At: s.now().UTC().Format(time.RFC3339Nano), Flow: m.Flow}
	if m.DLT != nil {
		rec.DLT = &fileDLT{EntityID: m.DLT.EntityID, TemplateID: m.DLT.TemplateID, Header: m.DLT.Header}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<>&" readable on the console; still valid JSON
	// Encode ends the line with '\n' and escapes the newlines of the text,
	// so a message is always exactly one line.
	if err := enc.Encode(rec); err != nil {
		return fmt.Errorf("sms: file sender: %w", err)
	}
	// One Write for the whole line: the mutex keeps this process's lines
	// apart, O_APPEND the lines of other processes.
	if _, err := s.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("sms: file sender: write: %w", err)
	}
	return nil
}

// Close closes the file, if NewFileSender opened one. Send fails after Close.
func (s *FileSender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.closer != nil {
		if err := s.closer.Close(); err != nil {
			return fmt.Errorf("sms: file sender: close: %w", err)
		}
	}
	return nil
}

// ReadFile returns the messages of a file written by a FileSender, oldest
// first. See [ReadMessages].
func ReadFile(path string) ([]Message, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sms: read file: %w", err)
	}
	defer f.Close()
	msgs, err := ReadMessages(f)
	if err != nil {
		return nil, fmt.Errorf("sms: read %s: %w", path, err)
	}
	return msgs, nil
}

// ReadMessages parses the lines written by a FileSender. Blank lines are
// skipped. A last line without its newline is a line still being written by
// another process (the sender always ends a line with one) and is ignored
// unless it is already complete JSON; any other line that is not a JSON
// object is an error.
func ReadMessages(r io.Reader) ([]Message, error) {
	var msgs []Message
	br := bufio.NewReader(r)
	for lineNo := 1; ; lineNo++ {
		// ReadBytes rather than a Scanner: a line has no length limit.
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, err
		}
		partial := err == io.EOF
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			var rec fileRecord
			uerr := json.Unmarshal(trimmed, &rec)
			if uerr == nil && trimmed[0] != '{' {
				uerr = errors.New("not a JSON object") // "null" would decode to an empty message
			}
			if uerr != nil {
				if partial {
					// No prefix of a JSON object is itself valid JSON, so a
					// torn write always lands here.
					return msgs, nil
				}
				return nil, fmt.Errorf("line %d: %w", lineNo, uerr)
			}
			m := Message{To: rec.To, Text: rec.Text, Flow: rec.Flow}
			if rec.DLT != nil {
				m.DLT = &DLT{EntityID: rec.DLT.EntityID, TemplateID: rec.DLT.TemplateID, Header: rec.DLT.Header}
			}
			msgs = append(msgs, m)
		}
		if partial {
			return msgs, nil
		}
	}
}
