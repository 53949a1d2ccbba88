package sqlite_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/sqlite"
)

// statementBudget is how many statements each request of a flow may run on
// the writer (its units' statements; BEGIN, COMMIT and savepoints are the
// writer's own), with the default policy. The writer is the embedded store's
// ceiling, and most of its time is the units' statements: raising a number
// here is a decision to make the store slower. Before the budgets were
// counted in one statement, the events added in one, a challenge's state
// and submission written in one, and the account of a new request looked
// up on a read connection (Store.Read), a send took 18 and a verify 8.
var statementBudget = map[string]int64{
	"sendOtp":                   10,
	"verifyOtp of sendOtp":      7,
	"authenticate":              10,
	"verifyOtp of authenticate": 7,
}

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

// TestStatementsPerFlow counts the statements that each request of a sendOtp
// flow and an India Cards flow runs on the writer, and fails when one runs
// more than statementBudget allows.
func TestStatementsPerFlow(t *testing.T) {
	bg := context.Background()
	s, err := sqlite.Open(bg, filepath.Join(t.TempDir(), "otpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cards, err := otp.NewCardHasher(bytes.Repeat([]byte("c"), 32))
	if err != nil {
		t.Fatal(err)
	}
	const cardNumber = "4111111111111111"
	err = s.ImportAccounts(bg, []otp.Account{
		{ID: "A1", Phone: "+919800000001", Status: otp.StatusActive, AssociationIDs: []string{"as-1"}},
		{ID: "A2", Phone: "+919800000002", Status: otp.StatusActive,
			Cards: []otp.Card{{Hash: cards.Hash(cardNumber), SecretID: cards.Writer().ID, Last4: "1111", ExpiryYear: 2040, ExpiryMonth: 12}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := &lastCode{}
	svc, err := otp.New(otp.Config{Store: s, Messenger: m, Policy: otp.DefaultPolicy(), Secret: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int64
	ctx := sqlite.CountStatements(bg, &ran)
	ref := func(method, id string) otp.Ref {
		return otp.Ref{Scope: "piaid", RequestID: id, Method: method, Fingerprint: []byte(method + id)}
	}
	steps := []struct {
		name string
		run  func() (otp.Outcome, error)
	}{
		{"sendOtp", func() (otp.Outcome, error) {
			return svc.Send(ctx, otp.SendRequest{Ref: ref("sendOtp", "s"), Phone: "+919800000001", PhoneValid: true, AssociationID: "as-1"})
		}},
		{"verifyOtp of sendOtp", func() (otp.Outcome, error) {
			return svc.Verify(ctx, otp.VerifyRequest{Ref: ref("verifyOtp", "v"), SendRequestID: "s", SendMethod: "sendOtp", Code: m.last()})
		}},
		{"authenticate", func() (otp.Outcome, error) {
			return svc.Authenticate(ctx, otp.AuthenticateRequest{Ref: ref("authenticate", "a"), CardHashes: cards.Lookup(cardNumber),
				ExpiryYear: 2040, ExpiryMonth: 12, NativeOtp: true, AmountMicros: 1_000_000, CurrencyCode: "INR", Last4: "1111"})
		}},
		{"verifyOtp of authenticate", func() (otp.Outcome, error) {
			return svc.Verify(ctx, otp.VerifyRequest{Ref: ref("verifyOtp", "va"), SendRequestID: "a", SendMethod: "authenticate", Code: m.last()})
		}},
	}
	for _, st := range steps {
		ran.Store(0)
		if out, err := st.run(); err != nil || out.Result != otp.SendSuccess {
			t.Fatalf("%s = %+v, %v", st.name, out, err)
		}
		got := ran.Load()
		t.Logf("%s: %d statements on the writer", st.name, got)
		if got > statementBudget[st.name] {
			t.Errorf("%s ran %d statements on the writer, more than the %d it needs", st.name, got, statementBudget[st.name])
		}
	}
}
