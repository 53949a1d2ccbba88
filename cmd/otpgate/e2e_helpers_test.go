package main

// Helpers of the end-to-end tests: the binary is built once by TestMain and
// every test runs it as a subprocess, talking to it over HTTP on 127.0.0.1.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/hsm"
	"github.com/otpgate/otpgate/internal/hsm/softhsmtest"
	"github.com/otpgate/otpgate/internal/testutil/syncbuf"
)

// e2eBinary is the otpgate binary built by TestMain.
var e2eBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "otpgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	e2eBinary = filepath.Join(dir, "otpgate")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	args := []string{"build", "-o", e2eBinary}
	if hsm.Built { // this test binary has PKCS#11: so must the one it runs
		args = append(args, "-tags", "pkcs11")
	}
	out, err := exec.CommandContext(ctx, "go", append(args, ".")...).CombinedOutput()
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building otpgate: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	_, statErr := os.Stat("otpgate-data")
	hadDataDir := statErr == nil
	code := m.Run()
	os.RemoveAll(dir)
	softhsmtest.Cleanup() // the token of the HSM tests (-tags pkcs11)
	// A serve given no --data-dir keeps its data (the audit log, at least)
	// in ./otpgate-data: here, the source tree. Every test must point it at
	// a temporary directory instead (e2eStart does for the audit log).
	if _, err := os.Stat("otpgate-data"); err == nil && !hadDataDir {
		fmt.Fprintln(os.Stderr, "e2e: a test left otpgate-data/ in the source tree; give its serve a --data-dir or --audit-log")
		os.RemoveAll("otpgate-data")
		code = 1
	}
	os.Exit(code)
}

// The token every sendOtp of these tests carries: 11 characters.
const e2eToken = "AB12345678C"

// e2eEnv is the test process's environment without any OTPGATE_* variable
// (so that a developer's settings cannot leak in), plus extra.
func e2eEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTPGATE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// e2eProc is one running otpgate process.
type e2eProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *syncbuf.Buffer
	stderr *syncbuf.Buffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's error, once done is closed
	url    string        // http://127.0.0.1:PORT for servers
	admin  string        // http://127.0.0.1:PORT of the admin port, for e2eServe's servers
}

// e2eStart starts the binary with args and env (see e2eEnv); the process is
// killed at the end of the test if it is still running. A serve without
// --admin-listen gets a port of its own rather than the default, which the
// tests running in parallel would share; without --queue-wait, a long one,
// so that the bursts of requests some tests fire on a busy machine queue
// for the --max-in-flight slots rather than be shed; without --data-dir or
// --audit-log, an audit log in a temporary directory.
func e2eStart(t *testing.T, env []string, args ...string) *e2eProc {
	t.Helper()
	given := func(flag string) bool {
		return slices.ContainsFunc(args, func(a string) bool { return a == flag || strings.HasPrefix(a, flag+"=") })
	}
	if len(args) > 0 && args[0] == "serve" {
		if !given("--admin-listen") {
			args = append(args, "--admin-listen", "127.0.0.1:0")
		}
		if !given("--queue-wait") {
			args = append(args, "--queue-wait", "10s")
		}
		// Without a data directory (the PostgreSQL tests), the audit log
		// would go to ./otpgate-data, in the source tree.
		if !given("--data-dir") && !given("--audit-log") {
			args = append(args, "--audit-log", filepath.Join(t.TempDir(), "audit.jsonl"))
		}
	}
	p := &e2eProc{t: t, stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(e2eBinary, args...)
	p.cmd.Env = e2eEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting otpgate %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("otpgate (pid %d) did not exit after SIGKILL", p.cmd.Process.Pid)
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *e2eProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the process to end and returns its exit code.
func (p *e2eProc) wait(timeout time.Duration) (int, bool) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return 0, false
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0, true
	case errors.As(p.err, &ee):
		return ee.ExitCode(), true
	}
	p.t.Fatalf("otpgate: %v", p.err)
	return 0, false
}

// signal sends sig to the process.
func (p *e2eProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signalling otpgate: %v", err)
	}
}

// kill SIGKILLs the process and waits for it to be gone.
func (p *e2eProc) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	if _, ok := p.wait(10 * time.Second); !ok {
		p.t.Fatal("otpgate did not die of SIGKILL within 10s")
	}
}

