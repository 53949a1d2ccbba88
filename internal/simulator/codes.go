package simulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Mark is a position in the stream of SMS to one phone: how many the source
// had seen for it when the mark was taken.
type Mark int64

// SMS is one message the target sent, as far as the source knows it.
type SMS struct {
	To   string
	Text string // "" when an operator typed the code
	Code string
	Seq  Mark // its position: a Mark taken right after it
}

// Codes reads the codes the target texts. Scenarios take a Mark of a phone
// before the request that should text it, then Wait for the newest SMS to
// that phone after the mark.
type Codes interface {
	// Mark returns the current position of phone's SMS.
	Mark(phone string) (Mark, error)
	// Wait returns the newest SMS to phone after mark, waiting for one if
	// there is none yet.
	Wait(ctx context.Context, phone string, after Mark) (SMS, error)
	// Count returns how many SMS phone got after mark; ok is false when the
	// source cannot tell (an operator types the codes).
	Count(phone string, after Mark) (n int, ok bool, err error)
	// Automatic reports whether codes are read without an operator, so
	// that reading one costs nothing.
	Automatic() bool
}

// SMSFile reads codes from the SMS file sink of the target (`otpgate serve
// --sms-file PATH`): JSON lines {"to","text","at"}, appended by the server
// before it answers. It tails the file: it keeps its offset, parses only the
// lines added since the last read and keeps the newest message per phone, so
// that reading a code costs a read of a few hundred bytes even under load.
// It is safe for concurrent use.
type SMSFile struct {
	path       string
	codeLength int
	poll       time.Duration
	timeout    time.Duration

	mu      sync.Mutex
	f       *os.File
	off     int64
	pending []byte // the start of a line still being written
	skip    bool   // drop everything up to the next newline (we started mid-line)
	buf     []byte
	byPhone map[string]*phoneSMS
	bad     int // lines that were not a message
}

type phoneSMS struct {
	n    Mark
	last SMS
}

// SMSFileOptions tune an SMSFile; the zero value is ready to use.
type SMSFileOptions struct {
	// CodeLength is the target's --code-length; 0 takes the first run of 6
	// to 10 digits.
	CodeLength int
	// Poll is how often Wait looks again when the SMS is not there yet
	// (default 5 ms); Timeout how long it waits in all (default 10 s).
	Poll, Timeout time.Duration
	// FromStart reads the messages already in the file too; by default only
	// those appended after OpenSMSFile count.
	FromStart bool
}

// OpenSMSFile starts tailing path. The file may not exist yet: the server
// creates it when it starts.
func OpenSMSFile(path string, opts SMSFileOptions) (*SMSFile, error) {
	s := &SMSFile{path: path, codeLength: opts.CodeLength, poll: opts.Poll, timeout: opts.Timeout,
		byPhone: map[string]*phoneSMS{}, buf: make([]byte, 64<<10)}
	if s.poll <= 0 {
		s.poll = 5 * time.Millisecond
	}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("simulator: SMS file: %w", err)
	}
	s.f = f
	if !opts.FromStart {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("simulator: SMS file: %w", err)
		}
		if s.off = fi.Size(); s.off > 0 {
			// Unless the file ends with a whole line, we start inside one.
			last := make([]byte, 1)
			if _, err := f.ReadAt(last, s.off-1); err == nil && last[0] != '\n' {
				s.skip = true
			}
		}
	}
	return s, nil
}

// Close stops reading the file.
func (s *SMSFile) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Automatic is true: nobody types anything.
func (s *SMSFile) Automatic() bool { return true }

// Mark returns the current position of phone's SMS.
func (s *SMSFile) Mark(phone string) (Mark, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(); err != nil {
		return 0, err
	}
	if p := s.byPhone[phone]; p != nil {
		return p.n, nil
	}
	return 0, nil
}

// Count returns how many SMS phone got after mark.
func (s *SMSFile) Count(phone string, after Mark) (int, bool, error) {
	m, err := s.Mark(phone)
	return int(m - after), true, err
}

// Wait returns the newest SMS to phone after mark, polling the file until
// one is there, ctx ends or the timeout passes.
func (s *SMSFile) Wait(ctx context.Context, phone string, after Mark) (SMS, error) {
	deadline := time.Now().Add(s.timeout)
	for {
		s.mu.Lock()
		err := s.refresh()
		p := s.byPhone[phone]
		s.mu.Unlock()
		if err != nil {
			return SMS{}, err
		}
		if p != nil && p.n > after {
			if p.last.Code == "" {
				return p.last, fmt.Errorf("the SMS to %s holds no code: %q", p.last.To, p.last.Text)
			}
			return p.last, nil
		}
		if !time.Now().Before(deadline) {
			return SMS{}, fmt.Errorf("no SMS to %s in %s within %s", phone, s.path, s.timeout)
		}
		t := time.NewTimer(s.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return SMS{}, ctx.Err()
		case <-t.C:
		}
	}
}

