package server

import (
	"context"
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

	l.release()
	if got := <-order; got != "resumed" {
		t.Fatalf("the freed slot went to the %s, want the resumed request", got)
	}
	select {
	case got := <-order:
		t.Fatalf("the %s got a slot while the bound of 1 was taken", got)
	default:
	}
	l.release()
	if got := <-order; got != "arrival" {
		t.Fatalf("got %s, want the arrival", got)
	}
	l.release()
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
	l.release()
	l.waitFor(t, "the slot is free", func() bool { return l.free == 1 && l.queue.Len() == 0 })
}

// TestLimiterQueueBound: with as many requests waiting as there are slots,
// the next is shed at once rather than after the wait.
func TestLimiterQueueBound(t *testing.T) {
	l := newLimiter(1, time.Hour, nil)
	l.acquire(context.Background())
	got := make(chan bool)
	go func() { got <- l.acquire(context.Background()) }()
	l.waitFor(t, "one request waits", func() bool { return l.queue.Len() == 1 })
	if l.acquire(context.Background()) { // returns at once, or the test times out
		t.Fatal("a request beyond the queue's bound got a slot")
	}
	l.release()
	if !<-got {
		t.Fatal("the waiting request was shed")
	}
	l.release()
}