// e2eRun runs the binary to its end (within timeout) and returns its exit
// code, standard output and standard error.
func e2eRun(t *testing.T, timeout time.Duration, env []string, args ...string) (int, string, string) {
	t.Helper()
	p := e2eStart(t, env, args...)
	code, ok := p.wait(timeout)
	if !ok {
		t.Fatalf("otpgate %s did not exit within %s\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), timeout, p.stdout, p.stderr)
	}
	return code, p.stdout.String(), p.stderr.String()
}

// e2eFreeAddr returns a 127.0.0.1 address that was free a moment ago.
func e2eFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// e2eServe starts `otpgate serve` with args plus --listen and --admin-listen
// on free ports and waits until /healthz answers. A port taken meanwhile by
// someone else is retried with another.
func e2eServe(t *testing.T, env []string, args ...string) *e2eProc {
	t.Helper()
	for try := 1; ; try++ {
		addr, admin := e2eFreeAddr(t), e2eFreeAddr(t)
		p := e2eStart(t, env, append(append([]string{"serve"}, args...), "--listen", addr, "--admin-listen", admin)...)
		p.url, p.admin = "http://"+addr, "http://"+admin
		err := p.waitHealthy(15 * time.Second)
		if err == nil {
			return p
		}
		if p.exited() && strings.Contains(p.stderr.String(), "address already in use") && try < 5 {
			continue
		}
		t.Fatalf("otpgate serve %s: %v\nstderr:\n%s", strings.Join(args, " "), err, p.stderr)
	}
}

func (p *e2eProc) waitHealthy(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited before serving: %v", p.err)
		}
		resp, err := client.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("/healthz did not answer within %s", timeout)
}

// e2eResponse is one answer of the server.
type e2eResponse struct {
	status int
	body   map[string]any
	raw    string
}

// unavailable reports whether r is the 503 of a temporary outage: Google's
// code lists have no code for it, so its ErrorResponse carries none (SPEC §3).
func (r e2eResponse) unavailable() bool {
	return r.status == http.StatusServiceUnavailable && !strings.Contains(r.raw, "errorResponseCode") &&
		!strings.Contains(r.raw, "errorResponseResult") && r.str("paymentIntegratorErrorIdentifier") != ""
}

func (r e2eResponse) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

var e2eClient = &http.Client{Timeout: 15 * time.Second}

// post sends body as plain JSON to the server's path.
func (p *e2eProc) post(path string, body any) (e2eResponse, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return e2eResponse{}, err
	}
	resp, err := e2eClient.Post(p.url+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return e2eResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return e2eResponse{}, err
	}
	r := e2eResponse{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r, nil
}

// mustPost is post that fails the test on a transport error.
func (p *e2eProc) mustPost(path string, body any) e2eResponse {
	p.t.Helper()
	r, err := p.post(path, body)
	if err != nil {
		p.t.Fatalf("POST %s: %v", path, err)
	}
	return r
}

// e2eHeader is a legacy requestHeader stamped with the current time.
func e2eHeader(requestID string) map[string]any {
	return map[string]any{
		"protocolVersion":  map[string]any{"major": 1, "minor": 0, "revision": 0},
		"requestId":        requestID,
		"requestTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
	}
}

// sendOtpBody is a legacy sendOtp for the account given by fields
// (accountPhoneNumber and/or associationId).
func sendOtpBody(requestID string, fields map[string]any) map[string]any {
	body := map[string]any{"requestHeader": e2eHeader(requestID), "smsMatchingToken": e2eToken}
	for k, v := range fields {
		body[k] = v
	}
	return body
}

func verifyOtpBody(requestID, sendRequestID, code string) map[string]any {
	return map[string]any{"requestHeader": e2eHeader(requestID), "sendOtpRequestId": sendRequestID, "otp": code}
}

func (p *e2eProc) sendOtp(requestID string, fields map[string]any) e2eResponse {
	p.t.Helper()
	return p.mustPost("/v1/sendOtp", sendOtpBody(requestID, fields))
}

func (p *e2eProc) verifyOtp(requestID, sendRequestID, code string) e2eResponse {
	p.t.Helper()
	return p.mustPost("/v1/verifyOtp", verifyOtpBody(requestID, sendRequestID, code))
}

func expectResult(t *testing.T, what string, r e2eResponse, want string) {
	t.Helper()
	if r.status != http.StatusOK || r.str("result") != want {
		t.Fatalf("%s: got HTTP %d result %q, want 200 %q; body %s", what, r.status, r.str("result"), want, r.raw)
	}
}

