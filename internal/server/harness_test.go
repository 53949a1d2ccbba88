package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/server"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/sms/smstest"
	"github.com/otpgate/otpgate/internal/store/sqlite"
	"github.com/otpgate/otpgate/internal/testutil/syncbuf"
)

// Directory of every test: one account per status, plus a second active one.
var testAccounts = []otp.Account{
	{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive, AssociationIDs: []string{"as-1"}},
	{ID: "A2", Phone: "+919812345678", Status: otp.StatusActive, AssociationIDs: []string{"as-2"}},
	{ID: "C1", Phone: "+919811111111", Status: otp.StatusClosed, AssociationIDs: []string{"as-closed"}},
	{ID: "C2", Phone: "+919822222222", Status: otp.StatusClosedAccountTakenOver, AssociationIDs: []string{"as-taken"}},
	{ID: "C3", Phone: "+919833333333", Status: otp.StatusClosedFraud, AssociationIDs: []string{"as-fraud"}},
	{ID: "N1", Phone: "+919844444444", Status: otp.StatusNotEligible, AssociationIDs: []string{"as-ne"}},
}

const token = "AB12345678C"

// The PIAIDs the test deployment serves; the first is the seeds'.
const (
	piaid      = "SpeedyPaymentsIndia_INR"
	otherPIAID = "OtherIssuer_INR"
)

// Test cards (the first is Google's example card), by account. Expiry years
// are four digits; the test clock is in November 2025.
var testCards = map[string][]struct {
	number      string
	year, month int
}{
	"A1": {{"4123456789101112", 2030, 1}},
	"A2": {{"4111111111111111", 2025, 10}}, // expired
	"C1": {{"5555555555554444", 2030, 12}},
	"N1": {{"4012888888881881", 2030, 12}},
}

// withCards gives testAccounts their cards, keyed by hasher.
func withCards(hasher otp.CardHasher) []otp.Account {
	accts := append([]otp.Account(nil), testAccounts...)
	for i, a := range accts {
		for _, c := range testCards[a.ID] {
			accts[i].Cards = append(accts[i].Cards, otp.Card{Hash: hasher.Hash(c.number), Last4: c.number[len(c.number)-4:],
				ExpiryYear: c.year, ExpiryMonth: c.month})
		}
	}
	return accts
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// flakyStore fails the next n transactions as a database outage would.
type flakyStore struct {
	otp.Store
	failures atomic.Int32
}

func (f *flakyStore) Tx(ctx context.Context, fn func(otp.Tx) error) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("database is down (simulated)")
	}
	return f.Store.Tx(ctx, fn)
}

type harness struct {
	t      testing.TB
	url    string
	admin  string // the admin port: metrics, pprof
	clock  *fakeClock
	sms    *smstest.Recorder
	store  *sqlite.Store
	flaky  *flakyStore
	svc    *otp.Service
	dbPath string
	logs   *syncbuf.Buffer
	policy otp.Policy
	google envelope.Codec // nil: plain JSON
	// bodies of every response, for leak scans
	mu        sync.Mutex
	responses []string
}

type option func(*harnessConfig)

type harnessConfig struct {
	policy    otp.Policy
	messenger func(otp.Messenger) otp.Messenger
	templates map[sms.Flow]sms.Template
	maxBody   int64
	codec     envelope.Codec
	google    envelope.Codec
	basePath  string
	start     time.Time
	codes     []string
	accounts  func(otp.CardHasher) []otp.Account
	piaids    []string
	surfaces  []*server.Surface
	server    func(*server.Config)
	http      func(*http.Server)
	store     func(otp.Store) otp.Store
}

// withServer changes the server's configuration.
func withServer(f func(*server.Config)) option { return func(hc *harnessConfig) { hc.server = f } }

// withHTTP changes the http.Server of Google's port before it starts.
func withHTTP(f func(*http.Server)) option { return func(hc *harnessConfig) { hc.http = f } }

// withStore wraps the store the domain uses.
func withStore(wrap func(otp.Store) otp.Store) option {
	return func(hc *harnessConfig) { hc.store = wrap }
}

// withStart sets the fake clock's first reading.
func withStart(t time.Time) option { return func(hc *harnessConfig) { hc.start = t } }

// withCodes makes the server send these codes, in order, then the last one
// again: Google's examples verify the code of the example.
func withCodes(codes ...string) option { return func(hc *harnessConfig) { hc.codes = codes } }

// withAccounts replaces the test directory.
func withAccounts(f func(otp.CardHasher) []otp.Account) option {
	return func(hc *harnessConfig) { hc.accounts = f }
}

// withPIAIDs adds PIAIDs to the two every harness serves.
func withPIAIDs(ids ...string) option { return func(hc *harnessConfig) { hc.piaids = ids } }

func withSurfaces(s ...*server.Surface) option { return func(hc *harnessConfig) { hc.surfaces = s } }

func withBasePath(p string) option {
	return func(hc *harnessConfig) { hc.basePath = p }
}

func withCodec(c envelope.Codec) option {
	return func(hc *harnessConfig) { hc.codec = c }
}

