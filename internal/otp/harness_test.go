package otp_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/inmem"
	"github.com/otpgate/otpgate/internal/store/sqlite"
)

// The domain's tests run on the in-memory store, which passes the same
// behaviour suite (internal/store/storetest) as the databases do, so that
// they need no database and take milliseconds. Those that look at what lies
// at rest in the tables run on the embedded store (newSQLiteHarness).

// now is the tests' clock: a fixed instant, so that expiries are exact.
var now = time.Date(2026, time.March, 15, 10, 0, 0, 0, time.UTC)

const (
	piaid  = "SpeedyPaymentsIndia_INR"
	phone1 = "+919876543210"
	phone2 = "+919812345678"
)

// text is one SMS the recorder was given.
type text struct {
	phone, code, token string
	card               *otp.CardSMS // what a card authentication's text states
}

// recorder is an otp.Messenger that accepts every message and keeps it.
type recorder struct {
	mu    sync.Mutex
	texts []text
}

func (r *recorder) SendCode(_ context.Context, m otp.CodeSMS) (otp.Submission, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.texts = append(r.texts, text{m.Phone, m.Code, m.SMSMatchingToken, m.Card})
	return otp.Submission{Provider: "recorder"}, nil
}

func (r *recorder) sent() []text {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]text(nil), r.texts...)
}

// codeFor is the code of the newest SMS to phone, or "".
func (r *recorder) codeFor(phone string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.texts) - 1; i >= 0; i-- {
		if r.texts[i].phone == phone {
			return r.texts[i].code
		}
	}
	return ""
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
	store otp.Store
	db    *sql.DB // the tables under store, on SQLite only
	sms   *recorder
	cfg   otp.Config // svc's
}

// newHarness is a Service on a new database holding accounts.
func newHarness(t *testing.T, accounts ...otp.Account) *harness {
	t.Helper()
	return newHarnessWith(t, nil, accounts...)
}

// newHarnessWith is newHarness with configure changing the Service's
// configuration first.
func newHarnessWith(t *testing.T, configure func(*otp.Config), accounts ...otp.Account) *harness {
	t.Helper()
	return newHarnessOn(t, inmem.New(), nil, configure, accounts...)
}

// newSQLiteHarness is newHarnessWith on a new SQLite database, for tests
// that read its tables.
func newSQLiteHarness(t *testing.T, configure func(*otp.Config), accounts ...otp.Account) *harness {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "otpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newHarnessOn(t, st, st.DB(), configure, accounts...)
}

func newHarnessOn(t *testing.T, st otp.Store, db *sql.DB, configure func(*otp.Config), accounts ...otp.Account) *harness {
	t.Helper()
	if err := st.ImportAccounts(context.Background(), accounts); err != nil {
		t.Fatal(err)
	}
	sms := &recorder{}
	cfg := otp.Config{Store: st, Messenger: sms, Policy: otp.DefaultPolicy(),
		Secret: bytes.Repeat([]byte("s"), 32), Now: func() time.Time { return now }}
	if configure != nil {
		configure(&cfg)
	}
	h := &harness{store: st, db: db, sms: sms, cfg: cfg}
	h.restart(t, nil)
	return h
}

// restart replaces the Service with a new one on the same database, as a
// restart of otpgate would, reading the code secrets keys (nil: the
// configuration's).
func (h *harness) restart(t *testing.T, keys *otp.Keyring) {
	t.Helper()
	cfg := h.cfg
	if keys != nil {
		cfg.Secrets = keys
	}
	svc, err := otp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
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
		CardHashes: lookup(hash), ExpiryYear: year, ExpiryMonth: month, NativeOtp: true,
		AmountMicros: 728_000_000, CurrencyCode: "INR"}
}

// lookup is what an authenticate looks a number up by when one card secret
// is listed: its one hash, or nothing for none.
func lookup(hash []byte) [][]byte {
	if hash == nil {
		return nil
	}
	return [][]byte{hash}
}

// expect fails the test unless out and err are the business result want.
func expect(t *testing.T, what string, out otp.Outcome, err error, want string) {
	t.Helper()
	if err != nil || out.Result != want {
		t.Errorf("%s = %+v, %v; want %s", what, out, err, want)
	}
}

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// wrong is a code of the right shape that is not code.
func wrong(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}