// refresh reads what was appended since the last call. s.mu is held.
func (s *SMSFile) refresh() error {
	if s.f == nil {
		f, err := os.Open(s.path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("simulator: SMS file: %w", err)
		}
		s.f, s.off, s.pending = f, 0, nil
	}
	// A file replaced or truncated under us (a new server run) starts over.
	if fi, err := os.Stat(s.path); err == nil {
		if ours, err := s.f.Stat(); err == nil && (!os.SameFile(fi, ours) || ours.Size() < s.off) {
			s.f.Close()
			f, err := os.Open(s.path)
			if err != nil {
				s.f = nil
				return fmt.Errorf("simulator: SMS file: %w", err)
			}
			s.f, s.off, s.pending, s.skip = f, 0, nil, false
		}
	}
	for {
		n, err := s.f.ReadAt(s.buf, s.off)
		if n > 0 {
			s.off += int64(n)
			s.consume(s.buf[:n])
		}
		if err == io.EOF || (err == nil && n < len(s.buf)) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("simulator: SMS file: %w", err)
		}
	}
}

// consume takes new bytes of the file and indexes the whole lines among them.
func (s *SMSFile) consume(data []byte) {
	if s.skip {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return
		}
		data, s.skip = data[i+1:], false
	}
	if len(s.pending) > 0 {
		data = append(s.pending, data...)
		s.pending = nil
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		s.line(data[:i])
		data = data[i+1:]
	}
	if len(data) > 0 {
		s.pending = append([]byte(nil), data...)
	}
}

func (s *SMSFile) line(b []byte) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return
	}
	var rec struct {
		To   string `json:"to"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.To == "" {
		s.bad++
		return
	}
	p := s.byPhone[rec.To]
	if p == nil {
		p = &phoneSMS{}
		s.byPhone[rec.To] = p
	}
	p.n++
	p.last = SMS{To: rec.To, Text: rec.Text, Code: ExtractCode(rec.Text, s.codeLength), Seq: p.n}
}

// ExtractCode finds the code in an SMS text: the first run of exactly length
// digits (6 to 10 when length is 0) on a line after the first, which holds
// the smsMatchingToken of a sendOtp; a one-line message (India Cards) is
// searched whole. It returns "" when there is none.
func ExtractCode(text string, length int) string {
	lines := strings.Split(text, "\n")
	if len(lines) > 1 {
		lines = lines[1:]
	}
	for _, l := range lines {
		for i := 0; i < len(l); {
			if l[i] < '0' || l[i] > '9' {
				i++
				continue
			}
			j := i
			for j < len(l) && l[j] >= '0' && l[j] <= '9' {
				j++
			}
			if n := j - i; (length == 0 && n >= 6 && n <= 10) || n == length {
				return l[i:j]
			}
			i = j
		}
	}
	return ""
}

// Prompt asks an operator to type each code, for a target whose SMS go to
// real phones. It cannot count messages, so the checks that need a count
// (no second SMS on a replay) are left out.
type Prompt struct {
	mu  sync.Mutex
	in  *bufio.Reader
	out io.Writer
}

// NewPrompt reads codes from in (standard input) and writes its questions to
// out (standard error).
func NewPrompt(in io.Reader, out io.Writer) *Prompt {
	return &Prompt{in: bufio.NewReader(in), out: out}
}

// Automatic is false: an operator types the codes.
func (p *Prompt) Automatic() bool { return false }

// Mark is always 0: an operator knows which SMS is new.
func (p *Prompt) Mark(string) (Mark, error) { return 0, nil }

// Count cannot tell.
func (p *Prompt) Count(string, Mark) (int, bool, error) { return 0, false, nil }

// Wait asks for the code of the newest SMS to phone.
func (p *Prompt) Wait(ctx context.Context, phone string, _ Mark) (SMS, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return SMS{}, err
	}
	for {
		fmt.Fprintf(p.out, "Code of the newest SMS to %s: ", phone)
		line, err := p.in.ReadString('\n')
		code := strings.TrimSpace(line)
		if code != "" && strings.Trim(code, "0123456789") == "" {
			return SMS{To: phone, Code: code}, nil
		}
		if err != nil {
			return SMS{}, fmt.Errorf("no code typed for %s: %w", phone, err)
		}
		fmt.Fprintln(p.out, "  a code is digits only; try again")
	}
}
