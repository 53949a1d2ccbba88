package main

// `otpgate serve --check` (and `otpgate doctor`): what an operator runs
// before a rollout. It checks everything serve would use, one line per item,
// and exits 1 on any problem: the settings, the keys (a probe through their
// private operations, and their expiry), the secrets files, the database
// (reachable, and its schema: older is migrated at start, newer refused), the
// audit log (serve could open it, no other process writes it, its chain's
// last record reads back), and the SMS providers (an SMPP bind, a question to Twilio about the account; no
// message is sent). It creates no file and writes to no database.

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/envelope/jose"
	"github.com/otpgate/otpgate/internal/envelope/pgp"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/sms/smpp"
	"github.com/otpgate/otpgate/internal/sms/twilio"
	"github.com/otpgate/otpgate/internal/store/migrate"
	"github.com/otpgate/otpgate/internal/store/postgres"
	"github.com/otpgate/otpgate/internal/store/sqlite"
)

// checkFlag is serve's --check.
type checkFlag struct {
	Check          bool `name:"check" help:"Check the deployment and exit, serving nothing: settings, keys (a probe signed and decrypted, expiry), secrets files, the database (reachable, schema version), the audit log (writable, not in use, its chain resumes), SMS providers (an SMPP bind, Twilio's account; no message is sent), routes and templates. One line per item; exit status 1 on any problem. otpgate doctor is the same."`
	CheckProviders bool `name:"check-providers" negatable:"" default:"true" help:"With --check: contact each SMS provider (SMPP bind, Twilio account). --no-check-providers checks their settings only, as a start under systemd does (a provider that is down must not keep otpgate from starting)."`
}

// doctorCmd is `otpgate doctor`, serve --check under the name operators
// look for; it takes serve's flags, settings and configuration file.
type doctorCmd struct {
	serveCmd `embed:""`
}

func (d *doctorCmd) Run(ctx context.Context) error { return d.runCheck(ctx) }

// checkProbeTimeout bounds each contact with a database or a provider.
const checkProbeTimeout = 10 * time.Second

// checkReport prints one line per item and counts the problems.
type checkReport struct {
	w        io.Writer
	problems []string
	warnings int
}

func (r *checkReport) line(mark, item, msg string) {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	fmt.Fprintf(r.w, "%-5s %-9s %s\n", mark, item, lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(r.w, "%-5s %-9s   %s\n", "", "", l)
	}
}

func (r *checkReport) ok(item, format string, args ...any) {
	r.line("ok", item, fmt.Sprintf(format, args...))
}

func (r *checkReport) warn(item, format string, args ...any) {
	r.warnings++
	r.line("warn", item, fmt.Sprintf(format, args...))
}

// skip is an item that was not checked, and why.
func (r *checkReport) skip(item, format string, args ...any) {
	r.line("-", item, fmt.Sprintf(format, args...))
}

func (r *checkReport) fail(item string, err error) {
	r.problems = append(r.problems, err.Error())
	r.line("FAIL", item, err.Error())
}

// runCheck checks what serve would use, without listening, creating any
// file or writing to the database, and reports every item and problem.
func (c *serveCmd) runCheck(ctx context.Context) error {
	r := &checkReport{w: os.Stdout}
	scheme := c.checkSettings(r)
	c.checkKeys(r, scheme)
	c.checkSecrets(r)
	c.checkDatabase(ctx, r)
	c.checkAudit(r)
	c.checkSMS(ctx, r)
	if n := len(r.problems); n > 0 {
		var b strings.Builder
		for _, p := range r.problems {
			for _, line := range strings.Split(p, "\n") {
				fmt.Fprintf(&b, "\n  %s", line)
			}
		}
		return fmt.Errorf("the configuration has %s:%s", plural(n, "problem"), b.String())
	}
	if r.warnings > 0 {
		fmt.Fprintf(os.Stdout, "otpgate: configuration OK, with %s\n", plural(r.warnings, "warning"))
	} else {
		fmt.Fprintln(os.Stdout, "otpgate: configuration OK")
	}
	return nil
}

