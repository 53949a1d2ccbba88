package simulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/simulator"
	"github.com/otpgate/otpgate/internal/sms"
)

func TestLoad(t *testing.T) {
	tg := startTarget(t, withPolicy(generous))
	c := tg.client(t, nil, 4)
	codes := tg.codes(t)

	t.Run("flow by count, with the floor", func(t *testing.T) {
		var progress bytes.Buffer
		rep, err := simulator.Load(context.Background(), simulator.LoadConfig{Client: c, Scenario: simulator.LoadFlow,
			Workers: 2, Count: 100, Codes: codes, Floor: true, FloorDuration: 100 * time.Millisecond,
			Progress: &progress, ProgressEvery: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := rep.Err(); err != nil {
			t.Fatalf("%v: %v %v", err, rep.Outcomes, rep.Errors)
		}
		if rep.Iterations != 100 || rep.Requests != 200 || rep.Failures != 0 {
			t.Errorf("%d iterations, %d requests, %d failures; want 100, 200, 0", rep.Iterations, rep.Requests, rep.Failures)
		}
		if rep.Outcomes["sendOtp 200 SUCCESS"] != 100 || rep.Outcomes["verifyOtp 200 SUCCESS"] != 100 || len(rep.Outcomes) != 2 {
			t.Errorf("outcomes %v", rep.Outcomes)
		}
		if rep.Latency.Count != 200 || rep.Methods["sendOtp"].Count != 100 || rep.Methods["verifyOtp"].Count != 100 {
			t.Errorf("latency counts %d, %v", rep.Latency.Count, rep.Methods)
		}
		if l := rep.Latency; !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
			t.Errorf("latency %+v", l)
		}
		f := rep.Floor
		if f == nil || f.Operations == 0 || f.RequestsPerSec <= 0 || f.Fraction <= 0 || !strings.Contains(f.Note, "plaintext") {
			t.Errorf("floor %+v", f)
		}
		if !strings.Contains(progress.String(), "\rload flow:") || !strings.HasSuffix(progress.String(), "\n") {
			t.Errorf("progress %q", progress.String())
		}
		var text, js bytes.Buffer
		if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "verifyOtp 200 SUCCESS") {
			t.Errorf("text report: %v\n%s", err, text.String())
		}
		var back simulator.LoadReport
		if err := rep.WriteJSON(&js); err != nil || json.Unmarshal(js.Bytes(), &back) != nil || back.Requests != 200 {
			t.Errorf("JSON report: %v\n%s", err, js.String())
		}
	})

	t.Run("verify by count", func(t *testing.T) {
		rep, err := simulator.Load(context.Background(), simulator.LoadConfig{Client: c, Scenario: simulator.LoadVerify,
			Workers: 3, Count: 60, Codes: codes})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Iterations != 60 || rep.Requests != 60 || rep.Outcomes["verifyOtp 200 OTP_ALREADY_USED"] != 60 || rep.Err() != nil {
			t.Errorf("%d iterations, %d requests, outcomes %v, errors %v", rep.Iterations, rep.Requests, rep.Outcomes, rep.Errors)
		}
	})

	t.Run("send by duration", func(t *testing.T) {
		rep, err := simulator.Load(context.Background(), simulator.LoadConfig{Client: c, Scenario: simulator.LoadSend,
			Workers: 2, Duration: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		sum := 0
		for _, n := range rep.Outcomes {
			sum += n
		}
		if rep.Requests == 0 || rep.Requests != rep.Iterations || sum != rep.Requests || rep.Err() != nil {
			t.Errorf("%d requests, %d iterations, outcomes %v (sum %d), errors %v", rep.Requests, rep.Iterations, rep.Outcomes, sum, rep.Errors)
		}
		if rep.Seconds < 0.3 || rep.Seconds > 5 {
			t.Errorf("ran %.2f s for a 300 ms duration", rep.Seconds)
		}
	})

	t.Run("refuses what cannot run", func(t *testing.T) {
		for _, cfg := range []simulator.LoadConfig{
			{Client: c, Scenario: "flood", Workers: 1, Count: 1},
			{Client: c, Scenario: simulator.LoadSend, Workers: 0, Count: 1},
			{Client: c, Scenario: simulator.LoadSend, Workers: simulator.LoadAccounts + 1, Count: 1},
			{Client: c, Scenario: simulator.LoadSend, Workers: 1},
			{Client: c, Scenario: simulator.LoadFlow, Workers: 1, Count: 1}, // no SMS file
		} {
			if _, err := simulator.Load(context.Background(), cfg); err == nil {
				t.Errorf("%+v ran", cfg)
			}
		}
	})
}

// Against a target with the default budgets, every failure is counted and
// the run reports it.
func TestLoadCountsFailures(t *testing.T) {
	tg := startTarget(t)
	rep, err := simulator.Load(context.Background(), simulator.LoadConfig{Client: tg.client(t, nil, 1),
		Scenario: simulator.LoadSend, Workers: 1, Count: 8})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcomes["sendOtp 200 SUCCESS"] != 5 || rep.Outcomes["sendOtp 200 OTP_LIMIT_REACHED"] != 3 || rep.Failures != 3 || rep.Err() == nil {
		t.Errorf("outcomes %v, %d failures, Err %v", rep.Outcomes, rep.Failures, rep.Err())
	}
}

// TestLoadSpreadsOverInstances: with Others, the workers share the load
// between the instances, and the report names them all.
func TestLoadSpreadsOverInstances(t *testing.T) {
	a, b := startTarget(t, withPolicy(generous)), startTarget(t, withPolicy(generous))
	rep, err := simulator.Load(context.Background(), simulator.LoadConfig{Client: a.client(t, nil, 2),
		Others: []*simulator.Client{b.client(t, nil, 2)}, Scenario: simulator.LoadSend, Workers: 4, Count: 40})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil || rep.Requests != 40 {
		t.Fatalf("%v: %d requests, %v", err, rep.Requests, rep.Outcomes)
	}
	for name, tg := range map[string]*target{"a": a, "b": b} {
		msgs, err := sms.ReadFile(tg.smsPath)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) < 10 {
			t.Errorf("instance %s sent %d of 40 SMS: the load was not spread", name, len(msgs))
		}
	}
	if !strings.Contains(rep.Target, a.url) || !strings.Contains(rep.Target, b.url) {
		t.Errorf("report target %q does not name both instances", rep.Target)
	}
}
