package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/gsp"
	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/server"
	"github.com/otpgate/otpgate/internal/sms"
)

type serveCmd struct {
	Listen   string `help:"Address to listen on." default:"127.0.0.1:8080"`
	BasePath string `help:"Path prefix of the Google routes, e.g. /otp (none by default)." default:""`
	DataDir  string `help:"Directory of the embedded database and generated secrets." default:"./otpgate-data" type:"path"`

	AdminListen string        `name:"admin-listen" help:"Address of the operators' port: /metrics, Go's pprof under /debug/pprof/, /healthz and /readyz (plain HTTP; never expose it to Google). Empty or off: none." default:"127.0.0.1:9464"`
	MaxInFlight int           `name:"max-in-flight" help:"Requests of Google's methods at work at once (envelope, database; not the wait for an SMS provider or for the embedded store's fsync); beyond it a request waits up to --queue-wait, then gets a 503 that Google retries. 0: no bound. Default: 2 per CPU core; raise it when the database is remote and slow to answer." default:"${max_in_flight}"`
	QueueWait   time.Duration `name:"queue-wait" help:"How long a request may wait for one of the --max-in-flight slots before its 503." default:"50ms"`

	CodeSecretFile string `help:"Secrets file (mode 0600) of the HMAC secrets of codes, request fingerprints and phone numbers at rest: lines of ID HEX, oldest first, the newest writes and all verify (otpgate secrets generate adds one); a single hex line is one secret. Default: generated in the data directory on first start." type:"path" placeholder:"FILE"`
	CardSecretFile string `help:"Secrets file (mode 0600, as --code-secret-file) of the HMAC secrets card numbers are looked up by; accounts import must use the same. Default: generated in the data directory." type:"path" placeholder:"FILE"`

	PIAID               []string          `name:"piaid" help:"paymentIntegratorAccountId served by the India Cards methods and /v2/echo (repeatable or comma-separated); requests for any other get 404."`
	ECI                 string            `name:"eci" help:"Electronic Commerce Indicator sent with a successful India Cards verifyOtp (none by default)."`
	CardSessionLifetime time.Duration     `help:"How long after authenticate resendOtp may be called." default:"10m"`
	MaxResends          int               `help:"resendOtp calls allowed per authentication." default:"3"`
	CvnResult           string            `name:"cvn-result" help:"cvnResult of every authenticate answer, one of Google's CvnResult values; otpgate does not check CVNs." default:"CVN_RESULT_NOT_DETERMINED"`
	AuthenticateShape   map[string]string `name:"authenticate-shape" help:"Replace the JSON that one authenticate outcome writes, OUTCOME=JSON (repeatable; in a --config file an object of outcome to JSON object). Outcomes: native-otp-sent, native-otp-not-supported, native-otp-not-requested, redirect-url-not-supported, redirect-url-not-requested." placeholder:"OUTCOME=JSON"`
	Surfaces            []string          `name:"surfaces" help:"Google APIs served, comma-separated: standard (/v1/), e-wallets (/e-wallets-v1/), korea-e-wallets (/korea-e-wallets-v1/), india-cards (card FOP methods and /v2/echo)." default:"standard,e-wallets,korea-e-wallets,india-cards"`

	envelopeFlags `embed:""`
	storeFlags    `embed:""`
	NoMigrate     bool `name:"no-migrate" help:"Do not apply PostgreSQL migrations at start (run otpgate migrate first); a schema this binary does not know is refused either way."`

	TLSCert string `name:"tls-cert" help:"Certificate (PEM) to terminate TLS with; without it otpgate speaks HTTP for a terminating proxy in front." type:"path" placeholder:"FILE"`
	TLSKey  string `name:"tls-key" help:"Private key (PEM) of --tls-cert." type:"path" placeholder:"FILE"`

	Dev               bool `help:"Development mode: plaintext bodies, SMS printed on standard output unless an SMS provider is configured, demo accounts loaded, readable logs."`
	InsecurePlaintext bool `help:"Accept and answer plain JSON bodies. Development only: Google never sends these."`

	SMSFile       string            `name:"sms-file" help:"Deliver SMS by appending one JSON object per line ({\"to\",\"text\",\"at\"}) to this file; - for standard output." placeholder:"PATH"`
	SMSHTTPURL    string            `name:"sms-http-url" help:"Deliver SMS through an HTTP gateway at this URL (2xx means accepted)." placeholder:"URL"`
	SMSHTTPMethod string            `name:"sms-http-method" help:"HTTP method of the gateway call." default:"POST"`
	SMSHTTPHeader map[string]string `name:"sms-http-header" help:"Header of the gateway call, NAME=VALUE (repeatable), e.g. Authorization=Bearer …" placeholder:"NAME=VALUE"`
	SMSHTTPBody   string            `name:"sms-http-body" help:"Body template of the gateway call with {to} and {text} placeholders (escaped for the content type). Default: {\"to\":{to},\"text\":{text}}."`
	SMSHTTPType   string            `name:"sms-http-content-type" help:"Content-Type of the gateway call: application/json or application/x-www-form-urlencoded." default:"application/json"`
	SMSTimeout    time.Duration     `name:"sms-timeout" help:"How long one SMS send may take, across the providers of its route (each gets at most an even share of what is left); then it counts as failed." default:"10s"`
	SMSTemplate   string            `name:"sms-template" help:"SMS text with {code} once; the smsMatchingToken goes on its own first line. Must fit one SMS." default:"${sms_template}"`
	smsFlags      `embed:""`
	checkFlag     `embed:""`
	auditFlags    `embed:""`

	CodeLength      int           `help:"Digits per code." default:"6"`
	CodeLifetime    time.Duration `help:"How long a code can be verified." default:"5m"`
	MaxAttempts     int           `help:"Wrong guesses per code before it is dead." default:"5"`
	SendLimit       []budgetFlag  `help:"Send budgets per account and per phone, COUNT/WINDOW, comma-separated." default:"5/15m,10/24h"`
	FailLimit       []budgetFlag  `help:"Failed-verification budgets per account and per phone, after which sendOtp answers OTP_LIMIT_REACHED and verifyOtp compares no more codes: a hard bound on guesses." default:"20/24h"`
	TimestampWindow time.Duration `help:"Accepted distance of requestTimestamp from server time, either way." default:"60s"`
	MaxBodyBytes    int64         `help:"Largest request body accepted." default:"65536"`
	ClaimLease      time.Duration `help:"How long an unfinished sendOtp belongs to the instance that started it before a retry may take it over; must exceed --sms-timeout." default:"30s"`
	InFlightWait    time.Duration `help:"How long a duplicate of a request still in progress waits for its answer before a 503." default:"5s"`
	Retention       time.Duration `help:"How long idempotency records are kept." default:"720h"`
	ChallengeKeep   time.Duration `name:"challenge-retention" help:"How long a code's record is kept after it expires." default:"24h"`
	PurgeInterval   time.Duration `help:"How often expired records are purged." default:"10m"`
	LogFormat       string        `help:"Log format: json or text (text in --dev)." enum:"json,text," default:""`
	LogLevel        slog.Level    `help:"Log level: debug, info, warn, error." default:"info"`
	ShutdownTimeout time.Duration `help:"How long in-flight requests get to finish on SIGTERM; must exceed --sms-timeout plus --in-flight-wait." default:"20s"`
}

