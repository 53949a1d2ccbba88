package deploy_test

// The rules file and the dashboard, checked with promtool: they parse, every
// alert has unit tests that fire it and keep it quiet, every runbook link
// lands on a README heading. What the files name is checked against a
// running otpgate in e2e_test.go.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const (
	rulesFile     = "prometheus/otpgate-rules.yml"
	rulesTestFile = "prometheus/otpgate-rules.test.yml"
	dashboardFile = "grafana/otpgate-dashboard.json"
	readmeFile    = "../README.md"
)

// tool returns the path of a Prometheus binary. Without it the test skips,
// except in CI (CI set), where .ci/run installs Debian's prometheus package
// and a missing binary is a failure.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; CI needs it (apt-get install prometheus): %v", name, err)
	}
	t.Skipf("%s is not installed (apt-get install prometheus); CI runs this test", name)
	return ""
}

// promtool runs promtool with args and returns its output and whether it
// exited 0.
func promtool(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	out, err := exec.Command(tool(t, "promtool"), args...).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("promtool %s: %v", strings.Join(args, " "), err)
	}
	return string(out), err == nil
}

// rule is one rule of a Prometheus rules file.
type rule struct {
	Alert, Record string // one of them
	Expr          string
	For           string
	Labels        map[string]string
	Annotations   map[string]string
}

func (r rule) name() string { return r.Alert + r.Record }

// parseRules reads the rules of a Prometheus rules file as otpgate's is
// written: "- alert:" or "- record:" opening each rule, expr on one line or
// as a block scalar (expr: |), flat labels and annotations maps. The module
// has no YAML library and needs none for its own file; checkRulesCount
// proves that nothing was missed by comparing the count with promtool's.
func parseRules(text string) ([]rule, error) {
	var rules []rule
	var cur *rule
	var section map[string]string // labels or annotations being read
	sectionIndent := 0
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if section != nil && indent > sectionIndent {
			k, v, ok := strings.Cut(trimmed, ":")
			if !ok {
				return nil, fmt.Errorf("line %d: want KEY: VALUE, got %q", i+1, trimmed)
			}
			section[strings.TrimSpace(k)] = unquote(strings.TrimSpace(v))
			continue
		}
		section = nil
		key, value, _ := strings.Cut(strings.TrimPrefix(trimmed, "- "), ":")
		value = strings.TrimSpace(value)
		switch {
		case strings.HasPrefix(trimmed, "- alert:"), strings.HasPrefix(trimmed, "- record:"):
			rules = append(rules, rule{Labels: map[string]string{}, Annotations: map[string]string{}})
			cur = &rules[len(rules)-1]
			if key == "alert" {
				cur.Alert = value
			} else {
				cur.Record = value
			}
		case cur == nil:
			continue // groups:, - name:, rules:
		case key == "expr" && (value == "|" || value == ">"):
			var block []string
			for i+1 < len(lines) {
				next := lines[i+1]
				if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " ")) <= indent {
					break
				}
				block = append(block, strings.TrimSpace(next))
				i++
			}
			cur.Expr = strings.TrimSpace(strings.Join(block, "\n"))
		case key == "expr":
			cur.Expr = unquote(value)
		case key == "for":
			cur.For = value
		case key == "labels":
			section, sectionIndent = cur.Labels, indent
		case key == "annotations":
			section, sectionIndent = cur.Annotations, indent
		default:
			return nil, fmt.Errorf("line %d: unexpected %q in rule %s", i+1, trimmed, cur.name())
		}
	}
	return rules, nil
}

// unquote removes YAML double quotes.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	}
	return s
}

