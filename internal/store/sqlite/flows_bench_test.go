package sqlite_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/sqlite"
)

// BenchmarkSequentialFlows runs a sendOtp flow (send, verify) at a time on
// the store alone, synchronous normal, over 1,000 accounts in turn (so that
// no subject's history grows long), and reports the writer's busy time per
// flow: the cost that fewer statements per unit saves, without the HTTP
// exchange of storebench.
//
//	go test ./internal/store/sqlite -run - -bench SequentialFlows -benchtime 3000x -count 3
func BenchmarkSequentialFlows(b *testing.B) {
	bg := context.Background()
	s, err := sqlite.OpenWith(bg, filepath.Join(b.TempDir(), "otpgate.db"), sqlite.Options{Synchronous: "normal"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	const accounts = 1000
	var directory []otp.Account
	for i := range accounts {
		n := strconv.Itoa(i)
		directory = append(directory, otp.Account{ID: "A" + n, Phone: "+91980000" + strconv.Itoa(1000+i),
			Status: otp.StatusActive, AssociationIDs: []string{"as-" + n}})
	}
	if err := s.ImportAccounts(bg, directory); err != nil {
		b.Fatal(err)
	}
	m := &lastCode{}
	policy := otp.DefaultPolicy()
	for _, list := range []*[]otp.Budget{&policy.SendBudgets, &policy.FailBudgets} {
		for i := range *list {
			(*list)[i].Count = 1 << 30 // counted as in production, never spent
		}
	}
	svc, err := otp.New(otp.Config{Store: s, Messenger: m, Policy: policy, Secret: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		b.Fatal(err)
	}
	ref := func(method, id string) otp.Ref {
		return otp.Ref{Scope: "piaid", RequestID: id, Method: method, Fingerprint: []byte(method + id)}
	}
	busy := s.WriterStats().Busy
	for i := 0; b.Loop(); i++ {
		id, a := strconv.Itoa(i), directory[i%accounts]
		out, err := svc.Send(bg, otp.SendRequest{Ref: ref("sendOtp", "s"+id), Phone: a.Phone, PhoneValid: true, AssociationID: a.AssociationIDs[0]})
		if err != nil || out.Result != otp.SendSuccess {
			b.Fatalf("sendOtp = %+v, %v", out, err)
		}
		out, err = svc.Verify(bg, otp.VerifyRequest{Ref: ref("verifyOtp", "v"+id), SendRequestID: "s" + id, SendMethod: "sendOtp", Code: m.last()})
		if err != nil || out.Result != otp.VerifySuccess {
			b.Fatalf("verifyOtp = %+v, %v", out, err)
		}
	}
	b.ReportMetric(float64((s.WriterStats().Busy-busy).Microseconds())/float64(b.N), "writer-µs/flow")
}

// BenchmarkBudgetCounts is the budget check of a send with the default
// policy (an account and its phone, three budgets each) in one unit of the
// writer: the six counts as one statement (CountEventsMany), against one
// statement each (CountEvents), as they were. Each subject has a few recent
// events, as a real one does. An op is 100 checks.
//
//	go test ./internal/store/sqlite -run - -bench BudgetCounts -count 3
func BenchmarkBudgetCounts(b *testing.B) {
	bg := context.Background()
	s, err := sqlite.OpenWith(bg, filepath.Join(b.TempDir(), "otpgate.db"), sqlite.Options{Synchronous: "normal"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	now := time.UnixMilli(1_763_000_000_000)
	subjects := []string{"account:A1", "phone:0123456789abcdef0123456789abcdef"}
	if err := s.Tx(bg, func(tx otp.Tx) error {
		for i := range 3 {
			if err := tx.AddEvents(otp.EventSend, subjects, now.Add(-time.Duration(i)*time.Minute)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	var counts []otp.EventCount
	for _, subject := range subjects {
		for _, c := range []struct {
			kind otp.EventKind
			per  time.Duration
			n    int
		}{{otp.EventSend, 15 * time.Minute, 5}, {otp.EventSend, 24 * time.Hour, 10}, {otp.EventVerifyFail, 24 * time.Hour, 20}} {
			counts = append(counts, otp.EventCount{Kind: c.kind, Subjects: []string{subject}, Since: now.Add(-c.per), AtMost: c.n})
		}
	}
	// Many checks per unit, so that an op is the statements' time, not the
	// unit's BEGIN and COMMIT: ns/op divided by checksPerUnit is one check.
	const checksPerUnit = 100
	b.Run("one statement", func(b *testing.B) {
		for b.Loop() {
			if err := s.Tx(bg, func(tx otp.Tx) error {
				for range checksPerUnit {
					if _, err := tx.CountEventsMany(counts); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("a statement per count", func(b *testing.B) {
		for b.Loop() {
			if err := s.Tx(bg, func(tx otp.Tx) error {
				for range checksPerUnit {
					for _, c := range counts {
						if _, err := tx.CountEvents(c.Kind, c.Subjects[0], c.Since, c.AtMost); err != nil {
							return err
						}
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