// checkSettings checks the flags and settings that need no file, and
// returns the envelope scheme ("" for plaintext or an error).
func (c *serveCmd) checkSettings(r *checkReport) string {
	var errs []error
	scheme, err := c.scheme()
	if err != nil {
		errs = append(errs, err)
	}
	if c.Dev {
		c.InsecurePlaintext = scheme == ""
		if !c.smsGiven() {
			c.SMSFile = sms.Stdout
		}
	}
	switch {
	case err != nil:
	case c.InsecurePlaintext && scheme != "":
		errs = append(errs, errors.New("--insecure-plaintext and envelope keys exclude each other"))
	case !c.InsecurePlaintext && scheme == "":
		errs = append(errs, errors.New("no message protection is configured: give the PGP or JOSE keys, or --dev or --insecure-plaintext for local development"))
	}
	errs = append(errs, c.check())
	if _, err := c.wire(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		for _, e := range errs {
			if e != nil {
				r.fail("settings", e)
			}
		}
		return ""
	}
	r.ok("settings", "flags, environment and configuration file; surfaces %s", strings.Join(c.Surfaces, ", "))
	return scheme
}

// checkKeys loads the keys as serve does, puts a probe through their
// private operations, and reports each key with its expiry.
func (c *serveCmd) checkKeys(r *checkReport, scheme string) {
	if scheme == "" {
		if c.InsecurePlaintext {
			r.warn("keys", "none: plaintext bodies (--insecure-plaintext or --dev), for development only; Google never sends these")
		}
		return
	}
	now := time.Now()
	codec, infos, err := c.codec(scheme, func() time.Time { return now }, c.MaxBodyBytes)
	if err != nil {
		r.fail("keys", fmt.Errorf("%s keys: %w", scheme, err))
		return
	}
	defer c.closeTokens(nil)
	unknown := noExpiryKnown(c.JOSEKey)
	for _, k := range infos {
		desc := fmt.Sprintf("%s %s key %s (%s, %s)", scheme, k.Owner, k.ID, k.Algorithm, k.Usage)
		switch {
		case unknown(k):
			r.warn("keys", "%s: %s", desc, noExpiryWarning(k.ID))
		case k.Expires.IsZero():
			r.ok("keys", "%s: never expires", desc)
		case !k.Expires.After(now):
			r.warn("keys", "%s: expired on %s, no longer used: remove it", desc, k.Expires.UTC().Format(time.DateOnly))
		case k.ExpiringSoon:
			r.warn("keys", "%s: expires on %s, in %s: rotate it", desc, k.Expires.UTC().Format(time.DateOnly), days(k.Expires.Sub(now)))
		default:
			r.ok("keys", "%s: expires on %s, in %s", desc, k.Expires.UTC().Format(time.DateOnly), days(k.Expires.Sub(now)))
		}
	}
	if err := selfTest(codec); err != nil {
		r.fail("keys", err)
		return
	}
	r.ok("keys", "a probe signed and encrypted with our keys decrypts and verifies (our own public keys standing in for Google's)")
}

// selfTest runs the codec's probe through our private keys.
func selfTest(c envelope.Codec) error {
	switch c := c.(type) {
	case *pgp.Codec:
		return c.SelfTest()
	case *jose.Codec:
		return c.SelfTest()
	}
	return fmt.Errorf("keys: no self-test for the %s envelope", c.Name())
}

func days(d time.Duration) string {
	return plural(int(d.Hours()/24), "day")
}

// checkSecrets reads the secrets files given, or those of the data
// directory, which serve generates on first start.
func (c *serveCmd) checkSecrets(r *checkReport) {
	for _, s := range []struct{ what, file, name string }{
		{"code secrets", c.CodeSecretFile, codeSecretFile},
		{"card secrets", c.CardSecretFile, cardSecretFile},
	} {
		path := s.file
		if path == "" {
			path = filepath.Join(c.DataDir, s.name)
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				r.ok("secrets", "%s: %s does not exist yet; serve generates it (mode 0600) at start", s.what, path)
				continue
			}
		}
		secrets, err := readSecretsFile(path)
		if err != nil {
			r.fail("secrets", fmt.Errorf("%s: %w", s.what, err))
			continue
		}
		r.ok("secrets", "%s: %s, %s, the newest %q", s.what, path, plural(len(secrets), "secret"), secrets[len(secrets)-1].ID)
	}
}

