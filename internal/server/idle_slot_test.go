package server

import (
	"context"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/idle"
)

// TestSlotFreeWhileIdle: a request waiting on the disk (the SQLite writer's
// fsync calls idle.Wait with the request's context, as serve builds it)
// holds no slot meanwhile: another request gets the only slot at once; and
// the first holds a slot again when the wait ends, ahead of new arrivals.
func TestSlotFreeWhileIdle(t *testing.T) {
	l := newLimiter(1, time.Hour, nil)
	if !l.acquire(context.Background()) {
		t.Fatal("the first acquire was refused")
	}
	sl := &slot{l: l}
	sl.take()
	ctx := withSlot(context.Background(), sl)

	var released bool
	idle.Wait(ctx, func() {
		if sl.held {
			t.Error("the slot is held during the wait")
		}
		// Another request takes the one slot, and gives it back only once
		// the first waits to take one again.
		if !l.acquire(context.Background()) {
			t.Fatal("no slot for another request while the first waits on the disk")
		}
		go func() {
			l.waitFor(t, "the first request asks for its slot back", func() bool { return l.resumed.Len() == 1 })
			released = true
			l.release(time.Millisecond)
		}()
	})
	// The wait is over: Reacquire took the other's slot once it was free,
	// so the bound of one held throughout.
	if !sl.held || !released {
		t.Errorf("after the wait: slot held %v, the other's released first %v; want both", sl.held, released)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.free != 0 {
		t.Errorf("%d slots free, want 0", l.free)
	}
}
