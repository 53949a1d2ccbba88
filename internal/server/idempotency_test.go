package server_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/otp"
)

// withoutTimestamp drops responseHeader, the one part a replay may change.
func withoutTimestamp(r response) map[string]any {
	c := map[string]any{}
	for k, v := range r.body {
		if k != "responseHeader" {
			c[k] = v
		}
	}
	return c
}

func TestReplayOfA200(t *testing.T) {
	h := newHarness(t)
	account := map[string]any{"associationId": "as-1", "otpContext": map[string]any{"association": map[string]any{}}}
	first := h.sendOtp("s1", account)
	expect(t, first, 200, "result", "SUCCESS")
	h.clock.Advance(2 * time.Second)
	again := h.sendOtp("s1", account) // a new requestTimestamp, as Google's retries carry
	if diff := cmp.Diff(withoutTimestamp(first), withoutTimestamp(again)); diff != "" {
		t.Errorf("replay differs (-first +again):\n%s", diff)
	}
	if first.body["responseHeader"].(map[string]any)["responseTimestamp"] == again.body["responseHeader"].(map[string]any)["responseTimestamp"] {
		t.Error("the replay kept the old responseTimestamp")
	}
	if n := len(h.sms.Messages()); n != 1 {
		t.Fatalf("%d SMS after a replay, want 1", n)
	}

	code := h.lastCode()
	v1 := h.verifyOtp("v1", "s1", code)
	expect(t, v1, 200, "result", "SUCCESS")
	// A retried verifyOtp that succeeded succeeds again; only a new requestId
	// against the consumed code is OTP_ALREADY_USED.
	v1again := h.verifyOtp("v1", "s1", code)
	if diff := cmp.Diff(withoutTimestamp(v1), withoutTimestamp(v1again)); diff != "" {
		t.Errorf("verify replay differs:\n%s", diff)
	}
	expect(t, h.verifyOtp("v2", "s1", code), 200, "result", "OTP_ALREADY_USED")
}

func TestReplayDoesNotSpendAttempts(t *testing.T) {
	h := newHarness(t)
	h.sendOtp("s1", map[string]any{"associationId": "as-1"})
	code := h.lastCode()
	for range 10 {
		expect(t, h.verifyOtp("v-wrong", "s1", wrongCode(code)), 200, "result", "OTP_NOT_MATCHED")
	}
	if n := h.count("SELECT attempts FROM challenges"); n != 1 {
		t.Fatalf("replays counted %d attempts, want 1", n)
	}
	expect(t, h.verifyOtp("v-right", "s1", code), 200, "result", "SUCCESS")
}

func TestIdempotencyViolation(t *testing.T) {
	h := newHarness(t)
	expect(t, h.sendOtp("s1", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	before := h.rowCounts()
	for name, body := range map[string]map[string]any{
		"another account":  {"associationId": "as-2"},
		"another token":    {"associationId": "as-1", "smsMatchingToken": "ZZ12345678C"},
		"an added phone":   {"associationId": "as-1", "accountPhoneNumber": "+919876543210"},
		"an added context": {"associationId": "as-1", "otpContext": map[string]any{"mandateCreation": map[string]any{}}},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, h.sendOtp("s1", body), http.StatusPreconditionFailed, "errorResponseCode", "IDEMPOTENCY_VIOLATION")
		})
	}
	t.Run("another method is a new request", func(t *testing.T) {
		// Google's own seeds do this: their sendOtp and verifyOtp share a
		// requestId (SPEC §4).
		expect(t, h.verifyOtp("s1", "s1", wrongCode(h.lastCode())), 200, "result", "OTP_NOT_MATCHED")
	})
	t.Run("verifyOtp with another code", func(t *testing.T) {
		h.verifyOtp("v1", "s1", "000000")
		expect(t, h.verifyOtp("v1", "s1", "111111"), http.StatusPreconditionFailed, "errorResponseCode", "IDEMPOTENCY_VIOLATION")
	})
	if n := len(h.sms.Messages()); n != 1 {
		t.Errorf("%d SMS, want 1", n)
	}
	after := h.rowCounts()
	after["requests"] -= 2 // the verifyOtp s1 and v1
	after["events"] -= 4   // their failures, per account and per phone
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("412s changed the store:\n%s", diff)
	}
}