// withEnvelope protects bodies: server is the deployment's codec, google the
// one the harness plays Google with (Google's private keys, our public ones).
func withEnvelope(server, google envelope.Codec) option {
	return func(hc *harnessConfig) { hc.codec, hc.google = server, google }
}

func withPolicy(f func(*otp.Policy)) option {
	return func(c *harnessConfig) { f(&c.policy) }
}

func withMessenger(wrap func(otp.Messenger) otp.Messenger) option {
	return func(c *harnessConfig) { c.messenger = wrap }
}

// withTemplates texts through an sms.Messenger of these templates per flow,
// as a deployment with templates configured does, instead of the one
// template of sms.CodeMessenger.
func withTemplates(t map[sms.Flow]sms.Template) option {
	return func(c *harnessConfig) { c.templates = t }
}

func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	cfg := harnessConfig{policy: otp.DefaultPolicy(), start: time.UnixMilli(1_763_000_000_000)}
	cfg.policy.InFlightWait = 200 * time.Millisecond
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "otpgate.db")
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hasher, err := otp.NewCardHasher(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	accounts := withCards(hasher)
	if cfg.accounts != nil {
		accounts = cfg.accounts(hasher)
	}
	if err := st.ImportAccounts(ctx, accounts); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: &fakeClock{t: cfg.start}, sms: &smstest.Recorder{},
		store: st, flaky: &flakyStore{Store: st}, dbPath: dbPath, logs: &syncbuf.Buffer{}, policy: cfg.policy}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	composer, err := sms.NewComposer(sms.DefaultTemplate, cfg.policy.CodeLength)
	if err != nil {
		t.Fatal(err)
	}
	metrics := server.NewMetrics()
	var messenger otp.Messenger = sms.CodeMessenger{Composer: composer, Sender: metrics.InstrumentSender(h.sms)}
	if cfg.templates != nil {
		set, err := sms.NewTemplateSet(sms.TemplateSetConfig{CodeLength: cfg.policy.CodeLength, Templates: cfg.templates})
		if err != nil {
			t.Fatal(err)
		}
		messenger = sms.Messenger{Templates: set, Sender: metrics.InstrumentSender(h.sms)}
	}
	if cfg.messenger != nil {
		messenger = cfg.messenger(messenger)
	}
	var newCode func(int) string
	if len(cfg.codes) > 0 {
		var mu sync.Mutex
		codes := cfg.codes
		newCode = func(int) string {
			mu.Lock()
			defer mu.Unlock()
			c := codes[0]
			if len(codes) > 1 {
				codes = codes[1:]
			}
			return c
		}
	}
	var store otp.Store = h.flaky
	if cfg.store != nil {
		store = cfg.store(store)
	}
	svc, err := otp.New(otp.Config{Store: store, Messenger: messenger, Policy: cfg.policy,
		Secret: bytes.Repeat([]byte{7}, 32), Now: h.clock.Now, Logger: log, NewCode: newCode})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	h.google = cfg.google
	codec := cfg.codec
	if codec == nil {
		codec = envelope.Plain{}
	}
	scfg := server.Config{BasePath: cfg.basePath, Codec: codec, OTP: svc, DB: st, Metrics: metrics, Logger: log,
		Now: h.clock.Now, Window: time.Minute, MaxBodyBytes: cfg.maxBody, ParsePhone: phone.Parse,
		PIAIDs: append([]string{piaid, otherPIAID}, cfg.piaids...), Cards: hasher, ECI: "07",
		Surfaces: cfg.surfaces}
	if cfg.server != nil {
		cfg.server(&scfg)
	}
	srv := server.New(scfg)
	ts := httptest.NewUnstartedServer(srv.Handler())
	if cfg.http != nil {
		cfg.http(ts.Config)
	}
	ts.Start()
	t.Cleanup(ts.Close)
	admin := httptest.NewServer(srv.AdminHandler())
	t.Cleanup(admin.Close)
	h.url, h.admin = ts.URL, admin.URL
	return h
}

// header is a legacy requestHeader stamped with the fake clock's now.
func (h *harness) header(requestID string) map[string]any {
	return map[string]any{
		"protocolVersion":  map[string]any{"major": 1, "minor": 0, "revision": 0},
		"requestId":        requestID,
		"requestTimestamp": strconv.FormatInt(h.clock.Now().UnixMilli(), 10),
	}
}

type response struct {
	status int
	body   map[string]any
	raw    string
}

func (r response) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// postRaw sends body, sealed as Google would when the harness has an
// envelope, and returns the answer, opened.
func (h *harness) postRaw(path string, body []byte) response {
	h.t.Helper()
	contentType := "application/json"
	if h.google != nil {
		sealed, err := h.google.Seal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		body, contentType = sealed, h.google.ContentType()
	}
	return h.postSealed(path, contentType, body)
}

