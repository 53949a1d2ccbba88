package gsp

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestWindowDescribesTheDirection: a timestamp out of the window is
// described by its distance and which way it lies, even when the distance
// does not fit a time.Duration (it used to read as a negative distance).
func TestWindowDescribesTheDirection(t *testing.T) {
	now := time.UnixMilli(1502545413026)
	for _, tc := range []struct {
		ts   Millis
		want string
	}{
		{MillisOf(now.Add(time.Hour)), "is 1h0m0s ahead of server time"},
		{MillisOf(now.Add(-90 * time.Second)), "is 1m30s behind server time"},
		{Millis(1e15), "is more than 292 years ahead of server time"},
		{Millis(math.MaxInt64), "is more than 292 years ahead of server time"},
		{0, "is 417373h43m33.026s behind server time"},
	} {
		err := checkWindow(tc.ts, now, time.Minute)
		if err == nil || err.Code != RequestTimestampOutOfRange || !strings.Contains(err.Description, tc.want) {
			t.Errorf("requestTimestamp %d: got %v, want %s containing %q", int64(tc.ts), err, RequestTimestampOutOfRange, tc.want)
		}
		if err != nil && strings.Contains(err.Description, "-") {
			t.Errorf("requestTimestamp %d: a negative distance in %q", int64(tc.ts), err.Description)
		}
	}
	if err := checkWindow(MillisOf(now.Add(59*time.Second)), now, time.Minute); err != nil {
		t.Errorf("59s ahead, inside the window: %v", err)
	}
}