func TestErrorsAreNotReplayed(t *testing.T) {
	t.Run("after a 400", func(t *testing.T) {
		h := newHarness(t)
		body := map[string]any{"requestHeader": h.header("s1"), "smsMatchingToken": token, "associationId": "as-1"}
		body["requestHeader"].(map[string]any)["requestTimestamp"] = fmt.Sprint(h.clock.Now().Add(-2 * time.Minute).UnixMilli())
		expect(t, h.post("/v1/sendOtp", body), 400, "errorResponseCode", "REQUEST_TIMESTAMP_OUT_OF_RANGE")
		expect(t, h.sendOtp("s1", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	})
	t.Run("after a 503", func(t *testing.T) {
		h := newHarness(t)
		h.flaky.failures.Store(1)
		r := h.sendOtp("s1", map[string]any{"associationId": "as-1"})
		expectUnavailable(t, r)
		if len(h.sms.Messages()) != 0 {
			t.Fatal("an SMS went out although the claim failed")
		}
		expect(t, h.sendOtp("s1", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
		if n := len(h.sms.Messages()); n != 1 {
			t.Errorf("%d SMS, want 1", n)
		}
	})
	t.Run("after a 404", func(t *testing.T) {
		h := newHarness(t)
		expect(t, h.verifyOtp("v1", "s1", "123456"), 404, "errorResponseCode", "INVALID_IDENTIFIER")
		h.sendOtp("s1", map[string]any{"associationId": "as-1"})
		expect(t, h.verifyOtp("v1", "s1", h.lastCode()), 200, "result", "SUCCESS")
	})
}

func TestConcurrentCorrectCodes(t *testing.T) {
	h := newHarness(t)
	h.sendOtp("s1", map[string]any{"associationId": "as-1"})
	code := h.lastCode()
	results := parallel(20, func(i int) response { return h.verifyOtp(fmt.Sprintf("v%d", i), "s1", code) })
	if got := tally(results); got["SUCCESS"] != 1 || got["OTP_ALREADY_USED"] != 19 {
		t.Fatalf("results %v, want 1 SUCCESS and 19 OTP_ALREADY_USED", got)
	}
}

func TestConcurrentWrongGuessesRespectTheCap(t *testing.T) {
	h := newHarness(t)
	h.sendOtp("s1", map[string]any{"associationId": "as-1"})
	code := h.lastCode()
	results := parallel(20, func(i int) response { return h.verifyOtp(fmt.Sprintf("v%d", i), "s1", wrongCode(code)) })
	if got := tally(results); got["OTP_NOT_MATCHED"] != 20 {
		t.Fatalf("results %v", got)
	}
	if n := h.count("SELECT attempts FROM challenges"); n != h.policy.MaxAttempts {
		t.Errorf("%d attempts recorded, want the cap %d", n, h.policy.MaxAttempts)
	}
	expect(t, h.verifyOtp("v-right", "s1", code), 200, "result", "OTP_NOT_MATCHED")
}

func TestConcurrentDuplicatesSendOneSMS(t *testing.T) {
	h := newHarness(t)
	results := parallel(10, func(int) response { return h.sendOtp("s1", map[string]any{"associationId": "as-1"}) })
	for _, r := range results {
		expect(t, r, 200, "result", "SUCCESS")
		if r.str("paymentIntegratorSendOtpId") != results[0].str("paymentIntegratorSendOtpId") {
			t.Error("duplicates got different answers")
		}
	}
	if n := len(h.sms.Messages()); n != 1 {
		t.Errorf("%d SMS, want 1", n)
	}
}

func parallel(n int, f func(i int) response) []response {
	out := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return out
}

func tally(rs []response) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		key := r.str("result")
		if r.status != 200 {
			key = fmt.Sprintf("%d %s", r.status, r.str("errorResponseCode"))
		}
		m[key]++
	}
	return m
}

// blockingMessenger holds the first SendCode until released, as a process
// that hangs or dies after claiming a sendOtp would.
type blockingMessenger struct {
	otp.Messenger
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingMessenger) SendCode(ctx context.Context, m otp.CodeSMS) (otp.Submission, error) {
	first := false
	b.once.Do(func() { first = true })
	if first {
		sub, err := b.Messenger.SendCode(ctx, m) // the SMS went out...
		close(b.entered)
		<-b.release // ...and the process froze before recording it
		return sub, err
	}
	return b.Messenger.SendCode(ctx, m)
}

func TestResumeAfterAnInstanceDiedMidSend(t *testing.T) {
	bm := &blockingMessenger{entered: make(chan struct{}), release: make(chan struct{})}
	h := newHarness(t, withMessenger(func(m otp.Messenger) otp.Messenger { bm.Messenger = m; return bm }))
	firstDone := make(chan response)
	go func() { firstDone <- h.sendOtp("s1", map[string]any{"associationId": "as-1"}) }()
	<-bm.entered
	oldCode := h.lastCode()

	// While the claim is fresh, a duplicate waits and then gets a 503.
	expectUnavailable(t, h.sendOtp("s1", map[string]any{"associationId": "as-1"}))

	// Once the claim lapses, Google's retry takes the request over.
	h.clock.Advance(h.policy.ClaimLease)
	expect(t, h.sendOtp("s1", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	newCode := h.lastCode()
	if n := len(h.sms.Messages()); n != 2 {
		t.Fatalf("%d SMS, want 2", n)
	}

	// The frozen attempt wakes up: it must not overwrite the new outcome.
	close(bm.release)
	if r := <-firstDone; r.status != 503 {
		t.Errorf("the stale attempt answered %d %s, want 503", r.status, r.raw)
	}
	if oldCode != newCode {
		expect(t, h.verifyOtp("v1", "s1", oldCode), 200, "result", "OTP_NOT_MATCHED")
	}
	expect(t, h.verifyOtp("v2", "s1", newCode), 200, "result", "SUCCESS")
	// And the retry after all that still replays SUCCESS.
	expect(t, h.sendOtp("s1", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
	if n := len(h.sms.Messages()); n != 2 {
		t.Errorf("%d SMS, want 2", n)
	}
}