// validBasePath accepts "" or a path of safe characters with a leading /.
func validBasePath(p string) bool {
	if p == "" {
		return true
	}
	if p[0] != '/' {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-._~", r)) {
			return false
		}
	}
	return true
}

// databaseName names the database for the start-up log, without credentials.
func (c *serveCmd) databaseName() string {
	if c.DatabaseURL == "" {
		return "sqlite"
	}
	return "postgres"
}

// budgetFlag reads COUNT/WINDOW, e.g. 5/15m.
type budgetFlag otp.Budget

func (b *budgetFlag) UnmarshalText(text []byte) error {
	count, window, ok := strings.Cut(string(text), "/")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 1 {
		return fmt.Errorf("budget %q: want COUNT/WINDOW, e.g. 5/15m", text)
	}
	d, err := time.ParseDuration(window)
	if err != nil || d <= 0 {
		return fmt.Errorf("budget %q: window: want a duration such as 15m or 24h", text)
	}
	*b = budgetFlag{Count: n, Per: d}
	return nil
}

func budgets(fs []budgetFlag) []otp.Budget {
	out := make([]otp.Budget, len(fs))
	for i, f := range fs {
		out[i] = otp.Budget(f)
	}
	return out
}

func (c *serveCmd) policy() otp.Policy {
	return otp.Policy{
		CodeLength: c.CodeLength, Lifetime: c.CodeLifetime, MaxAttempts: c.MaxAttempts,
		SendBudgets: budgets(c.SendLimit), FailBudgets: budgets(c.FailLimit),
		ClaimLease: c.ClaimLease, InFlightWait: c.InFlightWait,
		Cards: otp.CardPolicy{SessionLifetime: c.CardSessionLifetime, MaxResends: c.MaxResends},
	}
}

