package deploy_test

// The rules and the dashboard against the real thing: an otpgate built from
// this tree serves with JOSE keys, an SMS gateway that refuses everything
// and the SMS file behind it; a real Prometheus scrapes its admin port and
// evaluates the rules. Traffic as Google sends it makes the alerts go
// pending or fire, and every metric a rule or a panel names must be one the
// running otpgate exports (or one Prometheus makes, such as up).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/simulator"
	"github.com/otpgate/otpgate/internal/testutil/syncbuf"
)

// fastWindow and fastFor replace every range and every "for:" of the rules
// in the end-to-end test, so that alerts go pending in seconds: only those
// durations change (TestFastRulesOnlyShortenDurations), not the metrics,
// the expressions or the thresholds, which are rates and ratios.
const (
	fastWindow = "10s"
	fastFor    = "1s"
)

var (
	rangeRE = regexp.MustCompile(`\[[0-9]+[smhdwy]\]`)
	forRE   = regexp.MustCompile(`(?m)^(\s*for:\s*)\S+\s*$`)
)

// fastRules is the rules file with every range fastWindow and every "for:"
// fastFor.
func fastRules(text string) string {
	text = rangeRE.ReplaceAllString(text, "["+fastWindow+"]")
	return forRE.ReplaceAllString(text, "${1}"+fastFor)
}

// TestFastRulesOnlyShortenDurations: the end-to-end test's rules differ from
// the shipped ones in their durations alone, and promtool accepts them.
func TestFastRulesOnlyShortenDurations(t *testing.T) {
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	orig := string(b)
	fast := fastRules(orig)
	normalize := func(s string) string {
		return forRE.ReplaceAllString(rangeRE.ReplaceAllString(s, "[D]"), "${1}D")
	}
	if fast == orig || normalize(fast) != normalize(orig) {
		t.Fatal("the fast rules differ from the shipped ones in more than their durations, or not at all")
	}
	if n := len(rangeRE.FindAllString(orig, -1)); n < 10 {
		t.Fatalf("only %d ranges shortened", n)
	}
	path := filepath.Join(t.TempDir(), "fast.yml")
	if err := os.WriteFile(path, []byte(fast), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, out, ok := checkRules(t, path); !ok {
		t.Fatalf("promtool refuses the fast rules:\n%s", out)
	}
}

// buildOtpgate builds the binary of this tree into dir.
func buildOtpgate(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "otpgate")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/otpgate")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building otpgate: %v\n%s", err, out)
	}
	return bin
}

// proc is a subprocess killed, and waited for, when the test ends.
type proc struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), out: &syncbuf.Buffer{}, done: make(chan struct{})}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTPGATE_") {
			env = append(env, kv)
		}
	}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", name, p.cmd.Process.Pid)
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// freeAddr is a 127.0.0.1 address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls ok every 100 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 5 * time.Second}

func get(url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// otpgateRun is one otpgate serving as Google's peer, its files and its
// Google side.
type otpgateRun struct {
	proc            *proc
	url, admin      string
	smsFile         string
	google          *simulator.Client
	gatewayRequests *atomic.Int32
}

const (
	demoPhone = "+919876543210" // serve --dev's active demo account
	failLimit = 3               // --fail-limit per hour
)

// serveOtpgate makes JOSE keys (ours expiring in 10 days, so that the key
// alert has something to say) and serves with them, demo accounts, an SMS
// gateway that answers 500 to everything (provider "http") and the SMS file
// behind it (provider "file"), so that codes still arrive.
func serveOtpgate(t *testing.T, bin, dir string) *otpgateRun {
	t.Helper()
	path := func(name string) string { return filepath.Join(dir, name) }
	run := func(stdout string, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("otpgate %s: %v", strings.Join(args, " "), err)
		}
		if stdout != "" {
			if err := os.WriteFile(path(stdout), out, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	run("", "keys", "generate", "--scheme", "jose", "--bits", "2048", "--kid", "ours", "--lifetime", "240h", "--out", path("ours.jwk"))
	run("", "keys", "generate", "--scheme", "jose", "--bits", "2048", "--kid", "google", "--out", path("google.jwk"))
	run("ours.pub.jwks", "keys", "export-public", "--scheme", "jose", "--key", path("ours.jwk"))
	run("google.pub.jwks", "keys", "export-public", "--scheme", "jose", "--key", path("google.jwk"))

	requests := &atomic.Int32{}
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "provider down", http.StatusInternalServerError)
	}))
	t.Cleanup(gateway.Close)

	o := &otpgateRun{smsFile: path("sms.jsonl"), gatewayRequests: requests}
	for try := 1; ; try++ {
		addr, admin := freeAddr(t), freeAddr(t)
		o.url, o.admin = "http://"+addr, "http://"+admin
		o.proc = start(t, bin, "serve", "--dev", "--log-format", "json",
			"--data-dir", path("data"), "--listen", addr, "--admin-listen", admin,
			"--jose-key", path("ours.jwk"), "--jose-google-key", path("google.pub.jwks"),
			"--sms-http-url", gateway.URL, "--sms-file", o.smsFile,
			"--sms-breaker-failures", "3", "--sms-breaker-cool-down", "10m",
			"--send-limit", "100/1h", "--fail-limit", fmt.Sprintf("%d/1h", failLimit))
		if waitFor(15*time.Second, func() bool {
			s, _, err := get(o.url + "/healthz")
			return o.proc.exited() || err == nil && s == http.StatusOK
		}) && !o.proc.exited() {
			break
		}
		if try < 3 && strings.Contains(o.proc.out.String(), "address already in use") {
			continue
		}
		t.Fatalf("otpgate serve did not become healthy:\n%s", o.proc.out)
	}

	side, err := simulator.KeyFiles{JOSE: simulator.SchemeKeyFiles{
		Google: []string{path("google.jwk")}, Integrator: []string{path("ours.pub.jwks")},
	}}.GoogleSide()
	if err != nil {
		t.Fatal(err)
	}
	if o.google, err = side.Client(o.url, "", 4); err != nil {
		t.Fatal(err)
	}
	return o
}

