package main

// End-to-end tests of several otpgate processes sharing one PostgreSQL
// database (issue 5): idempotency, single use of a code, attempt caps, send
// budgets and the resumption of a send whose instance died hold across
// instances exactly as in one; the schema is migrated by `otpgate migrate`;
// and an instance rides out an outage of the database without a restart.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/store/pgtest"
)

// pgFixture is one PostgreSQL database and the secrets that every otpgate
// process on it shares, so that a code sent by one verifies on another.
type pgFixture struct {
	t          *testing.T
	tmp        string
	url        string
	codeSecret string
	cardSecret string
}

func newPGFixture(t *testing.T, url string) *pgFixture {
	t.Helper()
	tmp := t.TempDir()
	secret := func(name string) string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return writeFile(t, tmp, name, hex.EncodeToString(b)+"\n") // mode 0600
	}
	return &pgFixture{t: t, tmp: tmp, url: url, codeSecret: secret("code-secret"), cardSecret: secret("card-secret")}
}

// pgPhone is the phone of account A<i> of importAccounts.
func pgPhone(i int) string { return fmt.Sprintf("+9198%08d", 10000000+i) }

// pgAccount names account A<i> by its association id as-<i>.
func pgAccount(i int) map[string]any { return map[string]any{"associationId": fmt.Sprintf("as-%d", i)} }