// check refuses settings that cannot work, naming the flag, before anything
// is created on disk.
func (c *serveCmd) check() error {
	switch {
	case c.CodeLength < 6 || c.CodeLength > 10:
		return fmt.Errorf("--code-length %d: codes have 6 to 10 digits", c.CodeLength)
	case c.CodeLifetime < 30*time.Second:
		return fmt.Errorf("--code-lifetime %s: at least 30s", c.CodeLifetime)
	case c.MaxAttempts < 1:
		return fmt.Errorf("--max-attempts %d: at least 1", c.MaxAttempts)
	case c.ClaimLease <= c.SMSTimeout:
		return fmt.Errorf("--claim-lease (%s) must exceed --sms-timeout (%s), or a slow SMS could be sent twice", c.ClaimLease, c.SMSTimeout)
	case c.ShutdownTimeout <= c.SMSTimeout+c.InFlightWait:
		return fmt.Errorf("--shutdown-timeout (%s) must exceed --sms-timeout plus --in-flight-wait (%s), or a stop could cut a send in half",
			c.ShutdownTimeout, c.SMSTimeout+c.InFlightWait)
	case c.DatabaseURL != "" && (c.CodeSecretFile == "" || c.CardSecretFile == ""):
		return errors.New("with --database-url, give --code-secret-file and --card-secret-file: every instance must use the same " +
			"secrets, or a code sent by one would not verify on another")
	case c.MaxResends < 0 || c.CardSessionLifetime <= 0:
		return errors.New("--max-resends must be 0 or more and --card-session-lifetime positive")
	case !validBasePath(c.BasePath):
		return fmt.Errorf("--base-path %q: empty, or a path such as /otp (a leading /, then letters, digits and -._~/)", c.BasePath)
	case c.TimestampWindow <= 0 || c.MaxBodyBytes <= 0 || c.SMSTimeout <= 0:
		return errors.New("--timestamp-window, --max-body-bytes and --sms-timeout must be positive")
	case c.PurgeInterval < time.Second:
		return fmt.Errorf("--purge-interval %s: at least 1s", c.PurgeInterval)
	case c.Retention < 24*time.Hour:
		// Shorter, and Google's retries (or a late verifyOtp) would find
		// their requestId forgotten.
		return fmt.Errorf("--retention %s: at least 24h", c.Retention)
	case c.ChallengeKeep < 0:
		return fmt.Errorf("--challenge-retention %s: 0 or more", c.ChallengeKeep)
	case c.MaxInFlight < 0 || c.QueueWait < 0:
		return fmt.Errorf("--max-in-flight %d and --queue-wait %s: 0 or more", c.MaxInFlight, c.QueueWait)
	}
	if err := c.policy().Validate(); err != nil {
		return fmt.Errorf("--send-limit, --fail-limit, --claim-lease or --in-flight-wait: %w", err)
	}
	return nil
}

// wireSettings are the settings of what otpgate says on the wire.
type wireSettings struct {
	surfaces []*server.Surface
	shapes   *gsp.AuthenticateShapes
	cvn      gsp.CvnResult
}

// wire checks and builds the wire settings; Run calls it beside check, so
// that a bad value stops the start before anything is created.
func (c *serveCmd) wire() (wireSettings, error) {
	var w wireSettings
	var err error
	if w.surfaces, err = server.SelectSurfaces(c.Surfaces); err != nil {
		return w, fmt.Errorf("--surfaces: %w", err)
	}
	if w.shapes, err = gsp.NewAuthenticateShapes(c.AuthenticateShape); err != nil {
		return w, fmt.Errorf("--authenticate-shape: %w", err)
	}
	if w.cvn, err = gsp.ParseCvnResult(c.CvnResult); err != nil {
		return w, fmt.Errorf("--cvn-result: %w", err)
	}
	return w, nil
}