// postSealed sends body as it is and opens the answer.
func (h *harness) postSealed(path, contentType string, body []byte) response {
	h.t.Helper()
	resp, err := http.Post(h.url+path, contentType, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.google != nil && len(raw) > 0 && resp.Header.Get("Content-Type") == h.google.ContentType() {
		if raw, err = h.google.Open(raw); err != nil {
			h.t.Fatalf("the answer (%d) does not open as Google would open it: %v", resp.StatusCode, err)
		}
	}
	h.mu.Lock()
	h.responses = append(h.responses, string(raw))
	h.mu.Unlock()
	r := response{status: resp.StatusCode, raw: string(raw)}
	// Not every answer is JSON (a 404 of the router, an empty 401): callers
	// that expect JSON find the fields missing and print raw.
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (h *harness) post(path string, body map[string]any) response {
	h.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.postRaw(path, b)
}

func (h *harness) sendOtp(requestID string, account map[string]any) response {
	h.t.Helper()
	body := map[string]any{"requestHeader": h.header(requestID), "smsMatchingToken": token}
	for k, v := range account {
		body[k] = v
	}
	return h.post("/v1/sendOtp", body)
}

func (h *harness) verifyOtp(requestID, sendRequestID, code string) response {
	h.t.Helper()
	return h.post("/v1/verifyOtp", map[string]any{
		"requestHeader": h.header(requestID), "sendOtpRequestId": sendRequestID, "otp": code,
	})
}

// lastCode is the code of the newest SMS.
func (h *harness) lastCode() string {
	h.t.Helper()
	m, ok := h.sms.Last()
	if !ok {
		h.t.Fatal("no SMS was sent")
	}
	code := smstest.ExtractCode(m.Text, h.policy.CodeLength)
	if code == "" {
		h.t.Fatalf("no code in the SMS")
	}
	return code
}

// wrongCode is a code of the right shape that is not code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// rowCounts counts the rows of every table that requests change.
func (h *harness) rowCounts() map[string]int {
	h.t.Helper()
	counts := map[string]int{}
	for _, table := range []string{"requests", "challenges", "events"} {
		counts[table] = h.count("SELECT COUNT(*) FROM " + table)
	}
	return counts
}

func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.store.DB().QueryRow(query, args...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// expect checks the status and one string member of the answer. For
// "errorResponseCode" it reads the code in the dialect's own form (see
// errorCode), so that one expectation serves both dialects.
func expect(t *testing.T, r response, status int, field, want string) {
	t.Helper()
	got := r.str(field)
	if field == "errorResponseCode" {
		got = r.errorCode(t)
	}
	if r.status != status || got != want {
		t.Fatalf("got %d %s=%q, want %d %q; body %s", r.status, field, got, status, want, r.raw)
	}
}

// errorCode is the code of an ErrorResponse: errorResponseCode (a string) in
// the legacy dialect; in the current one, the code whose member the one-of
// errorResponseResult holds. The wrong form for the dialect fails the test.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	header, _ := r.body["responseHeader"].(map[string]any)
	_, current := header["responseTimestamp"].(map[string]any)
	result, hasResult := r.body["errorResponseResult"]
	_, hasCode := r.body["errorResponseCode"]
	switch {
	case current && hasCode, !current && hasResult:
		t.Fatalf("an ErrorResponse in the other dialect's form: %s", r.raw)
	case !current:
		return r.str("errorResponseCode")
	case !hasResult:
		return ""
	}
	m, ok := result.(map[string]any)
	if !ok || len(m) != 1 {
		t.Fatalf("errorResponseResult is not a one-of: %s", r.raw)
	}
	for member := range m {
		if code, ok := codeOfMember[member]; ok {
			return code
		}
		t.Fatalf("errorResponseResult member %q is none of Google's", member)
	}
	return ""
}

// codeOfMember maps Google's errorResponseResult members to the codes.
var codeOfMember = map[string]string{
	"invalidApiVersion": "INVALID_API_VERSION", "invalidPayloadSignature": "INVALID_PAYLOAD_SIGNATURE",
	"invalidPayloadEncryption": "INVALID_PAYLOAD_ENCRYPTION", "requestTimestampOutOfRange": "REQUEST_TIMESTAMP_OUT_OF_RANGE",
	"invalidIdentifier": "INVALID_IDENTIFIER", "idempotencyViolation": "IDEMPOTENCY_VIOLATION",
	"invalidFieldValue": "INVALID_FIELD_VALUE", "missingRequiredField": "MISSING_REQUIRED_FIELD",
	"preconditionViolation": "PRECONDITION_VIOLATION", "userActionInProgress": "USER_ACTION_IN_PROGRESS",
	"invalidDecryptedRequest": "INVALID_DECRYPTED_REQUEST", "forbidden": "FORBIDDEN",
}

// expectUnavailable checks a 503: Google's code lists have none for it, so
// the ErrorResponse carries no code in either dialect (SPEC §3).
func expectUnavailable(t *testing.T, r response) {
	t.Helper()
	_, code := r.body["errorResponseCode"]
	_, result := r.body["errorResponseResult"]
	if r.status != 503 || code || result || r.str("paymentIntegratorErrorIdentifier") == "" {
		t.Fatalf("got %d %s, want a 503 with an identifier and no code", r.status, r.raw)
	}
}
