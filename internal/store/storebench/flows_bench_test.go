// Package storebench measures the stores under the whole server: the same
// HTTP exchange against the in-memory store (the ceiling: what otpgate
// answers with no database in the way) and against SQLite with full and
// normal durability, in one run, so that their ratio is measured on the same
// machine at the same moment.
//
//	go test -run - -bench Flows -benchtime 5s ./internal/store/storebench [-clients 4]
package storebench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
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
	"github.com/otpgate/otpgate/internal/store/inmem"
	"github.com/otpgate/otpgate/internal/store/sqlite"
)

// clients is how many goroutines per GOMAXPROCS run flows at once
// (b.SetParallelism): by default 8 on the 2-core machines, as `simulate load
// --workers 8`.
var clients = flag.Int("clients", 4, "flows at once per GOMAXPROCS")

// accounts is how many accounts the directory holds; each client uses one.
const accounts = 1000

// sink is the SMS provider: it keeps the last text sent to each phone, where
// a client finds its code.
type sink struct {
	mu   sync.Mutex
	last map[string]string
}

func (s *sink) Name() string { return "sink" }

func (s *sink) Send(_ context.Context, m sms.Message) error {
	s.mu.Lock()
	s.last[m.To] = m.Text
	s.mu.Unlock()
	return nil
}

func (s *sink) code(phone string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return smstest.ExtractCode(s.last[phone], otp.DefaultPolicy().CodeLength)
}

// BenchmarkFlows runs flows (sendOtp, the code from the SMS sink, verifyOtp:
// two requests over loopback, plaintext, the default policy with budgets
// widened so that the load does not spend them) from parallel clients.
// ns/op is per flow. For SQLite it also reports the writer's mean batch
// size and its utilisation (busy time over wall time).
func BenchmarkFlows(b *testing.B) {
	for _, c := range []struct {
		name string
		open func(b *testing.B) otp.Store
	}{
		{"inmem", func(*testing.B) otp.Store { return inmem.New() }},
		{"sqlite-full", openSQLite("full")},
		{"sqlite-normal", openSQLite("normal")},
	} {
		b.Run(c.name, func(b *testing.B) { runFlows(b, c.open(b)) })
	}
}

func openSQLite(sync string) func(b *testing.B) otp.Store {
	return func(b *testing.B) otp.Store {
		s, err := sqlite.OpenWith(context.Background(), filepath.Join(b.TempDir(), "otpgate.db"), sqlite.Options{Synchronous: sync})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
}

func phoneOf(i int) string { return fmt.Sprintf("+9198%08d", i) }

func runFlows(b *testing.B, st otp.Store) {
	ctx := context.Background()
	var accts []otp.Account
	for i := range accounts {
		accts = append(accts, otp.Account{ID: fmt.Sprint("A", i), Phone: phoneOf(i), Status: otp.StatusActive,
			AssociationIDs: []string{fmt.Sprint("as-", i)}})
	}
	if err := st.ImportAccounts(ctx, accts); err != nil {
		b.Fatal(err)
	}
	policy := otp.DefaultPolicy()
	policy.SendBudgets = []otp.Budget{{Count: 1 << 30, Per: time.Second}}
	policy.FailBudgets = []otp.Budget{{Count: 1 << 30, Per: time.Second}}
	composer, err := sms.NewComposer(sms.DefaultTemplate, policy.CodeLength)
	if err != nil {
		b.Fatal(err)
	}
	texts := &sink{last: map[string]string{}}
	// The server logs a JSON line per request, as in production.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	secret := bytes.Repeat([]byte{7}, 32)
	svc, err := otp.New(otp.Config{Store: st, Messenger: sms.CodeMessenger{Composer: composer, Sender: texts},
		Policy: policy, Secret: secret, Now: time.Now, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	srv := server.New(server.Config{Codec: envelope.Plain{}, OTP: svc, DB: st, Metrics: server.NewMetrics(), Logger: log,
		Now: time.Now, Window: time.Minute, MaxBodyBytes: server.DefaultMaxBodyBytes, ParsePhone: phone.Parse})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

	var next, seq atomic.Int64
	post := func(path string, body map[string]any) (map[string]any, error) {
		raw, _ := json.Marshal(body)
		resp, err := client.Post(ts.URL+path, "application/json", bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: HTTP %d %v %v", path, resp.StatusCode, out, err)
		}
		return out, nil
	}
	header := func() map[string]any {
		return map[string]any{"protocolVersion": map[string]any{"major": 1, "minor": 0, "revision": 0},
			"requestId": fmt.Sprint("r", seq.Add(1)), "requestTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10)}
	}
	var before sqlite.WriterStats
	sq, _ := st.(*sqlite.Store)
	if sq != nil {
		before = sq.WriterStats()
	}
	b.SetParallelism(*clients)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) % accounts // this client's account
		for pb.Next() {
			h := header()
			send, err := post("/v1/sendOtp", map[string]any{"requestHeader": h, "smsMatchingToken": "AB12345678C",
				"associationId": fmt.Sprint("as-", i)})
			if err == nil && send["result"] != "SUCCESS" {
				err = fmt.Errorf("sendOtp: %v", send)
			}
			if err != nil {
				b.Error(err)
				return
			}
			verify, err := post("/v1/verifyOtp", map[string]any{"requestHeader": header(),
				"sendOtpRequestId": h["requestId"], "otp": texts.code(phoneOf(i))})
			if err == nil && verify["result"] != "SUCCESS" {
				err = fmt.Errorf("verifyOtp: %v", verify)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "flows/s")
	if sq != nil {
		w := sq.WriterStats()
		b.ReportMetric(float64(w.Units-before.Units)/float64(max(w.Batches-before.Batches, 1)), "units/batch")
		b.ReportMetric((w.Busy-before.Busy).Seconds()/elapsed.Seconds(), "writer-busy")
	}
}