func (c *serveCmd) logger() *slog.Logger {
	format := c.LogFormat
	if format == "" {
		format = "json"
		if c.Dev {
			format = "text"
		}
	}
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

func (c *serveCmd) Run(ctx context.Context) error {
	if c.Check {
		return c.runCheck(ctx)
	}
	scheme, err := c.scheme()
	if err != nil {
		return err
	}
	if c.Dev {
		// Development speaks plaintext unless keys were given to try them.
		c.InsecurePlaintext = scheme == ""
		if !c.smsGiven() {
			c.SMSFile = sms.Stdout
		}
	}
	switch {
	case c.InsecurePlaintext && scheme != "":
		return errors.New("--insecure-plaintext and envelope keys exclude each other: a server never falls back to plaintext")
	case !c.InsecurePlaintext && scheme == "":
		return errors.New("no message protection is configured: Google signs and encrypts every body. Give our private key and " +
			"Google's public key (--pgp-key and --pgp-google-key, or --jose-key and --jose-google-key; `otpgate keys generate` makes ours), " +
			"or run with --dev or --insecure-plaintext for local development")
	}
	if err := c.check(); err != nil {
		return err
	}
	wire, err := c.wire()
	if err != nil {
		return err
	}
	log := c.logger()
	var codec envelope.Codec = envelope.Plain{}
	var keys func() []envelope.KeyInfo
	if scheme != "" {
		var infos []envelope.KeyInfo
		codec, infos, err = c.codec(scheme, time.Now, c.MaxBodyBytes)
		if err != nil {
			return fmt.Errorf("%s keys: %w", scheme, err)
		}
		// Deferred first, so run last: after the servers stopped answering.
		defer c.closeTokens(log)
		keys = keyLister(codec)
		unknown := noExpiryKnown(c.JOSEKey)
		for _, k := range infos {
			if unknown(k) {
				log.Warn("no expiry known: the expiry alert cannot protect this key (a JOSE key in a token without x-public-key); give its URI ?x-public-key=FILE, a public JWK with exp",
					"scheme", k.Scheme, "owner", k.Owner, "id", k.ID)
			}
			if k.ExpiringSoon {
				log.Warn("a key expires within 30 days: rotate it", "scheme", k.Scheme, "owner", k.Owner, "id", k.ID, "expires", k.Expires)
			}
		}
	}

	smsPlan, err := c.planSMS()
	if err != nil {
		return err
	}
	// Listen before anything is created or started: a port in use refuses
	// the start with nothing to undo (no purger meeting a closed store).
	lns, err := c.listen()
	if err != nil {
		return err
	}
	defer lns.close()
	// The audit trail records from here: a refused start creates nothing.
	trail, err := c.startAudit(ctx, log)
	if err != nil {
		return err
	}
	defer trail.close()
	metrics := server.NewMetrics()
	if keys != nil {
		metrics.WatchKeys(keys)
	}
	if err := trail.watch(ctx, metrics, keys); err != nil {
		return err
	}
	texts, err := c.startSMS(smsPlan, metrics, log)
	if err != nil {
		return err
	}
	defer texts.Close()

	codeKeys, err := loadKeyring(c.CodeSecretFile, c.DataDir, codeSecretFile)
	if err != nil {
		return err
	}
	cards, err := cardHasher(c.CardSecretFile, c.DataDir)
	if err != nil {
		return err
	}
	if err := trail.secretsLoaded(ctx, c); err != nil {
		return err
	}
	st, err := c.openStore(ctx, c.DataDir, !c.NoMigrate)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := metrics.Register(storeCollectors(st)...); err != nil {
		return err
	}
	// Delivery receipts go on their challenges from now until the store
	// closes; before, they are only counted.
	texts.deliveries.use(st)
	defer texts.deliveries.use(nil)
	if c.Dev {
		if err := st.ImportAccounts(ctx, demoAccounts(cards)); err != nil {
			return fmt.Errorf("loading demo accounts: %w", err)
		}
		if len(c.PIAID) == 0 {
			c.PIAID = []string{demoPIAID}
		}
	}

	svc, err := otp.New(otp.Config{
		// A request waiting for the SMS provider gives its --max-in-flight
		// slot back meanwhile.
		Store: st, Messenger: server.ReleaseSlotWhileSending(sms.Messenger{Templates: texts.templates, Sender: texts.router}),
		Policy: c.policy(), Secrets: codeKeys, Logger: log, Auditor: trail.auditor(),
	})
	if err != nil {
		return err
	}
	// Budget events that versions before schema 5 wrote with a phone number
	// in clear now name it by its keyed hash, as new ones do.
	if n, err := svc.HashLegacyPhones(ctx); err != nil {
		return fmt.Errorf("hashing the phone numbers of older budget events: %w", err)
	} else if n > 0 {
		log.Info("budget events of an older version now name phones by their keyed hash", "events", n)
	}
	srv := server.New(server.Config{
		BasePath: strings.TrimSuffix(c.BasePath, "/"), Codec: codec, OTP: svc, DB: st,
		Metrics: metrics, Logger: log, Window: c.TimestampWindow, MaxBodyBytes: c.MaxBodyBytes,
		ParsePhone: phone.Parse,
		PIAIDs:     c.PIAID, Cards: cards, ECI: c.ECI,
		Surfaces: wire.surfaces, AuthenticateShapes: wire.shapes, CvnResult: wire.cvn,
		MaxInFlight: c.MaxInFlight, QueueWait: c.QueueWait,
	})

	purgeCtx, stopPurge := context.WithCancel(ctx)
	purgeDone := make(chan struct{})
	go func() {
		defer close(purgeDone)
		svc.RunPurger(purgeCtx, otp.Retention{Requests: c.Retention, Challenges: c.ChallengeKeep}, c.PurgeInterval)
	}()
	// Deferred after the store's Close, so run before it: a purge under way
	// ends before the database goes.
	defer func() {
		stopPurge()
		<-purgeDone
	}()

	servers := []*http.Server{{
		Handler:           texts.mount(srv.Handler(), c.BasePath, lns.admin == nil),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      c.SMSTimeout + c.InFlightWait + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          server.ErrorLog(log, "main"),
	}}
	listeners := []net.Listener{lns.main}
	adminAddr := "off"
	if lns.admin != nil {
		// No write timeout: a CPU profile or a trace takes as long as asked.
		servers = append(servers, &http.Server{
			Handler:           texts.mount(srv.AdminHandler(), "", true),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          server.ErrorLog(log, "admin"),
		})
		listeners = append(listeners, lns.admin)
		adminAddr = lns.admin.Addr().String()
	}
	if c.InsecurePlaintext {
		log.Warn("PLAINTEXT bodies are accepted and answered: development only, never expose this server to Google (--insecure-plaintext)")
	}
	log.Info("otpgate listening", "addr", lns.main.Addr().String(), "scheme", lns.scheme, "admin", adminAddr, "basePath", c.BasePath,
		"version", versionString(), "sms", texts.router.Name(), "database", c.databaseName(), "dataDir", c.DataDir, "piaids", c.PIAID,
		"surfaces", c.Surfaces, "envelope", codec.Name(), "maxInFlight", c.MaxInFlight, "queueWait", c.QueueWait)
	if c.Dev {
		fmt.Fprintf(os.Stderr, "\nDevelopment server on %s://%s%s — demo accounts: %s\n\n", lns.scheme, lns.main.Addr(), c.BasePath, demoSummary())
	}

	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { errc <- hs.Serve(listeners[i]) }()
	}
	select {
	case err := <-errc:
		c.shutdown(servers)
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	return c.shutdown(servers)
}

// shutdown stops the servers, letting requests in flight finish within
// --shutdown-timeout.
func (c *serveCmd) shutdown(servers []*http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, hs := range servers {
		wg.Go(func() { errs[i] = hs.Shutdown(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// listeners are the ports serve answers on: Google's (with TLS when
// configured) and the operators' (nil with --admin-listen off).
type listeners struct {
	main, admin net.Listener
	scheme      string // of main: http or https
}

func (l *listeners) close() {
	for _, ln := range []net.Listener{l.main, l.admin} {
		if ln != nil {
			ln.Close() // after Serve or Shutdown, closed already: no matter
		}
	}
}

// listen opens both ports, or neither.
func (c *serveCmd) listen() (*listeners, error) {
	l := &listeners{scheme: "http"}
	var tlsCfg *tls.Config
	if c.TLSCert != "" || c.TLSKey != "" {
		if c.TLSCert == "" || c.TLSKey == "" {
			return nil, errors.New("--tls-cert and --tls-key go together")
		}
		var err error
		if tlsCfg, err = server.TLSConfig(c.TLSCert, c.TLSKey); err != nil {
			return nil, err
		}
		l.scheme = "https"
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	l.main = ln
	if tlsCfg != nil {
		l.main = tls.NewListener(ln, tlsCfg)
	}
	if a := c.AdminListen; a != "" && a != "off" {
		if l.admin, err = net.Listen("tcp", a); err != nil {
			l.close()
			return nil, fmt.Errorf("--admin-listen: %w (give each instance on a host its own, or off)", err)
		}
	}
	return l, nil
}
