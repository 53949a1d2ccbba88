package server

import (
	"container/list"
	"context"
	"math"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/idle"
	"github.com/otpgate/otpgate/internal/otp"
)

// limiter bounds the requests that do work at once: opening the envelope,
// the store's transactions, sealing the answer. A request that finds every
// slot taken waits in a FIFO queue for at most the queue wait, then is shed.
// The queue holds at most as many requests as can get a slot within the
// wait, judged by how long requests have lately held their slots: one that
// finds it full is shed at once, so that under sustained overload a shed
// answer costs its caller no wait, while a burst that the slots will clear
// in time still queues.
// Requests coming back from an SMS provider (see ReleaseSlotWhileSending)
// wait in a queue of their own that is served first and never shed: their
// SMS is out, and its outcome has to be recorded.
type limiter struct {
	wait time.Duration
	max  int
	now  func() time.Time

	mu      sync.Mutex
	free    int
	hold    float64   // moving average of how long a slot is held, in ns; 0: none yet
	queue   list.List // of chan struct{}: arrivals, FIFO
	resumed list.List // of chan struct{}: requests back from a send, first
	onQueue func(n int)
}

// newLimiter allows max requests at once; max < 1 means no bound (nil).
func newLimiter(max int, wait time.Duration, onQueue func(n int)) *limiter {
	if max < 1 {
		return nil
	}
	return &limiter{free: max, max: max, wait: wait, now: time.Now, onQueue: onQueue}
}

// queueBound is how many arrivals may wait: as many as the slots, each
// freeing every hold on average, would take within the wait. l.mu is held.
func (l *limiter) queueBound() int {
	if l.hold == 0 {
		return math.MaxInt
	}
	return int(float64(l.wait) * float64(l.max) / l.hold)
}

// acquire takes a slot, waiting up to the queue wait; false means shed.
func (l *limiter) acquire(ctx context.Context) bool {
	l.mu.Lock()
	if l.free > 0 && l.queue.Len() == 0 && l.resumed.Len() == 0 {
		l.free--
		l.mu.Unlock()
		return true
	}
	if l.wait <= 0 || l.queue.Len() >= l.queueBound() {
		l.mu.Unlock()
		return false
	}
	grant := make(chan struct{}, 1)
	e := l.queue.PushBack(grant)
	l.queued()
	l.mu.Unlock()

	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case <-grant:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-grant: // granted while the timer fired: the slot is ours
		return true
	default:
	}
	l.queue.Remove(e)
	l.queued()
	return false
}

// resume takes a slot for a request back from an SMS provider: ahead of
// every arrival, and as long as it takes.
func (l *limiter) resume() {
	l.mu.Lock()
	if l.free > 0 && l.resumed.Len() == 0 {
		l.free--
		l.mu.Unlock()
		return
	}
	grant := make(chan struct{}, 1)
	l.resumed.PushBack(grant)
	l.queued()
	l.mu.Unlock()
	<-grant
}

// release gives back a slot held for held, to the first in line if any.
func (l *limiter) release(held time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	const weight = 0.1 // about the last 10 holds
	if l.hold == 0 {
		l.hold = float64(held)
	} else {
		l.hold += weight * (float64(held) - l.hold)
	}
	l.hold = max(l.hold, 1)
	for _, q := range []*list.List{&l.resumed, &l.queue} {
		if e := q.Front(); e != nil {
			q.Remove(e)
			e.Value.(chan struct{}) <- struct{}{}
			l.queued()
			return
		}
	}
	l.free++
}

// queued reports the queue's length; l.mu is held.
func (l *limiter) queued() {
	if l.onQueue != nil {
		l.onQueue(l.queue.Len() + l.resumed.Len())
	}
}

// slot is a request's hold on the limiter, carried in its context so that
// ReleaseSlotWhileSending can let go of it during an SMS.
type slot struct {
	l     *limiter
	held  bool      // only the request's own goroutine touches it
	since time.Time // when it was taken
}

// give releases the slot.
func (s *slot) give() {
	s.held = false
	s.l.release(s.l.now().Sub(s.since))
}

// take records a slot taken.
func (s *slot) take() {
	s.held, s.since = true, s.l.now()
}

// Release gives the slot back while the request waits on the disk (the
// SQLite writer's fsync, through idle.Wait): its work for the moment is
// done, and another request can use the slot meanwhile.
func (s *slot) Release() bool {
	if !s.held {
		return false
	}
	s.give()
	return true
}

// Reacquire takes a slot again after Release, as after an SMS: ahead of new
// arrivals, and never shed.
func (s *slot) Reacquire() {
	s.l.resume()
	s.take()
}

type slotKey struct{}

// withSlot carries the slot for ReleaseSlotWhileSending and for idle.Wait.
func withSlot(ctx context.Context, s *slot) context.Context {
	return idle.With(context.WithValue(ctx, slotKey{}, s), s)
}

// ReleaseSlotWhileSending wraps the messenger of a Service served behind a
// Server with a request bound (Config.MaxInFlight): a request gives its slot
// back while the SMS provider works, which can take seconds and costs this
// process nothing, and takes one again, ahead of new arrivals, to record the
// outcome. Without it, a slow provider would fill the slots with requests
// that only wait, and every other request would be shed.
func ReleaseSlotWhileSending(m otp.Messenger) otp.Messenger {
	return slotFreeMessenger{m}
}

type slotFreeMessenger struct{ otp.Messenger }

func (m slotFreeMessenger) SendCode(ctx context.Context, msg otp.CodeSMS) (otp.Submission, error) {
	if s, ok := ctx.Value(slotKey{}).(*slot); ok && s.held {
		s.give()
		defer func() {
			s.l.resume()
			s.take()
		}()
	}
	return m.Messenger.SendCode(ctx, msg)
}