// checkAudit asks, writing nothing, whether serve could open the audit log
// (its directory, its file, its lock: a serve still running with the same
// data directory holds it) and where the chain would resume; a problem is
// reported with the error serve would stop with.
func (c *serveCmd) checkAudit(r *checkReport) {
	path := c.auditFlags.path(c.DataDir)
	switch {
	case path == "":
		r.warn("audit", "off (--audit-log off): nothing is recorded")
		return
	case path == audit.Stdout:
		r.ok("audit", "standard output: each start begins a new chain there")
		return
	}
	if c.AuditLog == "" {
		if _, err := os.Stat(c.DataDir); errors.Is(err, fs.ErrNotExist) {
			r.ok("audit", "%s does not exist yet; serve creates it with the data directory and starts a new chain", path)
			return
		}
	}
	res, err := audit.Probe(path)
	if err != nil {
		r.fail("audit", fmt.Errorf("--audit-log: %w", err))
		return
	}
	var msg string
	switch {
	case res.From == "" && !res.Exists:
		msg = fmt.Sprintf("%s does not exist yet; serve creates it and starts a new chain", path)
	case res.From == "":
		msg = fmt.Sprintf("%s: writable, empty; serve starts a new chain", path)
	case res.Exists && res.From == filepath.Base(path):
		msg = fmt.Sprintf("%s: writable, not in use; serve resumes the chain after seq %d (head %s)", path, res.Seq, res.Head)
	default:
		msg = fmt.Sprintf("%s: writable, not in use; serve resumes the chain of %s after seq %d (head %s)", path, res.From, res.Seq, res.Head)
	}
	if res.TornBytes > 0 {
		msg += fmt.Sprintf("; an incomplete last line (%d bytes, a crash) is kept and named by serve's first record", res.TornBytes)
	}
	r.ok("audit", "%s", msg)
}

// checkDatabase reaches the database and compares its schema version with
// the one this binary knows, reading only.
func (c *serveCmd) checkDatabase(ctx context.Context, r *checkReport) {
	ctx, cancel := context.WithTimeout(ctx, checkProbeTimeout)
	defer cancel()
	var (
		what            string
		current, latest int
		err             error
	)
	if c.DatabaseURL != "" {
		what = "postgres " + redactURL(c.DatabaseURL)
		current, latest, err = postgresSchema(ctx, c.DatabaseURL)
	} else {
		path := filepath.Join(c.DataDir, databaseFile)
		what = "sqlite " + path
		if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
			ms, err := sqlite.Migrations()
			if err != nil {
				r.fail("database", err)
				return
			}
			r.ok("database", "%s does not exist yet; serve creates it at schema version %d", what, migrate.Latest(ms))
			return
		}
		current, latest, err = sqliteSchema(ctx, path)
	}
	switch {
	case err != nil:
		r.fail("database", fmt.Errorf("%s: %w", what, err))
	case current > latest:
		r.fail("database", fmt.Errorf("%s: the schema is at version %d, newer than this binary knows (%d): serve refuses it; upgrade otpgate", what, current, latest))
	case current < latest && c.NoMigrate && c.DatabaseURL != "":
		r.fail("database", fmt.Errorf("%s: the schema is at version %d, older than this binary needs (%d), and --no-migrate is given: run otpgate migrate first", what, current, latest))
	case current == 0:
		r.ok("database", "%s: reachable, no schema yet; serve creates it at version %d", what, latest)
	case current < latest:
		r.ok("database", "%s: reachable, schema version %d; serve migrates it to %d at start", what, current, latest)
	default:
		r.ok("database", "%s: reachable, schema version %d, current", what, current)
	}
}

// postgresSchema connects once and reads the schema version.
func postgresSchema(ctx context.Context, url string) (current, latest int, err error) {
	ms, err := postgres.Migrations()
	if err != nil {
		return 0, 0, err
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return 0, 0, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = postgres.DefaultConnectTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, 0, fmt.Errorf("unreachable: %w", err)
	}
	defer conn.Close(context.Background())
	if current, err = postgres.VersionOf(ctx, conn); err != nil {
		return 0, 0, err
	}
	return current, migrate.Latest(ms), nil
}

// sqliteSchema opens the database file read-only and reads its version.
func sqliteSchema(ctx context.Context, path string) (current, latest int, err error) {
	ms, err := sqlite.Migrations()
	if err != nil {
		return 0, 0, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	if current, err = migrate.Version(ctx, db); err != nil {
		return 0, 0, err
	}
	return current, migrate.Latest(ms), nil
}

// redactURL names a database URL without its password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(the --database-url)"
	}
	return u.Redacted()
}

