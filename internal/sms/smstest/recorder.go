// Package smstest provides a recording sms.Sender for the tests of other
// packages, and a helper to read the code back out of a message.
package smstest

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/otpgate/otpgate/internal/sms"
)

// Recorder is an sms.Sender that keeps the messages it accepts instead of
// sending them. Its zero value is ready to use and accepts everything; it is
// safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	msgs     []sms.Message
	attempts int
	err      error
	hook     func(context.Context, sms.Message) error
}

var _ sms.Sender = (*Recorder)(nil)

// Name returns "recorder".
func (r *Recorder) Name() string { return "recorder" }

// Send records m and returns nil, unless ctx is done, the hook returns an
// error, or Fail set one: then m is not recorded, as a provider that fails
// has not sent it. Every call counts in Attempts.
func (r *Recorder) Send(ctx context.Context, m sms.Message) error {
	r.mu.Lock()
	r.attempts++
	hook, err := r.hook, r.err
	r.mu.Unlock()

	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	// The hook runs without the lock, so it may block (to hold a send in
	// flight) or call back into the Recorder.
	if hook != nil {
		if herr := hook(ctx, m); herr != nil {
			return herr
		}
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	return nil
}

// Fail makes every later Send return err; Fail(nil) makes them succeed again.
func (r *Recorder) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// SetHook installs f, called by every later Send before it records the
// message; an error from f fails that Send. SetHook(nil) removes it.
func (r *Recorder) SetHook(f func(ctx context.Context, m sms.Message) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hook = f
}

// Messages returns a copy of the accepted messages, oldest first.
func (r *Recorder) Messages() []sms.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Last returns the most recently accepted message, and false if there is none.
func (r *Recorder) Last() (sms.Message, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) == 0 {
		return sms.Message{}, false
	}
	return r.msgs[len(r.msgs)-1], true
}

// Attempts is the number of calls to Send, accepted or not.
func (r *Recorder) Attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// Reset forgets the messages and attempts; the failure and hook stay.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs, r.attempts = nil, 0
}

// ExtractCode returns the first run of exactly length ASCII digits (not part
// of a longer run) on any line but the first, which holds the
// smsMatchingToken and may itself contain digits; a message of one line has
// no token line and is searched whole. It returns "" if there is none.
func ExtractCode(text string, length int) string {
	// A message of one line has no token line (India Cards): search it all.
	_, body, found := strings.Cut(text, "\n")
	if !found {
		body = text
	}
	if length < 1 {
		return ""
	}
	for i := 0; i < len(body); {
		if !isDigit(body[i]) {
			i++
			continue
		}
		j := i
		for j < len(body) && isDigit(body[j]) {
			j++
		}
		if j-i == length {
			return body[i:j]
		}
		i = j
	}
	return ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