// post sends one of Google's requests and returns its result.
func (o *otpgateRun) post(t *testing.T, path string, body map[string]any) string {
	t.Helper()
	r, err := o.google.Post(context.Background(), path, body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	if r.Status != http.StatusOK || r.OpenErr != nil {
		t.Fatalf("POST %s: %d %v %s\n%s", path, r.Status, r.OpenErr, r.Plain, o.proc.out)
	}
	return r.Str("result")
}

func (o *otpgateRun) sendOtp(t *testing.T, id string) string {
	t.Helper()
	return o.post(t, simulator.PathSendOtp, o.google.SendOtpBody(id, simulator.Account{Phone: demoPhone}))
}

func (o *otpgateRun) verifyOtp(t *testing.T, id, sendID, code string) string {
	t.Helper()
	return o.post(t, simulator.PathVerifyOtp, o.google.VerifyOtpBody(id, sendID, code))
}

// lastCode is the code of the newest SMS in the SMS file.
func (o *otpgateRun) lastCode(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(o.smsFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var m struct{ Text string }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("SMS file: %v", err)
	}
	code := simulator.ExtractCode(m.Text, 6)
	if code == "" {
		t.Fatalf("no code in the SMS %q", m.Text)
	}
	return code
}

// exported scrapes the admin port's /metrics and returns the sample names.
func (o *otpgateRun) exported(t *testing.T) map[string]bool {
	t.Helper()
	status, body, err := get(o.admin + "/metrics")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", status, err)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// prom is a running Prometheus.
type prom struct {
	proc *proc
	url  string
}

// startPrometheus runs Prometheus on a temporary database, scraping
// target's /metrics every second as job otpgate and evaluating rules every
// second.
func startPrometheus(t *testing.T, dir, target, rules string) *prom {
	t.Helper()
	bin := tool(t, "prometheus")
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: otpgate
    static_configs:
      - targets: [%q]
`, rules, target)), 0o644); err != nil {
		t.Fatal(err)
	}
	for try := 1; ; try++ {
		addr := freeAddr(t)
		p := &prom{url: "http://" + addr}
		p.proc = start(t, bin, "--config.file", config, "--storage.tsdb.path", filepath.Join(dir, fmt.Sprintf("tsdb-%d", try)),
			"--web.listen-address", addr, "--log.level", "warn")
		if waitFor(15*time.Second, func() bool {
			s, _, err := get(p.url + "/-/ready")
			return p.proc.exited() || err == nil && s == http.StatusOK
		}) && !p.proc.exited() {
			return p
		}
		if try < 3 && strings.Contains(p.proc.out.String(), "address already in use") {
			continue
		}
		t.Fatalf("prometheus did not become ready:\n%s", p.proc.out)
	}
}

// query runs an instant query and returns its result vector.
func (p *prom) query(t *testing.T, q string) []map[string]any {
	t.Helper()
	_, body, err := get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	var r struct {
		Status string
		Error  string
		Data   struct{ Result []map[string]any }
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, body)
	}
	return r.Data.Result
}

// alert is one entry of /api/v1/alerts.
type alert struct {
	Labels map[string]string
	State  string // pending or firing
}

func (p *prom) alerts(t *testing.T) []alert {
	t.Helper()
	_, body, err := get(p.url + "/api/v1/alerts")
	if err != nil {
		t.Fatalf("GET /api/v1/alerts: %v", err)
	}
	var r struct {
		Status string
		Data   struct{ Alerts []alert }
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" {
		t.Fatalf("GET /api/v1/alerts: %v %s", err, body)
	}
	return r.Data.Alerts
}

// key names an alert by its name and the labels that tell its instances
// apart here.
func (a alert) key() string {
	k := a.Labels["alertname"]
	for _, l := range []string{"provider", "id", "method"} {
		if v := a.Labels[l]; v != "" {
			k += " " + l + "=" + v
		}
	}
	return k
}

// unexported returns the metric names that exprs select and that neither
// the otpgate scrape (exported) nor Prometheus itself (a query of the name
// for job otpgate finds series) knows, with the expressions naming them.
func unexported(t *testing.T, p *prom, exported map[string]bool, exprs map[string]string) []string {
	t.Helper()
	var missing []string
	known := map[string]bool{}
	keys := make([]string, 0, len(exprs))
	for k := range exprs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, name := range metricNames(exprs[k]) {
			if exported[name] || known[name] {
				continue
			}
			if len(p.query(t, name+`{job="otpgate"}`)) > 0 {
				known[name] = true // Prometheus's own: up, ALERTS
				continue
			}
			missing = append(missing, name+" (in "+k+")")
		}
	}
	return missing
}

// TestAlertsFire is the end-to-end test: Prometheus scrapes a running
// otpgate and evaluates the rules (with shortened windows, see fastRules)
// while Google's traffic drives SMS failures, wrong codes and lockouts
// through it; the alerts on them go pending or fire, those on a healthy
// part stay quiet, and every metric named by the rules and the dashboard is
// one that exists.
func TestAlertsFire(t *testing.T) {
	tool(t, "prometheus")
	dir := t.TempDir()
	bin := buildOtpgate(t, dir)
	began := time.Now()
	o := serveOtpgate(t, bin, dir)

	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "otpgate-rules.fast.yml")
	if err := os.WriteFile(rules, []byte(fastRules(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startPrometheus(t, dir, strings.TrimPrefix(o.admin, "http://"), rules)
	// Traffic starts once Prometheus has its first scrape, so that each
	// counter's first increase is seen from its 0.
	if !waitFor(15*time.Second, func() bool { return len(p.query(t, `up{job="otpgate"} == 1`)) > 0 }) {
		t.Fatalf("prometheus never scraped otpgate:\n%s", p.proc.out)
	}

	// Before any traffic, the series the alerts select are there at 0: the
	// first failure after a start must be an increase.
	if _, body, err := get(o.admin + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		for _, sample := range []string{
			`otpgate_requests_total{method="verifyOtp",result="OTP_NOT_MATCHED",status="200"} 0`,
			`otpgate_requests_total{method="sendOtp",result="SERVICE_UNAVAILABLE",status="503"} 0`,
			`otpgate_sms_sends_total{outcome="failed",provider="http"} 0`,
			`otpgate_budget_lockouts_total{method="verifyOtp"} 0`,
			`otpgate_audit_write_errors_total 0`,
		} {
			if !strings.Contains(body, "\n"+sample+"\n") {
				t.Errorf("a fresh otpgate does not export %s", sample)
			}
		}
	}

	trafficBegan := time.Now()
	// The gateway refuses three SMS: its breaker opens, the file delivers.
	for i := 1; i <= 3; i++ {
		if got := o.sendOtp(t, fmt.Sprintf("send-%d", i)); got != "SUCCESS" {
			t.Fatalf("sendOtp %d: %s, want SUCCESS through the SMS file", i, got)
		}
	}
	if got := o.verifyOtp(t, "verify-ok", "send-3", o.lastCode(t)); got != "SUCCESS" {
		t.Fatalf("verifyOtp of the right code: %s", got)
	}
	// Wrong codes until the failure budget is spent, then lockouts: of
	// verifyOtp (not compared) and sendOtp (OTP_LIMIT_REACHED).
	if got := o.sendOtp(t, "send-4"); got != "SUCCESS" {
		t.Fatalf("sendOtp 4: %s", got)
	}
	code := o.lastCode(t)
	wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1000000)
	for i := 1; i <= failLimit+3; i++ {
		if got := o.verifyOtp(t, fmt.Sprintf("verify-wrong-%d", i), "send-4", wrong); got != "OTP_NOT_MATCHED" {
			t.Fatalf("wrong code %d: %s", i, got)
		}
		if i == 1 {
			// The series of a result appears with its first request: the
			// rate sees the next ones once Prometheus has scraped it.
			if !waitFor(10*time.Second, func() bool {
				return len(p.query(t, `otpgate_requests_total{result="OTP_NOT_MATCHED"}`)) > 0
			}) {
				t.Fatal("prometheus did not scrape the first wrong code's count")
			}
		}
	}
	if got := o.sendOtp(t, "send-locked"); got != "OTP_LIMIT_REACHED" {
		t.Fatalf("sendOtp past the failure budget: %s", got)
	}
	if n := o.gatewayRequests.Load(); n != 3 {
		t.Errorf("the gateway got %d SMS, want 3 before its breaker opened", n)
	}

	trafficTook := time.Since(trafficBegan)

	want := []string{
		"OtpgateSMSFailureRatioHigh provider=http",
		"OtpgateSMSBreakerOpen provider=http",
		"OtpgateVerifyFailureSpike",
		"OtpgateBudgetLockoutsSpike",
		"OtpgateKeyExpiringSoon id=ours",
	}
	quiet := []string{"OtpgateDown", "OtpgateNotReady", "OtpgateSMSAllBreakersOpen", "OtpgateKeyExpiringVerySoon",
		"Otpgate5xxRatioHigh", "OtpgatePanics", "OtpgateAuditWriteErrors"}
	t.Run("alerts go pending", func(t *testing.T) {
		seen := map[string]string{} // alert key → the states it was seen in
		missing := func() []string {
			var m []string
			for _, w := range want {
				if seen[w] == "" {
					m = append(m, w)
				}
			}
			return m
		}
		waitFor(15*time.Second, func() bool {
			for _, a := range p.alerts(t) {
				if !strings.Contains(seen[a.key()], a.State) {
					seen[a.key()] += a.State + " "
				}
			}
			return len(missing()) == 0
		})
		if m := missing(); len(m) > 0 {
			t.Errorf("alerts never pending nor firing: %q; seen: %v", m, seen)
		}
		for k := range seen {
			for _, q := range quiet {
				if strings.Fields(k)[0] == q {
					t.Errorf("%s went %s, want it quiet", k, seen[k])
				}
			}
		}
		t.Logf("alerts seen %v, %s after otpgate started (traffic took %s)", seen, time.Since(began).Round(100*time.Millisecond), trafficTook.Round(100*time.Millisecond))
	})

	// Every metric named by a rule or a panel exists, by the names of a
	// scrape now that the traffic has made every series.
	exported := o.exported(t)
	t.Run("every named metric exists", func(t *testing.T) {
		exprs := map[string]string{}
		for _, r := range readRules(t, rulesFile) {
			exprs["rule "+r.name()] = r.Expr
		}
		for k, e := range dashboardExprs(t) {
			exprs["panel "+k] = e
		}
		for k, e := range dashboardExtraExprs(t) {
			exprs[k] = e
		}
		if m := unexported(t, p, exported, exprs); len(m) > 0 {
			t.Errorf("metrics that the running otpgate does not export: %q", m)
		}
	})
	// The check catches a misspelt name: the same rules with one metric
	// renamed as it might be by mistake.
	t.Run("a misspelt metric is caught", func(t *testing.T) {
		exprs := map[string]string{}
		for _, r := range readRules(t, rulesFile) {
			exprs["rule "+r.name()] = strings.ReplaceAll(r.Expr, "otpgate_sms_sends_total", "otpgate_sms_sent_total")
		}
		if m := unexported(t, p, exported, exprs); len(m) == 0 || !strings.HasPrefix(m[0], "otpgate_sms_sent_total ") {
			t.Errorf("a rule naming otpgate_sms_sent_total, which no otpgate exports, was not caught: %q", m)
		}
	})
}

// dashboardExtraExprs are the dashboard's expressions outside its panels:
// the metric of the instance variable's label_values and the alerts
// annotation's query.
func dashboardExtraExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Templating struct {
			List []struct {
				Name       string
				Definition string
			}
		}
		Annotations struct {
			List []struct {
				Name string
				Expr string
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	lv := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),`)
	for _, v := range d.Templating.List {
		if m := lv.FindStringSubmatch(v.Definition); m != nil {
			out["variable "+v.Name] = m[1]
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out["annotation "+a.Name] = a.Expr
		}
	}
	if !slices.ContainsFunc(mapKeys(out), func(k string) bool { return strings.HasPrefix(k, "variable ") }) {
		t.Errorf("the dashboard has no instance variable read with label_values")
	}
	return out
}

func mapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
