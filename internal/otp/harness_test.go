package otp_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/sqlite"
)

// The domain's tests run on the real embedded store: a fake would only
// prove that the fake agrees with the domain.

// now is the tests' clock: a fixed instant, so that expiries are exact.
var now = time.Date(2026, time.March, 15, 10, 0, 0, 0, time.UTC)

const (
	piaid  = "SpeedyPaymentsIndia_INR"
	phone1 = "+919876543210"
	phone2 = "+919812345678"
)

// text is one SMS the recorder was given.
type text struct{ phone, code string }

// recorder is an otp.Messenger that accepts every message and keeps it.
type recorder struct {
	mu    sync.Mutex
	texts []text
}

func (r *recorder) SendCode(_ context.Context, phone, code, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.texts = append(r.texts, text{phone, code})
	return nil
}

func (r *recorder) sent() []text {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]text(nil), r.texts...)
}

// last is the newest SMS; the test fails when there is none.
func (r *recorder) last(t *testing.T) text {
	t.Helper()
	texts := r.sent()
	if len(texts) == 0 {
		t.Fatal("no SMS was sent")
	}
	return texts[len(texts)-1]
}

type harness struct {
	svc   *otp.Service
	store *sqlite.Store
	sms   *recorder
}

// newHarness is a Service on a new database holding accounts.
func newHarness(t *testing.T, accounts ...otp.Account) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "otpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.ImportAccounts(ctx, accounts); err != nil {
		t.Fatal(err)
	}
	sms := &recorder{}
	svc, err := otp.New(otp.Config{Store: st, Messenger: sms, Policy: otp.DefaultPolicy(),
		Secret: bytes.Repeat([]byte("s"), 32), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{svc: svc, store: st, sms: sms}
}

// record reads the idempotency record (scope, method, id), or nil.
func (h *harness) record(t *testing.T, scope, method, id string) *otp.Request {
	t.Helper()
	var r *otp.Request
	err := h.store.Tx(context.Background(), func(tx otp.Tx) (err error) {
		r, err = tx.LockRequest(scope, method, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ref is the Ref of a request whose payload is fingerprinted as payload.
func ref(scope, method, id, payload string) otp.Ref {
	return otp.Ref{Scope: scope, RequestID: id, Method: method, Fingerprint: []byte(payload)}
}

// cardHasher keys the tests' card and token numbers, as the deployment's
// card secret would.
var cardHasher = func() otp.CardHasher {
	h, err := otp.NewCardHasher(bytes.Repeat([]byte("c"), 32))
	if err != nil {
		panic(err)
	}
	return h
}()

// visaCard is a card on file, expiring in January 2030.
var visaCard = otp.Card{Hash: cardHasher.Hash("4111111111111111"), Last4: "1111", ExpiryYear: 2030, ExpiryMonth: 1}

// byCard is an authenticate asking for a native OTP for the card hash with
// the given expiry.
func byCard(id string, hash []byte, year, month int) otp.AuthenticateRequest {
	return otp.AuthenticateRequest{Ref: ref(piaid, "authenticate", id, "authenticate "+id),
		CardHash: hash, ExpiryYear: year, ExpiryMonth: month, NativeOtp: true}
}

// expect fails the test unless out and err are the business result want.
func expect(t *testing.T, what string, out otp.Outcome, err error, want string) {
	t.Helper()
	if err != nil || out.Result != want {
		t.Errorf("%s = %+v, %v; want %s", what, out, err, want)
	}
}
