package server

import (
	"context"
	"math"
	"testing"
	"time"
)

// waitFor polls cond under the limiter's lock.
func (l *limiter) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		ok := cond()
		l.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLimiterResumesFirst: a request back from its SMS gets the next free
// slot before arrivals that queued earlier, and the bound holds throughout.
func TestLimiterResumesFirst(t *testing.T) {
	l := newLimiter(1, time.Hour, nil)
	if !l.acquire(context.Background()) {
		t.Fatal("the first acquire was refused")
	}
	order := make(chan string, 2)
	go func() {
		if l.acquire(context.Background()) {
			order <- "arrival"
		}
	}()
	l.waitFor(t, "the arrival queues", func() bool { return l.queue.Len() == 1 })
	go func() {
		l.resume()
		order <- "resumed"
	}()
	l.waitFor(t, "the resumed request queues", func() bool { return l.resumed.Len() == 1 })

	l.release(time.Millisecond)
	if got := <-order; got != "resumed" {
		t.Fatalf("the freed slot went to the %s, want the resumed request", got)
	}
	select {
	case got := <-order:
		t.Fatalf("the %s got a slot while the bound of 1 was taken", got)
	default:
	}
	l.release(time.Millisecond)
	if got := <-order; got != "arrival" {
		t.Fatalf("got %s, want the arrival", got)
	}
	l.release(time.Millisecond)
	l.waitFor(t, "the slot is free", func() bool { return l.free == 1 && l.queue.Len() == 0 && l.resumed.Len() == 0 })
}

// TestLimiterCancelled: a queued request whose caller hung up leaves the
// queue and takes no slot.
func TestLimiterCancelled(t *testing.T) {
	l := newLimiter(1, time.Hour, nil)
	l.acquire(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { done <- l.acquire(ctx) }()
	l.waitFor(t, "the request queues", func() bool { return l.queue.Len() == 1 })
	cancel()
	if <-done {
		t.Fatal("a cancelled request got a slot")
	}
	l.release(time.Millisecond)
	l.waitFor(t, "the slot is free", func() bool { return l.free == 1 && l.queue.Len() == 0 })
}

// TestLimiterQueueBound: with as many requests waiting as could get a slot
// within the wait, the next is shed at once rather than after the wait.
func TestLimiterQueueBound(t *testing.T) {
	l := newLimiter(1, time.Hour, nil)
	l.hold = float64(time.Hour) // one slot, freed every hour: one may wait an hour
	l.acquire(context.Background())
	got := make(chan bool)
	go func() { got <- l.acquire(context.Background()) }()
	l.waitFor(t, "one request waits", func() bool { return l.queue.Len() == 1 })
	if l.acquire(context.Background()) { // returns at once, or the test times out
		t.Fatal("a request beyond the queue's bound got a slot")
	}
	l.release(time.Hour)
	if !<-got {
		t.Fatal("the waiting request was shed")
	}
	l.release(time.Hour)
}

// TestLimiterQueueBoundFollowsHolds: the bound is how many the slots clear
// within the wait at the rate they have lately been held: none before any
// hold is known, then the wait times the slots over the average hold.
func TestLimiterQueueBoundFollowsHolds(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(2, 50*time.Millisecond, nil)
	l.now = func() time.Time { return now }
	if b := l.queueBound(); b != math.MaxInt {
		t.Errorf("bound %d before any hold, want none", b)
	}
	hold := func(d time.Duration) {
		s := &slot{l: l}
		if !l.acquire(context.Background()) {
			t.Fatal("a free slot was refused")
		}
		s.take()
		now = now.Add(d)
		s.give()
	}
	hold(10 * time.Millisecond)
	if b := l.queueBound(); b != 10 { // 2 slots freed every 10 ms: 10 in 50 ms
		t.Errorf("bound %d after a 10 ms hold, want 10", b)
	}
	for range 100 {
		hold(time.Second)
	}
	if b := l.queueBound(); b != 0 {
		t.Errorf("bound %d after holds of 1 s, want 0: nobody gets a slot within 50 ms", b)
	}
	// With the bound at 0 and both slots busy, an arrival is shed at once.
	l.acquire(context.Background())
	l.acquire(context.Background())
	if l.acquire(context.Background()) {
		t.Fatal("a third request got one of two busy slots")
	}
}
