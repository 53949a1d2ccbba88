package simulator_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/accounts"
	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/server"
	"github.com/otpgate/otpgate/internal/simulator"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/store/sqlite"
)

// The PIAID the test targets serve.
const piaid = "SimulatorTest_INR"

// fixturesFile is the fixtures file shipped with the simulator.
const fixturesFile = "testdata/conformance-accounts.jsonl"

// target is an in-process otpgate: the real SQLite store, the fixtures
// imported as `otpgate accounts import` does, SMS to a file sink, the real
// clock.
type target struct {
	url     string
	smsPath string
}

type targetConfig struct {
	policy otp.Policy
	codec  envelope.Codec
	wrap   func(http.Handler) http.Handler
}

type targetOption func(*targetConfig)

func withPolicy(f func(*otp.Policy)) targetOption { return func(c *targetConfig) { f(&c.policy) } }

func withServerCodec(codec envelope.Codec) targetOption {
	return func(c *targetConfig) { c.codec = codec }
}

func withWrapper(wrap func(http.Handler) http.Handler) targetOption {
	return func(c *targetConfig) { c.wrap = wrap }
}

// generous is the policy of a load target (README: --send-limit 1000000/1m).
func generous(p *otp.Policy) {
	p.SendBudgets = []otp.Budget{{Count: 1_000_000, Per: time.Minute}}
	p.FailBudgets = []otp.Budget{{Count: 1_000_000, Per: time.Minute}}
}

func startTarget(t *testing.T, opts ...targetOption) *target {
	t.Helper()
	cfg := targetConfig{policy: otp.DefaultPolicy(), codec: envelope.Plain{}}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "otpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hasher, err := otp.NewCardHasher(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	accts, err := accounts.ParseFile(fixturesFile, hasher.Hash)
	if err != nil {
		t.Fatal(err)
	}
	// The tests use a few load accounts only; importing all 256 is most of
	// a target's start-up under the race detector.
	accts = slices.DeleteFunc(accts, func(a otp.Account) bool {
		return strings.HasPrefix(a.ID, "sim-load-") && a.ID >= "sim-load-008"
	})
	if err := st.ImportAccounts(ctx, accts); err != nil {
		t.Fatal(err)
	}
	smsPath := filepath.Join(dir, "sms.jsonl")
	sender, err := sms.NewFileSender(smsPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	composer, err := sms.NewComposer(sms.DefaultTemplate, cfg.policy.CodeLength)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	svc, err := otp.New(otp.Config{Store: st, Messenger: sms.CodeMessenger{Composer: composer, Sender: sender},
		Policy: cfg.policy, Secret: bytes.Repeat([]byte{7}, 32), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Codec: cfg.codec, OTP: svc, DB: st, Logger: log, ParsePhone: phone.Parse,
		PIAIDs: []string{piaid}, Cards: hasher, ECI: "07"})
	var h http.Handler = srv.Handler()
	if cfg.wrap != nil {
		h = cfg.wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &target{url: ts.URL, smsPath: smsPath}
}

// client plays Google against tg with codec (nil: plaintext).
func (tg *target) client(t *testing.T, codec envelope.Codec, maxConns int) *simulator.Client {
	t.Helper()
	c, err := simulator.New(simulator.Config{Target: tg.url, Codec: codec, PIAID: piaid, MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// codes tails tg's SMS file.
func (tg *target) codes(t *testing.T) *simulator.SMSFile {
	t.Helper()
	f, err := simulator.OpenSMSFile(tg.smsPath, simulator.SMSFileOptions{CodeLength: 6, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// toyCodec stands in for PGP and JOSE, with their shape: a body is
// "toy:SIGNER>RECIPIENT:" and the base64 of the payload. Open refuses a body
// that is not for me (ErrUndecryptable) and one not signed by peer
// (ErrBadSignature); Seal signs as me, for peer.
type toyCodec struct{ me, peer string }

var _ envelope.Codec = toyCodec{}

func (c toyCodec) Name() string        { return "toy" }
func (c toyCodec) ContentType() string { return "application/x-toy; charset=utf-8" }

func (c toyCodec) Seal(plaintext []byte) ([]byte, error) {
	return []byte("toy:" + c.me + ">" + c.peer + ":" + base64.RawURLEncoding.EncodeToString(plaintext)), nil
}

func (c toyCodec) Open(body []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(string(body), "toy:")
	if !ok {
		return nil, errors.Join(envelope.ErrUndecryptable, errors.New("not a toy envelope"))
	}
	route, payload, ok := strings.Cut(rest, ":")
	signer, recipient, ok2 := strings.Cut(route, ">")
	if !ok || !ok2 || recipient != c.me {
		return nil, errors.Join(envelope.ErrUndecryptable, errors.New("not for me"))
	}
	plain, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, errors.Join(envelope.ErrUndecryptable, err)
	}
	if signer != c.peer {
		return nil, errors.Join(envelope.ErrBadSignature, errors.New("signed by "+signer))
	}
	return plain, nil
}

// The toy key pairs: the server's side, Google's, and the two wrong ones.
var (
	toyServer      = toyCodec{me: "integrator", peer: "google"}
	toyGoogle      = toyCodec{me: "google", peer: "integrator"}
	toyImpostor    = toyCodec{me: "stranger", peer: "integrator"}
	toyMisdirected = toyCodec{me: "google", peer: "stranger"}
)