// importAccounts loads the active accounts A1…An (phone pgPhone(i),
// association as-<i>) once, through `otpgate accounts import --database-url`.
func (f *pgFixture) importAccounts(n int) {
	t := f.t
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"accountId":"A%d","phone":"%s","status":"active","associationIds":["as-%d"]}`+"\n", i, pgPhone(i), i)
	}
	file := writeFile(t, f.tmp, "accounts.jsonl", b.String())
	code, stdout, stderr := e2eRun(t, 30*time.Second, nil, "accounts", "import", "--database-url", f.url,
		"--data-dir", filepath.Join(f.tmp, "import"), "--card-secret-file", f.cardSecret, file)
	if code != 0 {
		t.Fatalf("accounts import --database-url: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if want := fmt.Sprintf("imported %d accounts", n); !strings.Contains(stdout, want) {
		t.Fatalf("accounts import said %q, want %q", stdout, want)
	}
}

// serve starts an instance on the database with --database-url (or, with
// viaEnv, OTPGATE_DATABASE_URL), a data directory of its own named name, the
// shared secrets and plaintext bodies.
func (f *pgFixture) serve(name string, viaEnv bool, extra ...string) *e2eProc {
	t := f.t
	t.Helper()
	args := []string{"--insecure-plaintext", "--data-dir", filepath.Join(f.tmp, name),
		"--code-secret-file", f.codeSecret, "--card-secret-file", f.cardSecret}
	var env []string
	if viaEnv {
		env = []string{"OTPGATE_DATABASE_URL=" + f.url}
	} else {
		args = append(args, "--database-url", f.url)
	}
	p := e2eServe(t, env, append(args, extra...)...)
	if !p.logged(`"database":"postgres"`) {
		t.Fatalf("instance %s does not run on PostgreSQL:\n%s", name, p.stderr)
	}
	return p
}

// pgConn connects the test itself to a database, to look behind the API.
func pgConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// pgQueryInt runs a query of one integer.
func pgQueryInt(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// pgPost is post that fails t (which need not be the test that started p) on
// a transport error.
func pgPost(t *testing.T, p *e2eProc, path string, body any) e2eResponse {
	t.Helper()
	r, err := p.post(path, body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return r
}

// pgAnswer is the answer to one of several concurrent requests.
type pgAnswer struct {
	r   e2eResponse
	err error
}

// pgTogether runs n requests at once (released together from a barrier) and
// returns their answers in order.
func pgTogether(n int, do func(i int) (e2eResponse, error)) []pgAnswer {
	out := make([]pgAnswer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i].r, out[i].err = do(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// pgTally counts the results of answers, which must all be HTTP 200.
func pgTally(t *testing.T, what string, answers []pgAnswer) map[string]int {
	t.Helper()
	tally := map[string]int{}
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("%s #%d: %v", what, i, a.err)
		}
		if a.r.status != http.StatusOK {
			t.Fatalf("%s #%d: HTTP %d %s, want 200", what, i, a.r.status, a.r.raw)
		}
		tally[a.r.str("result")]++
	}
	return tally
}

// pgWrongCode is a code of len(code) digits other than code, distinct for
// each i below 10^len(code)-1.
func pgWrongCode(code string, i int) string {
	mod := 1
	n := 0
	for _, c := range code {
		mod *= 10
		n = n*10 + int(c-'0')
	}
	return fmt.Sprintf("%0*d", len(code), (n+1+i)%mod)
}

// pgGateway is an SMS HTTP gateway shared by the instances that records each
// message; delay, when set, holds the answer to a message that long.
type pgGateway struct {
	*httptest.Server
	mu    sync.Mutex
	msgs  []smsMessage
	delay func(to string) time.Duration
}

func newPGGateway(t *testing.T, delay func(to string) time.Duration) *pgGateway {
	g := &pgGateway{delay: delay}
	done := make(chan struct{})
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m smsMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		g.msgs = append(g.msgs, m)
		g.mu.Unlock()
		if g.delay != nil {
			select {
			case <-time.After(g.delay(m.To)):
			case <-done:
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(func() {
		close(done)
		g.Close()
	})
	return g
}

func (g *pgGateway) messages() []smsMessage {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]smsMessage(nil), g.msgs...)
}

// pgRetryUnavailable retries a request that was answered 503 until it gets another answer, for at most 10s.
func pgRetryUnavailable(t *testing.T, what string, r e2eResponse, retry func() (e2eResponse, error)) (e2eResponse, int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	retries := 0
	for r.status == http.StatusServiceUnavailable {
		if !r.unavailable() {
			t.Fatalf("%s: an HTTP 503 that is not a bare outage answer: %s", what, r.raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still 503 after %d retries over 10s: %s", what, retries, r.raw)
		}
		time.Sleep(50 * time.Millisecond)
		var err error
		if r, err = retry(); err != nil {
			t.Fatalf("%s: retry: %v", what, err)
		}
		retries++
	}
	return r, retries
}

// TestE2EPostgresSameSendOnBoth posts one sendOtp requestId to two instances
// at the same moment, ten times over: each time one SMS goes out and both
// instances give the same answer (one of them possibly after a 503 that a
// retry of it turns into that answer).
func TestE2EPostgresSameSendOnBoth(t *testing.T) {
	t.Parallel()
	const rounds = 10
	f := newPGFixture(t, pgtest.NewDatabase(t))
	f.importAccounts(rounds)
	// Every other account's SMS takes a while, so that the duplicate also
	// meets a claim in flight rather than only a racing insert.
	slow := map[string]bool{}
	for i := 2; i <= rounds; i += 2 {
		slow[pgPhone(i)] = true
	}
	gw := newPGGateway(t, func(to string) time.Duration {
		if slow[to] {
			return 150 * time.Millisecond
		}
		return 0
	})
	a := f.serve("a", false, "--sms-http-url", gw.URL)
	b := f.serve("b", false, "--sms-http-url", gw.URL)
	procs := []*e2eProc{a, b}

	var codes []string
	retried := 0
	for round := 1; round <= rounds; round++ {
		requestID := fmt.Sprintf("race-send-%d", round)
		answers := pgTogether(2, func(i int) (e2eResponse, error) {
			return procs[i].post("/v1/sendOtp", sendOtpBody(requestID, pgAccount(round)))
		})
		var final [2]e2eResponse
		for i, ans := range answers {
			what := fmt.Sprintf("round %d, instance %c", round, 'a'+i)
			if ans.err != nil {
				t.Fatalf("%s: %v", what, ans.err)
			}
			if ans.r.status != http.StatusOK && ans.r.status != http.StatusServiceUnavailable {
				t.Fatalf("%s: HTTP %d %s, want 200 or 503", what, ans.r.status, ans.r.raw)
			}
			var n int
			final[i], n = pgRetryUnavailable(t, what, ans.r, func() (e2eResponse, error) {
				return procs[i].post("/v1/sendOtp", sendOtpBody(requestID, pgAccount(round)))
			})
			retried += n
			expectResult(t, what, final[i], "SUCCESS")
		}
		idA, idB := final[0].str("paymentIntegratorSendOtpId"), final[1].str("paymentIntegratorSendOtpId")
		if idA == "" || idA != idB {
			t.Fatalf("round %d: the instances answered paymentIntegratorSendOtpId %q and %q, want one id", round, idA, idB)
		}
		msgs := gw.messages()
		if len(msgs) != round {
			t.Fatalf("round %d: the gateway has %d messages, want %d (one per requestId): %q", round, len(msgs), round, msgs)
		}
		if last := msgs[round-1]; last.To != pgPhone(round) {
			t.Fatalf("round %d: the SMS went to %s, want %s", round, last.To, pgPhone(round))
		}
		codes = append(codes, smsCode(t, msgs[round-1].Text))
	}
	t.Logf("%d rounds, %d retries after a 503", rounds, retried)

	// The one code sent is the live one, whichever instance sent it and asks.
	for round, code := range codes {
		p := procs[round%2]
		expectResult(t, fmt.Sprintf("verifyOtp of round %d", round+1),
			p.verifyOtp(fmt.Sprintf("race-verify-%d", round+1), fmt.Sprintf("race-send-%d", round+1), code), "SUCCESS")
	}
	if n := len(gw.messages()); n != rounds {
		t.Errorf("the gateway has %d messages after the verifications, want %d", n, rounds)
	}
}

// TestE2EPostgresSingleUseAcrossInstances verifies one code 20 times at once,
// with different requestIds, alternately on two instances: exactly one
// SUCCESS. The second instance finds the database through
// OTPGATE_DATABASE_URL.
func TestE2EPostgresSingleUseAcrossInstances(t *testing.T) {
	t.Parallel()
	const n = 20
	f := newPGFixture(t, pgtest.NewDatabase(t))
	f.importAccounts(1)
	gw := newPGGateway(t, nil)
	a := f.serve("a", false, "--sms-http-url", gw.URL)
	b := f.serve("b", true, "--sms-http-url", gw.URL)
	procs := []*e2eProc{a, b}

	expectResult(t, "sendOtp on instance a", a.sendOtp("single-send", pgAccount(1)), "SUCCESS")
	msgs := gw.messages()
	if len(msgs) != 1 {
		t.Fatalf("the gateway has %d messages, want 1", len(msgs))
	}
	code := smsCode(t, msgs[0].Text)

	answers := pgTogether(n, func(i int) (e2eResponse, error) {
		return procs[i%2].post("/v1/verifyOtp", verifyOtpBody(fmt.Sprintf("single-verify-%d", i), "single-send", code))
	})
	tally := pgTally(t, "verifyOtp", answers)
	if tally["SUCCESS"] != 1 || tally["OTP_ALREADY_USED"] != n-1 {
		t.Fatalf("%d verifyOtp with the right code on two instances: %v, want 1 SUCCESS and %d OTP_ALREADY_USED", n, tally, n-1)
	}
	// Each answer is replayed by the other instance.
	for i, ans := range answers {
		r := procs[(i+1)%2].verifyOtp(fmt.Sprintf("single-verify-%d", i), "single-send", code)
		expectResult(t, fmt.Sprintf("verifyOtp #%d replayed on the other instance", i), r, ans.r.str("result"))
	}
}

// TestE2EPostgresCapsAcrossInstances: concurrent wrong guesses on two
// instances never get past the attempt cap, and concurrent sends never past
// the send budget. The instances share one SMS file.
func TestE2EPostgresCapsAcrossInstances(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	f := newPGFixture(t, url)
	f.importAccounts(4)
	smsFile := filepath.Join(f.tmp, "sms.jsonl")
	args := []string{"--sms-file", smsFile, "--max-attempts", "5", "--send-limit", "3/15m"}
	procs := []*e2eProc{f.serve("a", false, args...), f.serve("b", false, args...)}
	db := pgConn(t, url)

	// sent returns the SMS of the file to the phone of account i.
	sent := func(t *testing.T, i int) []sms.Message {
		t.Helper()
		all, err := sms.ReadFile(smsFile)
		if err != nil {
			t.Fatal(err)
		}
		var out []sms.Message
		for _, m := range all {
			if m.To == pgPhone(i) {
				out = append(out, m)
			}
		}
		return out
	}
	// guess sends a code to account i through instance a, makes wrong
	// guesses at it at once, alternately on both instances, and then tries
	// the right code on instance b.
	guess := func(t *testing.T, i, wrong int) (tally map[string]int, right e2eResponse, attempts int) {
		t.Helper()
		sendID := fmt.Sprintf("caps-send-%d", i)
		expectResult(t, fmt.Sprintf("sendOtp to A%d", i), pgPost(t, procs[0], "/v1/sendOtp", sendOtpBody(sendID, pgAccount(i))), "SUCCESS")
		msgs := sent(t, i)
		if len(msgs) != 1 {
			t.Fatalf("%d SMS to A%d in the shared file, want 1", len(msgs), i)
		}
		code := smsCode(t, msgs[0].Text)
		answers := pgTogether(wrong, func(k int) (e2eResponse, error) {
			return procs[k%2].post("/v1/verifyOtp", verifyOtpBody(fmt.Sprintf("caps-guess-%d-%d", i, k), sendID, pgWrongCode(code, k)))
		})
		tally = pgTally(t, "wrong guess", answers)
		attempts = pgQueryInt(t, db, `SELECT attempts FROM challenges WHERE account_id = $1`, fmt.Sprintf("A%d", i))
		right = pgPost(t, procs[1], "/v1/verifyOtp", verifyOtpBody(fmt.Sprintf("caps-right-%d", i), sendID, code))
		return tally, right, attempts
	}

	t.Run("20 wrong guesses", func(t *testing.T) {
		tally, right, attempts := guess(t, 1, 20)
		if tally["OTP_NOT_MATCHED"] != 20 {
			t.Errorf("20 wrong guesses: %v, want 20 OTP_NOT_MATCHED", tally)
		}
		if attempts != 5 {
			t.Errorf("the code counts %d attempts after 20 wrong guesses, want the cap of 5", attempts)
		}
		expectResult(t, "the right code after 20 wrong guesses", right, "OTP_NOT_MATCHED")
	})
	// Exactly the cap: one lost update between the instances would leave the
	// code alive.
	t.Run("5 wrong guesses kill the code", func(t *testing.T) {
		tally, right, attempts := guess(t, 2, 5)
		if tally["OTP_NOT_MATCHED"] != 5 || attempts != 5 {
			t.Errorf("5 wrong guesses: %v and %d attempts counted, want 5 OTP_NOT_MATCHED and 5 attempts", tally, attempts)
		}
		expectResult(t, "the right code after 5 wrong guesses", right, "OTP_NOT_MATCHED")
	})
	// One below the cap: nothing is counted twice.
	t.Run("4 wrong guesses leave it alive", func(t *testing.T) {
		tally, right, attempts := guess(t, 3, 4)
		if tally["OTP_NOT_MATCHED"] != 4 || attempts != 4 {
			t.Errorf("4 wrong guesses: %v and %d attempts counted, want 4 OTP_NOT_MATCHED and 4 attempts", tally, attempts)
		}
		expectResult(t, "the right code after 4 wrong guesses", right, "SUCCESS")
	})

	t.Run("send budget", func(t *testing.T) {
		const n = 6
		answers := pgTogether(n, func(k int) (e2eResponse, error) {
			return procs[k%2].post("/v1/sendOtp", sendOtpBody(fmt.Sprintf("caps-budget-%d", k), pgAccount(4)))
		})
		tally := pgTally(t, "sendOtp", answers)
		if tally["SUCCESS"] != 3 || tally["OTP_LIMIT_REACHED"] != 3 {
			t.Errorf("%d sendOtp at once with --send-limit 3/15m on both instances: %v, want 3 SUCCESS and 3 OTP_LIMIT_REACHED", n, tally)
		}
		if msgs := sent(t, 4); len(msgs) != 3 {
			t.Errorf("%d SMS to A4 in the shared file, want 3", len(msgs))
		}
		// The budget is spent for either instance.
		for i, p := range procs {
			expectResult(t, fmt.Sprintf("a further sendOtp on instance %c", 'a'+i),
				pgPost(t, p, "/v1/sendOtp", sendOtpBody(fmt.Sprintf("caps-budget-more-%d", i), pgAccount(4))), "OTP_LIMIT_REACHED")
		}
	})
}

// TestE2EPostgresCrashOnOneInstance kills instance a while the SMS of a
// sendOtp is with the gateway, after the claim and before the record
// (SPEC §4). Instance b, running all along, answers retries of the requestId
// with 503 while the claim lease lasts and then resumes the send with a fresh
// code that alone is valid.
func TestE2EPostgresCrashOnOneInstance(t *testing.T) {
	t.Parallel()
	const (
		lease     = 2 * time.Second
		requestID = "crash-send"
	)
	f := newPGFixture(t, pgtest.NewDatabase(t))
	f.importAccounts(1)
	gw := newGateway(t, true, 0) // holds the first message (a's) unanswered
	args := []string{"--sms-http-url", gw.URL, "--sms-timeout", "1s", "--claim-lease", lease.String(),
		"--in-flight-wait", "200ms", "--log-level", "debug"}
	a := f.serve("a", false, args...)
	b := f.serve("b", false, args...)

	t0 := time.Now() // a claims the requestId after this instant
	answered := make(chan error, 1)
	go func() {
		r, err := a.post("/v1/sendOtp", sendOtpBody(requestID, pgAccount(1)))
		if err == nil {
			err = fmt.Errorf("got HTTP %d %s", r.status, r.raw)
		}
		answered <- err
	}()
	gw.waitMessage(t, 5*time.Second)
	a.kill()
	if took := time.Since(t0); took >= time.Second {
		t.Fatalf("the kill came %s after the send, not within --sms-timeout (1s): the test did not crash mid-send", took)
	}
	select {
	case err := <-answered:
		if strings.HasPrefix(err.Error(), "got HTTP") {
			t.Fatalf("instance a answered the sendOtp although it was killed mid-send: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sendOtp on instance a did not fail within 10s of the kill")
	}

	var (
		success     e2eResponse
		successAt   time.Duration
		unavailable int
	)
	for {
		if time.Since(t0) > 15*time.Second {
			t.Fatalf("no SUCCESS on instance b within 15s of the claim (%d answers 503)", unavailable)
		}
		at := time.Since(t0)
		r := b.sendOtp(requestID, pgAccount(1))
		if r.status == http.StatusOK {
			success, successAt = r, time.Since(t0)
			break
		}
		if !r.unavailable() {
			t.Fatalf("retry on instance b at +%s: HTTP %d %s, want a 503 without a code while the lease lasts", at, r.status, r.raw)
		}
		if at >= lease+time.Second {
			t.Fatalf("retry on instance b at +%s: still 503, a second after the lease of %s ended", at, lease)
		}
		unavailable++
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("instance a killed; %d answers 503 on instance b, then SUCCESS at +%s", unavailable, successAt)
	expectResult(t, "the retry on instance b after the lease", success, "SUCCESS")
	if unavailable == 0 {
		t.Error("no retry on instance b answered 503, although the first came well within the lease")
	}
	// ClaimedAt is stored in milliseconds: allow for the truncation.
	if successAt < lease-5*time.Millisecond {
		t.Errorf("instance b took the claim over at +%s, before the lease of %s had passed", successAt, lease)
	}
	sendID := success.str("paymentIntegratorSendOtpId")
	if sendID == "" {
		t.Fatalf("SUCCESS without paymentIntegratorSendOtpId: %s", success.raw)
	}
	msgs := gw.messages()
	if len(msgs) != 2 {
		t.Fatalf("the gateway got %d messages, want 2 (the lost one and the resumed one): %q", len(msgs), msgs)
	}
	for i, m := range msgs {
		if m.To != pgPhone(1) {
			t.Errorf("message %d went to %q, want %s", i+1, m.To, pgPhone(1))
		}
	}
	if !b.logged("resuming a") {
		t.Errorf("instance b did not log the resumption of the sendOtp:\n%s", b.stderr)
	}

	// a comes back on its data directory; either instance knows the outcome.
	a2 := f.serve("a", false, args...)
	code1, code2 := smsCode(t, msgs[0].Text), smsCode(t, msgs[1].Text)
	if code1 != code2 {
		expectResult(t, "verifyOtp of the lost code on the restarted instance a", a2.verifyOtp("crash-verify-1", requestID, code1), "OTP_NOT_MATCHED")
	} else {
		t.Logf("both codes happen to be %s: skipping the check that the first one is dead", code1)
	}
	expectResult(t, "verifyOtp of the resumed code on instance b", b.verifyOtp("crash-verify-2", requestID, code2), "SUCCESS")
	for name, p := range map[string]*e2eProc{"the restarted instance a": a2, "instance b": b} {
		replay := p.sendOtp(requestID, pgAccount(1))
		expectResult(t, "a replay of the sendOtp on "+name, replay, "SUCCESS")
		if got := replay.str("paymentIntegratorSendOtpId"); got != sendID {
			t.Errorf("a replay on %s answered paymentIntegratorSendOtpId %q, want %q", name, got, sendID)
		}
	}
	if n := len(gw.messages()); n != 2 {
		t.Errorf("the replays sent an SMS: the gateway has %d messages, want 2", n)
	}
}

// TestE2EPostgresMigrate: `serve --no-migrate` refuses a database without the
// schema and names `otpgate migrate`; after it, serve starts. Two instances
// starting at once on an empty database both migrate it, once; a schema newer
// than the binary is refused by serve and migrate alike.
func TestE2EPostgresMigrate(t *testing.T) {
	t.Parallel()
	t.Run("no-migrate then migrate", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewEmptyDatabase(t)
		f := newPGFixture(t, url)
		smsFile := filepath.Join(f.tmp, "sms.jsonl")
		serveArgs := []string{"serve", "--listen", "127.0.0.1:0", "--insecure-plaintext", "--sms-file", smsFile,
			"--database-url", url, "--data-dir", filepath.Join(f.tmp, "a"),
			"--code-secret-file", f.codeSecret, "--card-secret-file", f.cardSecret}

		code, _, stderr := e2eRun(t, 20*time.Second, nil, append(serveArgs, "--no-migrate")...)
		if code == 0 {
			t.Fatal("serve --no-migrate on an empty database: exit status 0, want a refusal")
		}
		if !strings.Contains(stderr, "otpgate migrate") {
			t.Errorf("the refusal of serve --no-migrate does not name `otpgate migrate`:\n%s", stderr)
		}
		if strings.Contains(stderr, "listening") {
			t.Errorf("serve --no-migrate listened before refusing:\n%s", stderr)
		}
		if n := pgQueryInt(t, pgConn(t, url), `SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'`); n != 0 {
			t.Errorf("serve --no-migrate created %d tables", n)
		}

		code, stdout, stderr := e2eRun(t, 30*time.Second, nil, "migrate", "--database-url", url)
		if code != 0 || !strings.Contains(stdout, "migrated the PostgreSQL schema to version") {
			t.Fatalf("otpgate migrate: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
		}
		code, stdout, stderr = e2eRun(t, 30*time.Second, nil, "migrate", "--database-url", url)
		if code != 0 || !strings.Contains(stdout, "up to date") {
			t.Errorf("otpgate migrate again: exit %d, want 0 and \"up to date\"\nstdout: %s\nstderr: %s", code, stdout, stderr)
		}

		f.importAccounts(1)
		p := f.serve("a", false, "--no-migrate", "--sms-file", smsFile)
		expectResult(t, "sendOtp on serve --no-migrate after otpgate migrate", p.sendOtp("mig-send", pgAccount(1)), "SUCCESS")
	})

	t.Run("two instances migrate at once", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewEmptyDatabase(t)
		f := newPGFixture(t, url)
		smsFile := filepath.Join(f.tmp, "sms.jsonl")
		var procs []*e2eProc
		for _, name := range []string{"a", "b"} {
			addr := e2eFreeAddr(t)
			p := e2eStart(t, nil, "serve", "--listen", addr, "--insecure-plaintext", "--sms-file", smsFile,
				"--database-url", url, "--data-dir", filepath.Join(f.tmp, name),
				"--code-secret-file", f.codeSecret, "--card-secret-file", f.cardSecret)
			p.url = "http://" + addr
			procs = append(procs, p)
		}
		for i, p := range procs {
			if err := p.waitHealthy(20 * time.Second); err != nil {
				t.Fatalf("instance %c, started at once with another on an empty database: %v\nstderr:\n%s", 'a'+i, err, p.stderr)
			}
		}
		f.importAccounts(1)
		expectResult(t, "sendOtp on instance a", procs[0].sendOtp("mig2-send", pgAccount(1)), "SUCCESS")
		msgs, err := sms.ReadFile(smsFile)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("the SMS file holds %d messages (%v), want 1", len(msgs), err)
		}
		expectResult(t, "verifyOtp on instance b", procs[1].verifyOtp("mig2-verify", "mig2-send", smsCode(t, msgs[0].Text)), "SUCCESS")
	})

	t.Run("schema newer than the binary", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewDatabase(t)
		f := newPGFixture(t, url)
		db := pgConn(t, url)
		if _, err := db.Exec(context.Background(), `UPDATE schema_version SET version = version + 1`); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"serve", "--listen", "127.0.0.1:0", "--insecure-plaintext", "--sms-file", filepath.Join(f.tmp, "sms.jsonl"),
				"--database-url", url, "--data-dir", filepath.Join(f.tmp, "a"),
				"--code-secret-file", f.codeSecret, "--card-secret-file", f.cardSecret},
			{"serve", "--listen", "127.0.0.1:0", "--insecure-plaintext", "--sms-file", filepath.Join(f.tmp, "sms.jsonl"),
				"--database-url", url, "--data-dir", filepath.Join(f.tmp, "a"), "--no-migrate",
				"--code-secret-file", f.codeSecret, "--card-secret-file", f.cardSecret},
			{"migrate", "--database-url", url},
		} {
			code, _, stderr := e2eRun(t, 10*time.Second, nil, args...)
			if code == 0 || !strings.Contains(stderr, "newer than this binary") {
				t.Errorf("otpgate %s on a newer schema: exit %d, want a refusal naming the newer schema\nstderr: %s",
					strings.Join(args[:min(len(args), 1)], " "), code, stderr)
			}
		}
	})
}