// checkSMS checks the templates, the providers' settings and secrets and
// the routes, then contacts each provider that has a way to be asked
// without sending a message.
func (c *serveCmd) checkSMS(ctx context.Context, r *checkReport) {
	plan, err := c.planSMS()
	if err != nil {
		for _, e := range splitJoined(err) {
			r.fail("sms", e)
		}
		return
	}
	if err := plan.check(c); err != nil {
		for _, e := range splitJoined(err) {
			r.fail("sms", e)
		}
		return
	}
	r.ok("sms", "templates of both flows fit one SMS and match their DLT registrations, where given")
	for _, pp := range plan.providers {
		desc := fmt.Sprintf("provider %s (%s)", pp.name, pp.kind)
		switch {
		case pp.file != "":
			r.ok("sms", "%s: %s", desc, map[bool]string{true: "standard output", false: pp.file}[pp.file == sms.Stdout])
		case !c.CheckProviders:
			r.skip("sms", "%s: settings and secrets read; not contacted (--no-check-providers)", desc)
		case pp.smpp != nil:
			if msg, err := probeSMPP(ctx, *pp.smpp); err != nil {
				r.fail("sms", fmt.Errorf("%s: %w", desc, err))
			} else {
				r.ok("sms", "%s: %s", desc, msg)
			}
		case pp.twilio != nil:
			if msg, err := probeTwilio(ctx, *pp.twilio); err != nil {
				r.fail("sms", fmt.Errorf("%s: %w", desc, err))
			} else {
				r.ok("sms", "%s: %s", desc, msg)
			}
		case pp.http != nil:
			if msg, err := probeHTTP(ctx, pp.http.URL); err != nil {
				r.fail("sms", fmt.Errorf("%s: %w", desc, err))
			} else {
				r.ok("sms", "%s: %s", desc, msg)
			}
		}
	}
	if len(plan.routes) == 0 {
		r.ok("sms", "routes: every number through every provider, in that order")
		return
	}
	keys := make([]string, 0, len(plan.routes))
	for k := range plan.routes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.ok("sms", "route %s: %s", k, strings.Join(plan.routes[k], ", "))
	}
}

// splitJoined undoes errors.Join, so that each problem gets its line.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []error{err}
}

// probeSMPP binds to the account as serve would, then unbinds.
func probeSMPP(ctx context.Context, cfg smpp.Config) (string, error) {
	cfg.OnReceipt = nil
	client, err := smpp.New(cfg)
	if err != nil {
		return "", err
	}
	defer client.Close()
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = smpp.DefaultConnectTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	if err := client.WaitBound(ctx); err != nil {
		return "", fmt.Errorf("no bind: %w", err)
	}
	return fmt.Sprintf("bound to %s as %s (%s), then unbound; no message sent", cfg.Addr, cfg.SystemID, cfg.BindMode), nil
}

// probeTwilio asks Twilio about the account (GET Accounts/{sid}.json), which
// proves the Account SID and Auth Token and that the account is active,
// without sending a message: Twilio's Messages API has no dry run.
func probeTwilio(ctx context.Context, cfg twilio.Config) (string, error) {
	base := cfg.BaseURL
	if base == "" {
		base = twilio.DefaultBaseURL
	}
	ctx, cancel := context.WithTimeout(ctx, checkProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		strings.TrimSuffix(base, "/")+"/2010-04-01/Accounts/"+url.PathEscape(cfg.AccountSID)+".json", nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(cfg.AccountSID, cfg.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("unreachable: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Status  string `json:"status"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return "", fmt.Errorf("the Account SID and Auth Token were refused by Twilio (HTTP 401, error %d): check the token", body.Code)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("HTTP %d from Twilio (error %d: %s)", resp.StatusCode, body.Code, body.Message)
	case body.Status != "active":
		return "", fmt.Errorf("the Twilio account is %q, not active: it cannot send", body.Status)
	}
	return "Twilio accepts the Account SID and Auth Token; the account is active; no message sent", nil
}

// probeHTTP connects to the gateway's host (TLS included for https) and
// sends nothing: a gateway has no dry run that otpgate could know of.
func probeHTTP(ctx context.Context, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	ctx, cancel := context.WithTimeout(ctx, checkProbeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("gateway unreachable: %w", err)
	}
	defer conn.Close()
	if u.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			return "", fmt.Errorf("gateway %s: TLS: %w", addr, err)
		}
	}
	return fmt.Sprintf("%s reachable; no request sent (an HTTP gateway has no dry run)", addr), nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
