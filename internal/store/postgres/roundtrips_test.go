package postgres_test

import (
	"bytes"
	"context"
	"strconv"
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
// flow may take, with the default policy: sendOtp and authenticate are a
// claiming and a recording transaction, verifyOtp one. Before pipelining
// they took 25 and 12; before every budget of a request was counted in one
// statement (it was a round trip per budget and subject, six of a send's),
// 12 and 7. Raising a number here is a decision to make a flow slower.
var roundTripBudget = map[string]int64{
	"sendOtp":                   7,
	"verifyOtp of sendOtp":      6,
	"authenticate":              7,
	"verifyOtp of authenticate": 6,
}

// flows is a Service on a Store whose round trips are counted, with an
// account for sendOtp and one with a card for India Cards.
type flows struct {
	svc   *otp.Service
	sent  *atomic.Int64
	m     *lastCode
	cards otp.CardHasher
}

const cardNumber = "4111111111111111"

// newFlows opens a Store with one connection (so that a flow runs on a warm
// one) and policy's budgets.
func newFlows(tb testing.TB, policy otp.Policy) *flows {
	ctx := context.Background()
	f := &flows{sent: &atomic.Int64{}, m: &lastCode{}}
	s, err := postgres.OpenCounting(ctx, pgtest.NewDatabase(tb), postgres.Options{MaxConns: 1}, f.sent)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if f.cards, err = otp.NewCardHasher(bytes.Repeat([]byte("c"), 32)); err != nil {
		tb.Fatal(err)
	}
	err = s.ImportAccounts(ctx, []otp.Account{
		{ID: "A1", Phone: "+919800000001", Status: otp.StatusActive, AssociationIDs: []string{"as-1"}},
		{ID: "A2", Phone: "+919800000002", Status: otp.StatusActive,
			Cards: []otp.Card{{Hash: f.cards.Hash(cardNumber), SecretID: f.cards.Writer().ID, Last4: "1111", ExpiryYear: 2040, ExpiryMonth: 12}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if f.svc, err = otp.New(otp.Config{Store: s, Messenger: f.m, Policy: policy, Secret: bytes.Repeat([]byte("k"), 32)}); err != nil {
		tb.Fatal(err)
	}
	return f
}

func ref(method, id string) otp.Ref {
	return otp.Ref{Scope: "piaid", RequestID: id, Method: method, Fingerprint: []byte(method + id)}
}

// steps are the requests of the two flows with request ids of id.
func (f *flows) steps(id string) []step {
	ctx := context.Background()
	return []step{
		{"sendOtp", func() (otp.Outcome, error) {
			return f.svc.Send(ctx, otp.SendRequest{Ref: ref("sendOtp", "s-"+id), Phone: "+919800000001", PhoneValid: true, AssociationID: "as-1"})
		}},
		{"verifyOtp of sendOtp", func() (otp.Outcome, error) {
			return f.svc.Verify(ctx, otp.VerifyRequest{Ref: ref("verifyOtp", "v-"+id), SendRequestID: "s-" + id, SendMethod: "sendOtp", Code: f.m.last()})
		}},
		{"authenticate", func() (otp.Outcome, error) {
			return f.svc.Authenticate(ctx, otp.AuthenticateRequest{Ref: ref("authenticate", "a-"+id), CardHashes: f.cards.Lookup(cardNumber),
				ExpiryYear: 2040, ExpiryMonth: 12, NativeOtp: true, AmountMicros: 1_000_000, CurrencyCode: "INR", Last4: "1111"})
		}},
		{"verifyOtp of authenticate", func() (otp.Outcome, error) {
			return f.svc.Verify(ctx, otp.VerifyRequest{Ref: ref("verifyOtp", "va-"+id), SendRequestID: "a-" + id, SendMethod: "authenticate", Code: f.m.last()})
		}},
	}
}

type step struct {
	name string
	run  func() (otp.Outcome, error)
}

// TestRoundTripsPerFlow counts the round trips between a store and the server
// for each request of a sendOtp flow and an India Cards flow, each run on a
// warm connection (its statements prepared), and fails when one takes more
// than roundTripBudget allows.
func TestRoundTripsPerFlow(t *testing.T) {
	f := newFlows(t, otp.DefaultPolicy())
	for _, id := range []string{"warm", "measured"} { // the first run prepares the statements
		for _, s := range f.steps(id) {
			f.sent.Store(0)
			if out, err := s.run(); err != nil || out.Result != otp.SendSuccess {
				t.Fatalf("%s = %+v, %v", s.name, out, err)
			}
			if id == "warm" {
				continue
			}
			got := f.sent.Load()
			t.Logf("%s: %d round trips", s.name, got)
			if got > roundTripBudget[s.name] {
				t.Errorf("%s took %d round trips, more than the %d it needs", s.name, got, roundTripBudget[s.name])
			}
		}
	}
}

// BenchmarkFlows runs both flows one request at a time, as one client would:
// the time of a flow is mostly its round trips' waits for the server.
//
//	go test ./internal/store/postgres -run '^$' -bench Flows -count 5
func BenchmarkFlows(b *testing.B) {
	policy := otp.DefaultPolicy()
	// The default budgets' windows and counts, so that a flow makes as many
	// counts as in production, but never spent.
	for _, list := range []*[]otp.Budget{&policy.SendBudgets, &policy.FailBudgets} {
		for i := range *list {
			(*list)[i].Count = 1 << 30
		}
	}
	f := newFlows(b, policy)
	f.sent.Store(0)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for _, s := range f.steps(strconv.Itoa(i)) {
			if out, err := s.run(); err != nil || out.Result != otp.SendSuccess {
				b.Fatalf("%s = %+v, %v", s.name, out, err)
			}
		}
	}
	b.ReportMetric(float64(f.sent.Load())/float64(b.N), "round-trips/op")
}
