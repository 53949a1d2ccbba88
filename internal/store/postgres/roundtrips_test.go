package postgres_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/pgtest"
	"github.com/otpgate/otpgate/internal/store/postgres"
)

// lastCode is an otp.Messenger that keeps the last code it was given.
type lastCode struct {
	mu   sync.Mutex
	code string
}

func (m *lastCode) SendCode(_ context.Context, msg otp.CodeSMS) (otp.Submission, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.code = msg.Code
	return otp.Submission{Provider: "test", MessageID: "m-" + msg.Code}, nil
}

func (m *lastCode) last() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.code
}

// roundTripBudget is how many round trips to the server each request of a
// flow may take, with the default policy (its budgets cost a count each):
// sendOtp and authenticate are a claiming and a recording transaction,
// verifyOtp one. Before pipelining they took 25 and 12. Raising a number
// here is a decision to make a flow slower.
var roundTripBudget = map[string]int64{
	"sendOtp":                   12,
	"verifyOtp of sendOtp":      7,
	"authenticate":              12,
	"verifyOtp of authenticate": 7,
}

// TestRoundTripsPerFlow counts the round trips between a store and the server
// for each request of a sendOtp flow and an India Cards flow, each run on a
// warm connection (its statements prepared), and fails when one takes more
// than roundTripBudget allows.
func TestRoundTripsPerFlow(t *testing.T) {
	ctx := context.Background()
	var sent atomic.Int64
	s, err := postgres.OpenCounting(ctx, pgtest.NewDatabase(t), postgres.Options{MaxConns: 1}, &sent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cards, err := otp.NewCardHasher(bytes.Repeat([]byte("c"), 32))
	if err != nil {
		t.Fatal(err)
	}
	const number = "4111111111111111"
	err = s.ImportAccounts(ctx, []otp.Account{
		{ID: "A1", Phone: "+919800000001", Status: otp.StatusActive, AssociationIDs: []string{"as-1"}},
		{ID: "A2", Phone: "+919800000002", Status: otp.StatusActive,
			Cards: []otp.Card{{Hash: cards.Hash(number), SecretID: cards.Writer().ID, Last4: "1111", ExpiryYear: 2040, ExpiryMonth: 12}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := &lastCode{}
	svc, err := otp.New(otp.Config{Store: s, Messenger: m, Policy: otp.DefaultPolicy(), Secret: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	ref := func(method, id string) otp.Ref {
		return otp.Ref{Scope: "piaid", RequestID: id, Method: method, Fingerprint: []byte(method + id)}
	}
	// count runs one request and checks its round trips against the budget.
	count := func(name string, measure bool, run func() (otp.Outcome, error)) {
		t.Helper()
		sent.Store(0)
		out, err := run()
		if err != nil || out.Result != otp.SendSuccess {
			t.Fatalf("%s = %+v, %v", name, out, err)
		}
		if !measure {
			return
		}
		got := sent.Load()
		t.Logf("%s: %d round trips", name, got)
		if got > roundTripBudget[name] {
			t.Errorf("%s took %d round trips, more than the %d it needs", name, got, roundTripBudget[name])
		}
	}
	for i, measure := range []bool{false, true} { // the first run prepares the statements
		id := []string{"warm", "measured"}[i]
		count("sendOtp", measure, func() (otp.Outcome, error) {
			return svc.Send(ctx, otp.SendRequest{Ref: ref("sendOtp", "s-"+id), Phone: "+919800000001", PhoneValid: true, AssociationID: "as-1"})
		})
		count("verifyOtp of sendOtp", measure, func() (otp.Outcome, error) {
			return svc.Verify(ctx, otp.VerifyRequest{Ref: ref("verifyOtp", "v-"+id), SendRequestID: "s-" + id, SendMethod: "sendOtp", Code: m.last()})
		})
		count("authenticate", measure, func() (otp.Outcome, error) {
			return svc.Authenticate(ctx, otp.AuthenticateRequest{Ref: ref("authenticate", "a-"+id), CardHashes: cards.Lookup(number),
				ExpiryYear: 2040, ExpiryMonth: 12, NativeOtp: true, AmountMicros: 1_000_000, CurrencyCode: "INR", Last4: "1111"})
		})
		count("verifyOtp of authenticate", measure, func() (otp.Outcome, error) {
			return svc.Verify(ctx, otp.VerifyRequest{Ref: ref("verifyOtp", "va-"+id), SendRequestID: "a-" + id, SendMethod: "authenticate", Code: m.last()})
		})
	}
}
