package simulator_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/otpgate/otpgate/internal/simulator"
)

// TestLoadOpenLoop: with a rate, iterations start on schedule whatever the
// answers; the 503s (here every other request, as a shedding target
// answers) are summarised apart from the requests served.
func TestLoadOpenLoop(t *testing.T) {
	var n, shed atomic.Int64
	tg := startTarget(t, withPolicy(generous), withWrapper(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/sendOtp") && n.Add(1)%2 == 0 {
				shed.Add(1)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	}))
	rep, err := simulator.Load(context.Background(), simulator.LoadConfig{Client: tg.client(t, nil, 8),
		Scenario: simulator.LoadSend, Workers: 8, Rate: 200, Count: 40})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rate != 200 || rep.Iterations+rep.Unsent != 40 || rep.Iterations == 0 {
		t.Errorf("rate %g, %d iterations and %d unsent; want 200 and 40 in all", rep.Rate, rep.Iterations, rep.Unsent)
	}
	if rep.Seconds < 39.0/200 {
		t.Errorf("40 arrivals at 200/s took %.3f s: not paced", rep.Seconds)
	}
	u := rep.Unavailable
	if u == nil || int64(u.Count) != shed.Load() || rep.Latency.Count+u.Count != rep.Requests ||
		rep.Outcomes["sendOtp 503 (empty body)"] != u.Count || rep.Methods["sendOtp"].Count != rep.Latency.Count {
		t.Errorf("%d requests, %d shed by the target: served latency %+v, 503 latency %+v, outcomes %v",
			rep.Requests, shed.Load(), rep.Latency, u, rep.Outcomes)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "503 answers") || !strings.Contains(text.String(), "open loop: 200.0") {
		t.Errorf("text report: %v\n%s", err, text.String())
	}
}
