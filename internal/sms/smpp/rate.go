package smpp

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errRateWait: the turn under the rate limit comes after the deadline.
var errRateWait = errors.New("rate limit: next turn after the deadline")

// bucket spaces events evenly at rate per second, with a burst of one: what
// an SMSC that counts TPS per second expects of an account. (The module has
// no golang.org/x/time/rate; this is the one thing it would be used for.)
type bucket struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	next time.Time // the earliest time of the next event
}

func newBucket(perSecond float64, now func() time.Time) *bucket {
	return &bucket{interval: time.Duration(float64(time.Second) / perSecond), now: now}
}

// reserve takes the next turn and returns its time; when that is later
// than deadline (zero: none) it takes nothing and reports false.
func (b *bucket) reserve(deadline time.Time) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	at := b.next
	if at.Before(now) {
		at = now
	}
	if !deadline.IsZero() && at.After(deadline) {
		return time.Time{}, false
	}
	b.next = at.Add(b.interval)
	return at, true
}

// unreserve gives back a turn taken at the end of the queue, when its
// taker gave up waiting; a turn in the middle of the queue stays taken.
func (b *bucket) unreserve(at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next.Equal(at.Add(b.interval)) {
		b.next = at
	}
}

// wait blocks until the next turn, or fails when ctx ends first or its
// deadline is earlier than the turn.
func (b *bucket) wait(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	at, ok := b.reserve(deadline)
	if !ok {
		return errRateWait
	}
	d := at.Sub(b.now())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		b.unreserve(at)
		return ctx.Err()
	}
}