// smsCode returns the code of an SMS text: the token alone on the first line,
// then a text with the code as its only run of digits.
func smsCode(t *testing.T, text string) string {
	t.Helper()
	token, body, ok := strings.Cut(text, "\n")
	if !ok || token != e2eToken {
		t.Fatalf("SMS %q: want the smsMatchingToken %s alone on its first line", text, e2eToken)
	}
	runs := regexp.MustCompile(`[0-9]+`).FindAllString(body, -1)
	if len(runs) != 1 {
		t.Fatalf("SMS %q: want exactly one run of digits after the token line, found %q", text, runs)
	}
	return runs[0]
}

// smsMessage is one SMS as the gateway or the SMS file saw it.
type smsMessage struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

// e2eGateway is an SMS HTTP gateway that records each message. With
// blockFirst, it never answers the first message (until the test ends or the
// caller hangs up); with delay, it waits that long before each 200.
type e2eGateway struct {
	*httptest.Server
	mu       sync.Mutex
	msgs     []smsMessage
	received chan struct{} // gets a value per message, without blocking
	release  chan struct{}
	first    bool
	delay    time.Duration
}

func newGateway(t *testing.T, blockFirst bool, delay time.Duration) *e2eGateway {
	g := &e2eGateway{received: make(chan struct{}, 100), release: make(chan struct{}), first: blockFirst, delay: delay}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(func() {
		close(g.release)
		g.Close()
	})
	return g
}

func (g *e2eGateway) serve(w http.ResponseWriter, r *http.Request) {
	var m smsMessage
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.msgs = append(g.msgs, m)
	n := len(g.msgs)
	g.mu.Unlock()
	select {
	case g.received <- struct{}{}:
	default:
	}
	if g.first && n == 1 {
		select {
		case <-r.Context().Done():
		case <-g.release:
		}
		return
	}
	if g.delay > 0 {
		select {
		case <-time.After(g.delay):
		case <-g.release:
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (g *e2eGateway) messages() []smsMessage {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]smsMessage(nil), g.msgs...)
}

// waitMessage waits for the gateway's next message.
func (g *e2eGateway) waitMessage(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-g.received:
	case <-time.After(timeout):
		t.Fatalf("the SMS gateway received no message within %s", timeout)
	}
}

// writeFile writes a test file and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// importAccounts runs `otpgate accounts import` and requires it to succeed.
func importAccounts(t *testing.T, dataDir, file string) string {
	t.Helper()
	code, stdout, stderr := e2eRun(t, 30*time.Second, nil, "accounts", "import", "--data-dir", dataDir, file)
	if code != 0 {
		t.Fatalf("accounts import %s: exit %d\nstdout: %s\nstderr: %s", filepath.Base(file), code, stdout, stderr)
	}
	return stdout
}

// assertNoSecrets fails when logs hold one of the codes as a number of its
// own, or one of the phone numbers in full (with or without its '+', or as
// the national number). Lines for which skip reports true are not scanned.
func assertNoSecrets(t *testing.T, logs string, codes, phones []string, skip func(line string) bool) {
	t.Helper()
	if strings.TrimSpace(logs) == "" {
		t.Fatal("no logs were captured: the scan would prove nothing")
	}
	for i, line := range strings.Split(logs, "\n") {
		if skip != nil && skip(line) {
			continue
		}
		for _, c := range codes {
			if regexp.MustCompile(`(^|[^0-9])` + regexp.QuoteMeta(c) + `([^0-9]|$)`).MatchString(line) {
				t.Errorf("log line %d holds the code %s: %s", i+1, c, line)
			}
		}
		for _, ph := range phones {
			digits := strings.TrimPrefix(ph, "+")
			national := digits[len(digits)-10:] // the tests use +91 numbers: 10 national digits
			for _, form := range []string{ph, digits, national} {
				if strings.Contains(line, form) {
					t.Errorf("log line %d holds the phone number %s (as %q): %s", i+1, ph, form, line)
				}
			}
		}
	}
}

// logged reports whether the process's standard error holds sub, waiting up
// to a few seconds: lines reach the buffer through a pipe whose reader may
// lag behind the event that caused them.
func (p *e2eProc) logged(sub string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if strings.Contains(p.stderr.String(), sub) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
