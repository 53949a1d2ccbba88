package server_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// The benchmarks run the whole pipeline over HTTP on loopback, on the real
// SQLite store, with the plaintext envelope and a recording SMS sender, from
// as many goroutines as GOMAXPROCS.

func benchHarness(b *testing.B) *harness {
	return newHarness(b, withPolicy(func(p *otp.Policy) {
		p.SendBudgets = []otp.Budget{{Count: 1 << 30, Per: time.Hour}}
		p.FailBudgets = []otp.Budget{{Count: 1 << 30, Per: time.Hour}}
	}))
}

var benchSeq atomic.Int64

func benchID(prefix string) string { return fmt.Sprintf("%s-%d", prefix, benchSeq.Add(1)) }

// BenchmarkVerifyOtp: a fresh requestId against a consumed code, i.e. a read,
// a compare and one committed insert per request.
func BenchmarkVerifyOtp(b *testing.B) {
	h := benchHarness(b)
	h.sendOtp("s1", map[string]any{"associationId": "as-1"})
	code := h.lastCode()
	h.verifyOtp("v0", "s1", code)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := h.verifyOtp(benchID("v"), "s1", code); r.str("result") != "OTP_ALREADY_USED" {
				b.Fatalf("%d %s", r.status, r.raw)
			}
		}
	})
}

// BenchmarkSendOtp: claim, SMS (recorded in memory), record.
func BenchmarkSendOtp(b *testing.B) {
	h := benchHarness(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := h.sendOtp(benchID("s"), map[string]any{"associationId": "as-1"}); r.str("result") != "SUCCESS" {
				b.Fatalf("%d %s", r.status, r.raw)
			}
		}
	})
}