func readRules(t *testing.T, path string) []rule {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := parseRules(string(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rules
}

// checkRules runs promtool check rules on path and returns the count of
// rules it found, or the output on failure.
func checkRules(t *testing.T, path string) (int, string, bool) {
	t.Helper()
	out, ok := promtool(t, "check", "rules", path)
	if !ok {
		return 0, out, false
	}
	m := regexp.MustCompile(`SUCCESS: (\d+) rules found`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("promtool check rules %s: no rule count in %q", path, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n, out, true
}

// TestRulesCheck: promtool accepts the rules file, and this package's reader
// of it finds as many rules as promtool does. A file with a broken
// expression is refused, so a pass means something.
func TestRulesCheck(t *testing.T) {
	n, out, ok := checkRules(t, rulesFile)
	if !ok {
		t.Fatalf("promtool check rules %s:\n%s", rulesFile, out)
	}
	rules := readRules(t, rulesFile)
	if len(rules) != n {
		t.Fatalf("read %d rules, promtool found %d", len(rules), n)
	}
	for _, r := range rules {
		if r.Expr == "" {
			t.Errorf("%s: no expression read", r.name())
		}
	}

	broken := filepath.Join(t.TempDir(), "broken.yml")
	b, _ := os.ReadFile(rulesFile)
	if err := os.WriteFile(broken, []byte(strings.Replace(string(b), "otpgate_ready == 0", "otpgate_ready ==", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, out, ok := checkRules(t, broken); ok {
		t.Fatalf("promtool accepted a rule with a broken expression:\n%s", out)
	}
}

// The alerts the issue asks for, by what they watch; each must exist.
var requiredAlerts = []string{
	"OtpgateSMSFailureRatioHigh", // SMS failure ratio
	"OtpgateVerifyFailureSpike",  // verify failure spike
	"OtpgateBudgetLockoutsSpike", // budget lockouts spike
	"Otpgate5xxRatioHigh",        // 5xx ratio
	"OtpgateLatencyP99High",      // p99 latency
	"OtpgateKeyExpiringSoon",     // keys expiring within 30 days
	"OtpgateSMSBreakerOpen",      // breaker open
	"OtpgateNotReady",            // readiness lost
	"OtpgateAuditWriteErrors",    // a gap in the audit trail (README, Audit trail)
}

// TestRulesShape: every alert has a severity, a summary, a description and a
// runbook_url that lands on a heading of the README.
func TestRulesShape(t *testing.T) {
	rules := readRules(t, rulesFile)
	alerts := map[string]bool{}
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors := headingAnchors(string(readme))
	for _, r := range rules {
		if r.Alert == "" {
			continue
		}
		alerts[r.Alert] = true
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if r.Annotations[a] == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		url := r.Annotations["runbook_url"]
		base, anchor, _ := strings.Cut(url, "#")
		if base != "https://github.com/otpgate/otpgate/blob/main/README.md" || !anchors[anchor] {
			t.Errorf("%s: runbook_url %q is not a heading of the README", r.Alert, url)
		}
		if anchor != strings.ToLower(r.Alert) {
			t.Errorf("%s: runbook_url %q, want the heading named after the alert", r.Alert, url)
		}
	}
	for _, a := range requiredAlerts {
		if !alerts[a] {
			t.Errorf("no alert %s", a)
		}
	}
}

// headingAnchors are the anchors GitHub gives the Markdown headings of text:
// lower case, spaces to hyphens, punctuation other than hyphens and
// underscores dropped.
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	inCode := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

// TestRulesUnit runs the promtool unit tests of the rules, after checking
// that they try every alert both ways: at least one eval_time where it
// fires (exp_alerts listed) and one where it must not (exp_alerts: []).
func TestRulesUnit(t *testing.T) {
	f, err := os.Open(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fires, quiet := map[string]bool{}, map[string]bool{}
	var alert string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "alertname:"); ok {
			alert = strings.TrimSpace(v)
			continue
		}
		if v, ok := strings.CutPrefix(line, "exp_alerts:"); ok && alert != "" {
			if strings.HasPrefix(strings.TrimSpace(v), "[]") {
				quiet[alert] = true
			} else {
				fires[alert] = true
			}
			alert = ""
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range readRules(t, rulesFile) {
		if r.Alert == "" {
			continue
		}
		if !fires[r.Alert] {
			t.Errorf("%s: no unit test where it fires", r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("%s: no unit test where it stays quiet", r.Alert)
		}
	}
	if out, ok := promtool(t, "test", "rules", rulesTestFile); !ok {
		t.Fatalf("promtool test rules %s:\n%s", rulesTestFile, out)
	}
}

// grafanaVars stand for the dashboard's variables where promtool reads an
// expression: Grafana replaces them before Prometheus sees it.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	"${instance:regex}", ".*", "$instance", ".*", "${instance}", ".*", "$job", "otpgate", "${job}", "otpgate")

// dashboard is what the tests read of the Grafana dashboard.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int     `json:"id"`
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // a collapsed row's
	GridPos struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Datasource *struct {
		Type, UID string
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// checkLayout: panel ids are unique, every panel lies on Grafana's grid of
// 24 columns and none covers another, and every query panel reads the
// dashboard's Prometheus data source variable.
func checkLayout(t *testing.T, panels []panel) {
	t.Helper()
	ids := map[int]string{}
	var all []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(panels)
	for i, p := range all {
		if other, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d, also %q's (or 0)", p.Title, p.ID, other)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v off the 24-column grid", p.Title, g)
		}
		if p.Type != "row" && (p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}") {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		for _, q := range all[:i] {
			h := q.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("panels %q and %q overlap", q.Title, p.Title)
			}
		}
	}
}

// dashboardExprs reads the dashboard and returns each panel's PromQL by
// "panel title #n", with Grafana's variables replaced.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("%s: no title or uid", dashboardFile)
	}
	exprs := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for i, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q: query %d has no expression", p.Title, i+1)
					continue
				}
				exprs[fmt.Sprintf("%s #%d", p.Title, i+1)] = grafanaVars.Replace(tg.Expr)
			}
		}
	}
	walk(d.Panels)
	checkLayout(t, d.Panels)
	return exprs
}

// exprsAsRules writes exprs as recording rules of a rules file, the one way
// promtool checks a PromQL expression on its own.
func exprsAsRules(t *testing.T, exprs map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	keys := make([]string, 0, len(exprs))
	for k := range exprs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		quoted, _ := json.Marshal(exprs[k]) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      # %s\n      - record: dashboard:expr_%d\n        expr: %s\n", k, i, quoted)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDashboard: the dashboard is JSON, every panel has a query, and every
// query parses as PromQL; a query that does not parse is refused.
func TestDashboard(t *testing.T) {
	exprs := dashboardExprs(t)
	if len(exprs) < 10 {
		t.Fatalf("the dashboard has %d queries; want its panels' (requests, latency, SMS, breakers, lockouts, keys, load)", len(exprs))
	}
	path := exprsAsRules(t, exprs)
	n, out, ok := checkRules(t, path)
	if !ok {
		t.Fatalf("a dashboard query does not parse:\n%s", out)
	}
	if n != len(exprs) {
		t.Fatalf("promtool found %d of the %d queries", n, len(exprs))
	}
	exprs["broken #1"] = "sum(rate(otpgate_requests_total[5m]"
	if _, out, ok := checkRules(t, exprsAsRules(t, exprs)); ok {
		t.Fatalf("promtool accepted a broken query:\n%s", out)
	}
	for _, want := range []string{"otpgate_requests_total", "otpgate_request_duration_seconds_bucket",
		"otpgate_sms_sends_total", "otpgate_sms_breaker_state", "otpgate_budget_lockouts_total",
		"otpgate_key_expiry_timestamp_seconds", "otpgate_in_flight_requests", "otpgate_shed_total",
		"otpgate_audit_write_errors_total"} {
		found := false
		for _, e := range exprs {
			if slices.Contains(metricNames(e), want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no dashboard panel shows %s", want)
		}
	}
}

// promqlWords are PromQL's keywords and aggregation operators: words that
// are never metric names.
var promqlWords = map[string]bool{
	"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "offset": true, "bool": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
}

// labelListWords are followed by a parenthesised list of label names.
var labelListWords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true}

// metricNames returns the metric names a PromQL expression selects, in
// order, each once: the identifiers that are not keywords, functions (a
// word before "("), label names (inside {} or after by, on, …), strings,
// numbers or durations.
func metricNames(expr string) []string {
	var names []string
	isWord := func(c byte, first bool) bool {
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	skipSpace := func(i int) int {
		for i < len(expr) && strings.ContainsRune(" \t\n\r", rune(expr[i])) {
			i++
		}
		return i
	}
	// skipTo returns the index after the closing byte matching open at i,
	// stepping over strings.
	skipTo := func(i int, open, close byte) int {
		depth := 0
		for ; i < len(expr); i++ {
			switch c := expr[i]; c {
			case '"', '\'', '`':
				for i++; i < len(expr) && expr[i] != c; i++ {
					if expr[i] == '\\' && c != '`' {
						i++
					}
				}
			case open:
				depth++
			case close:
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '#': // a comment, to the end of the line
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			i = j + 1
		case c == '{':
			i = skipTo(i, '{', '}')
		case c == '[':
			i = skipTo(i, '[', ']')
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isWord(expr[i], false) || expr[i] == '.') {
				i++ // a number, a duration, 1e3, 0x1f
			}
		case isWord(c, true):
			j := i
			for j < len(expr) && isWord(expr[j], false) {
				j++
			}
			word := expr[i:j]
			next := skipSpace(j)
			switch {
			case labelListWords[strings.ToLower(word)]:
				if next < len(expr) && expr[next] == '(' {
					j = skipTo(next, '(', ')')
				}
			case promqlWords[strings.ToLower(word)]:
			case next < len(expr) && expr[next] == '(':
				// a function
			case !slices.Contains(names, word):
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names
}

// TestMetricNames: the reader of metric names finds them and only them.
func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up{job="otpgate"} == 0`, []string{"up"}},
		{`sum by (job, instance) (rate(otpgate_requests_total{status=~"5.."}[5m])) / sum by (job) (rate(otpgate_requests_total[5m])) > 0.05`,
			[]string{"otpgate_requests_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(otpgate_request_duration_seconds_bucket{method="a b"}[1m:10s] offset 5m)))`,
			[]string{"otpgate_request_duration_seconds_bucket"}},
		{"(a_seconds > 0 and b_active == 1) - time() < 30 * 86400 unless on (job, owner) (a_seconds == 0 or c) # d_comment\n+ rec:rule_x",
			[]string{"a_seconds", "b_active", "c", "rec:rule_x"}},
		{`max without (instance) (x) * on (job) group_left (owner) y_total{owner="min"} and bool z`, []string{"x", "y_total", "z"}},
		{`label_replace(otpgate_ready, "dst", "$1", "src", "(.*)") > 1e3`, []string{"otpgate_ready"}},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}