// TestE2EPostgresOutage stops and starts a PostgreSQL cluster of the test's
// own under a running instance: /readyz and sendOtp answer 503 while it is
// down, and the instance recovers by itself when it is back.
func TestE2EPostgresOutage(t *testing.T) {
	t.Parallel()
	started := time.Now()
	cluster := pgtest.StartCluster(t)
	url := cluster.NewDatabase(t)
	t.Logf("throwaway cluster with a migrated database in %s", time.Since(started).Round(time.Millisecond))
	f := newPGFixture(t, url)
	f.importAccounts(1)
	gw := newPGGateway(t, nil)
	p := f.serve("a", false, "--sms-http-url", gw.URL)

	readyz := func() int {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(p.url + "/readyz")
		if err != nil {
			t.Fatalf("/readyz: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// waitReadyz polls /readyz until it answers want, for at most timeout.
	waitReadyz := func(want int, timeout time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			got := readyz()
			if got == want {
				return time.Since(start)
			}
			if time.Since(start) > timeout {
				t.Fatalf("/readyz still answers %d after %s, want %d\nstderr:\n%s", got, timeout, want, p.stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if got := readyz(); got != http.StatusOK {
		t.Fatalf("/readyz answers %d with the database up, want 200", got)
	}
	expectResult(t, "sendOtp with the database up", p.sendOtp("outage-before", pgAccount(1)), "SUCCESS")

	stopAt := time.Now()
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster stopped in %s", time.Since(stopAt).Round(time.Millisecond))
	took := waitReadyz(http.StatusServiceUnavailable, 5*time.Second)
	t.Logf("/readyz 503 %s after the stop", took.Round(time.Millisecond))
	start := time.Now()
	r := p.sendOtp("outage-during", pgAccount(1))
	took = time.Since(start)
	if !r.unavailable() {
		t.Fatalf("sendOtp with the database down: HTTP %d %s, want a 503 without a code", r.status, r.raw)
	}
	if took > 5*time.Second {
		t.Errorf("sendOtp with the database down took %s to fail, want a few seconds at most", took)
	}
	t.Logf("sendOtp 503 after %s with the database down", took.Round(time.Millisecond))
	if n := len(gw.messages()); n != 1 {
		t.Errorf("the gateway has %d messages during the outage, want 1 (the one before it)", n)
	}

	startAt := time.Now()
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster started in %s", time.Since(startAt).Round(time.Millisecond))
	took = waitReadyz(http.StatusOK, 10*time.Second)
	t.Logf("/readyz 200 %s after the start", took.Round(time.Millisecond))
	if p.exited() {
		t.Fatalf("otpgate exited during the outage: %v\nstderr:\n%s", p.err, p.stderr)
	}
	r = p.sendOtp("outage-during", pgAccount(1)) // Google's retry of the 503
	expectResult(t, "the retried sendOtp with the database back", r, "SUCCESS")
	msgs := gw.messages()
	if len(msgs) != 2 {
		t.Fatalf("the gateway has %d messages, want 2", len(msgs))
	}
	expectResult(t, "verifyOtp with the database back", p.verifyOtp("outage-verify", "outage-during", smsCode(t, msgs[1].Text)), "SUCCESS")
}

// TestE2EPostgresNeedsSharedSecrets: on a shared database, secrets generated
// per instance would make codes fail across instances, so serve refuses.
func TestE2EPostgresNeedsSharedSecrets(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	tmp := t.TempDir()
	code, _, stderr := e2eRun(t, 10*time.Second, nil, "serve", "--listen", "127.0.0.1:0", "--insecure-plaintext",
		"--sms-file", filepath.Join(tmp, "sms.jsonl"), "--database-url", url, "--data-dir", filepath.Join(tmp, "a"))
	if code == 0 || !strings.Contains(stderr, "--code-secret-file and --card-secret-file") {
		t.Errorf("serve on PostgreSQL without shared secrets: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(tmp, "a")); err == nil {
		t.Error("the refused start created a data directory")
	}
}
