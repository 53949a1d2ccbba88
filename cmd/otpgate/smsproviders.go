package main

// SMS providers, routes and templates: from the flags and the --config
// file's "sms" object to a router of started providers, or, for
// `serve --check`, to a list of what is wrong without touching the network.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/server"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/sms/smpp"
	"github.com/otpgate/otpgate/internal/sms/twilio"
)

// Environment variables of the flag-configured providers' secrets, read
// when their files are not given.
const (
	smppPasswordEnv    = "OTPGATE_SMS_SMPP_PASSWORD"
	twilioAuthTokenEnv = "OTPGATE_SMS_TWILIO_AUTH_TOKEN"
)

// defaultTwilioCallbackPath is where Twilio's status callbacks are served.
const defaultTwilioCallbackPath = "/sms/twilio/status"

// smsFlags are the SMS settings besides the first ones of serveCmd (the
// file sink, the HTTP gateway, --sms-timeout and --sms-template): providers,
// routes and templates in the --config file, one SMPP and one Twilio
// account by flags, and the router's settings.
type smsFlags struct {
	SMS smsSettings `name:"sms" help:"SMS providers, routes and templates as a JSON object: normally the \"sms\" object of the --config file (README, SMS providers). Its providers come before those of flags." placeholder:"JSON"`

	SMSRoute           []string      `name:"sms-route" sep:"none" help:"Providers to try, in order, for the numbers of a prefix: PREFIX=NAME,NAME (repeatable), e.g. +91=smpp-1,http-1, or default=NAME,… for the others. Replaces the --config file's route of that prefix. Default: every provider, in order." placeholder:"PREFIX=NAMES"`
	SMSRetryUnknown    bool          `name:"sms-retry-unknown" help:"After a provider whose outcome is unknown (it timed out once it had the message), try the next one: the user may get the code twice. Off: that send fails (MESSAGE_UNABLE_TO_BE_SENT)."`
	SMSMaxPerMinute    int           `name:"sms-max-per-minute" help:"Most SMS handed to each provider in any minute, a ceiling on the bill; beyond it the next provider is tried, and with none left the send fails. 0: no ceiling." default:"0"`
	SMSBreakerFailures int           `name:"sms-breaker-failures" help:"Consecutive failures of a provider that open its circuit breaker: it is skipped until the cool-down ends." default:"5"`
	SMSBreakerCoolDown time.Duration `name:"sms-breaker-cool-down" help:"How long an open breaker skips its provider before one message probes it." default:"30s"`

	SMSSMPPAddr           string  `name:"sms-smpp-addr" help:"Send SMS through this SMPP 3.4 SMSC or aggregator, HOST:PORT (provider \"smpp\")." placeholder:"HOST:PORT"`
	SMSSMPPSystemID       string  `name:"sms-smpp-system-id" help:"SMPP system_id of the account."`
	SMSSMPPPasswordFile   string  `name:"sms-smpp-password-file" help:"File (mode 0600) of the SMPP password; without it, the OTPGATE_SMS_SMPP_PASSWORD environment variable." type:"path" placeholder:"FILE"`
	SMSSMPPSystemType     string  `name:"sms-smpp-system-type" help:"SMPP system_type of the bind, if the SMSC wants one."`
	SMSSMPPSource         string  `name:"sms-smpp-source" help:"Source address: a sender id such as XYZBNK (TON 5, NPI 0), +NUMBER (TON 1, NPI 1) or a short code. A DLT template's header replaces it. Empty: the account's default."`
	SMSSMPPBindMode       string  `name:"sms-smpp-bind-mode" help:"transceiver (submits and receives delivery receipts) or transmitter." enum:"transceiver,transmitter" default:"transceiver"`
	SMSSMPPTLS            bool    `name:"sms-smpp-tls" help:"Connect to the SMSC over TLS."`
	SMSSMPPTPS            float64 `name:"sms-smpp-tps" help:"Most submit_sm per second, as the account allows. 0: no limit." default:"0"`
	SMSSMPPDLTEntityTag   string  `name:"sms-smpp-dlt-entity-tag" help:"TLV tag of the India DLT entity id (PE ID)." default:"0x1400"`
	SMSSMPPDLTTemplateTag string  `name:"sms-smpp-dlt-template-tag" help:"TLV tag of the India DLT content template id." default:"0x1401"`

	SMSTwilioAccountSID          string `name:"sms-twilio-account-sid" help:"Send SMS through this Twilio account, AC… (provider \"twilio\")." placeholder:"SID"`
	SMSTwilioAuthTokenFile       string `name:"sms-twilio-auth-token-file" help:"File (mode 0600) of the account's Auth Token; without it, the OTPGATE_SMS_TWILIO_AUTH_TOKEN environment variable." type:"path" placeholder:"FILE"`
	SMSTwilioFrom                string `name:"sms-twilio-from" help:"Twilio sender: an E.164 number, a short code or an alphanumeric sender id."`
	SMSTwilioMessagingServiceSID string `name:"sms-twilio-messaging-service-sid" help:"Twilio Messaging Service, MG…, instead of --sms-twilio-from." placeholder:"SID"`
	SMSTwilioStatusCallbackURL   string `name:"sms-twilio-status-callback-url" help:"Public URL that Twilio posts delivery statuses to; otpgate serves it at /sms/twilio/status on the admin listener (or under --base-path without one)." placeholder:"URL"`
}

// smsGiven reports whether any SMS provider is configured.
func (c *serveCmd) smsGiven() bool {
	return c.SMSFile != "" || c.SMSHTTPURL != "" || c.SMSSMPPAddr != "" || c.SMSTwilioAccountSID != "" || len(c.SMS.Providers) > 0
}

// smsPlan is the SMS configuration, checked and with its secrets read, but
// with nothing started.
type smsPlan struct {
	templates *sms.TemplateSet
	providers []providerPlan
	routes    map[string][]string
}

// providerPlan is one provider, by the configuration of its package.
type providerPlan struct {
	name, kind   string
	maxPerMinute int
	smpp         *smpp.Config
	twilio       *twilio.Config
	callbackPath string // of a Twilio provider with a status callback URL
	http         *sms.HTTPConfig
	file         string
}

// planSMS checks the SMS configuration and reads its secrets. It reports
// every problem it finds, not only the first.
func (c *serveCmd) planSMS() (*smsPlan, error) {
	p := &smsPlan{}
	var errs []error
	var err error
	if p.templates, err = c.templates(); err != nil {
		errs = append(errs, err)
	}
	for i, ps := range c.SMS.Providers {
		pp, err := c.planProvider(ps)
		if err != nil {
			errs = append(errs, fmt.Errorf("sms/providers/%d (%q): %w", i, ps.Name, err))
			continue
		}
		p.providers = append(p.providers, pp)
	}
	flagged, err := c.flagProviders()
	if err != nil {
		errs = append(errs, err)
	}
	p.providers = append(p.providers, flagged...)
	if len(p.providers) == 0 && len(c.SMS.Providers) == 0 && err == nil {
		errs = append(errs, errors.New("no SMS provider: give --sms-http-url or --sms-file, --sms-smpp-addr or --sms-twilio-account-sid, "+
			"or providers in the --config file's \"sms\" object (or --dev, which prints SMS on standard output)"))
	}
	if p.routes, err = c.routes(); err != nil {
		errs = append(errs, err)
	}
	paths := map[string]string{}
	for _, pp := range p.providers {
		if pp.callbackPath == "" {
			continue
		}
		if other, dup := paths[pp.callbackPath]; dup {
			errs = append(errs, fmt.Errorf("sms: Twilio providers %s and %s both serve their status callbacks at %s: give each its own statusCallbackPath",
				other, pp.name, pp.callbackPath))
		}
		paths[pp.callbackPath] = pp.name
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// templates builds the templates of both flows: the legacy flow's from
// --sms-template unless the "sms" object has one, the card flow's from the
// "sms" object (without one, the legacy text without its token line).
func (c *serveCmd) templates() (*sms.TemplateSet, error) {
	ts := map[sms.Flow]sms.Template{}
	for flow, t := range c.SMS.Templates {
		ts[flow] = t
	}
	where := "sms/templates"
	if _, ok := ts[sms.FlowLegacy]; ok {
		if c.SMSTemplate != sms.DefaultTemplate && c.SMSTemplate != ts[sms.FlowLegacy].Text {
			return nil, errors.New("--sms-template and the --config file's sms/templates/legacy both set the legacy text: keep one")
		}
	} else {
		ts[sms.FlowLegacy] = sms.Template{Text: c.SMSTemplate}
		if len(c.SMS.Templates) == 0 {
			where = "--sms-template"
		}
	}
	set, err := sms.NewTemplateSet(sms.TemplateSetConfig{CodeLength: c.CodeLength, Templates: ts})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return set, nil
}

// routes are the "sms" object's, with each --sms-route replacing the route
// of its prefix; nil when there are none (every provider, in order).
func (c *serveCmd) routes() (map[string][]string, error) {
	routes := map[string][]string{}
	for k, v := range c.SMS.Routes {
		routes[k] = v
	}
	for _, r := range c.SMSRoute {
		prefix, names, ok := strings.Cut(r, "=")
		if !ok || prefix == "" || names == "" {
			return nil, fmt.Errorf("--sms-route %q: want PREFIX=NAME,NAME, e.g. +91=smpp-1,http-1, or default=NAME", r)
		}
		routes[strings.TrimSpace(prefix)] = strings.Split(strings.ReplaceAll(names, " ", ""), ",")
	}
	if len(routes) == 0 {
		return nil, nil
	}
	return routes, nil
}

// flagProviders are the providers of the flags, in the order they are
// tried by default: SMPP, Twilio, the HTTP gateway, the file.
func (c *serveCmd) flagProviders() ([]providerPlan, error) {
	var ps []providerPlan
	var errs []error
	switch {
	case c.SMSSMPPAddr != "":
		pass, err := readSecret("the SMPP password of --sms-smpp-addr", c.SMSSMPPPasswordFile, envIfNoFile(c.SMSSMPPPasswordFile, smppPasswordEnv),
			"--sms-smpp-password-file (a file of mode 0600) or the environment variable "+smppPasswordEnv)
		if err != nil {
			errs = append(errs, err)
			break
		}
		entity, err1 := parseTLVTag(c.SMSSMPPDLTEntityTag)
		template, err2 := parseTLVTag(c.SMSSMPPDLTTemplateTag)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("--sms-smpp-dlt-entity-tag or --sms-smpp-dlt-template-tag: %w", err))
			break
		}
		mode, err := smpp.ParseBindMode(c.SMSSMPPBindMode)
		if err != nil {
			errs = append(errs, fmt.Errorf("--sms-smpp-bind-mode: %w", err))
			break
		}
		cfg := &smpp.Config{
			Name: "smpp", Addr: c.SMSSMPPAddr, SystemID: c.SMSSMPPSystemID, Password: pass, SystemType: c.SMSSMPPSystemType,
			BindMode: mode, Source: sourceAddress(c.SMSSMPPSource, nil, nil), TPS: c.SMSSMPPTPS,
			DLTEntityIDTag: entity, DLTTemplateIDTag: template, RequestTimeout: c.SMSTimeout,
		}
		if c.SMSSMPPTLS {
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		ps = append(ps, providerPlan{name: cfg.Name, kind: "smpp", smpp: cfg})
	case c.SMSSMPPSystemID != "" || c.SMSSMPPPasswordFile != "" || c.SMSSMPPSource != "":
		errs = append(errs, errors.New("--sms-smpp-system-id, --sms-smpp-password-file and --sms-smpp-source need --sms-smpp-addr"))
	}
	switch {
	case c.SMSTwilioAccountSID != "":
		token, err := readSecret("the Auth Token of --sms-twilio-account-sid", c.SMSTwilioAuthTokenFile, envIfNoFile(c.SMSTwilioAuthTokenFile, twilioAuthTokenEnv),
			"--sms-twilio-auth-token-file (a file of mode 0600) or the environment variable "+twilioAuthTokenEnv)
		if err != nil {
			errs = append(errs, err)
			break
		}
		cfg := &twilio.Config{
			Name: "twilio", AccountSID: c.SMSTwilioAccountSID, AuthToken: token, From: c.SMSTwilioFrom,
			MessagingServiceSID: c.SMSTwilioMessagingServiceSID, StatusCallbackURL: c.SMSTwilioStatusCallbackURL, Timeout: c.SMSTimeout,
		}
		pp := providerPlan{name: cfg.Name, kind: "twilio", twilio: cfg}
		if cfg.StatusCallbackURL != "" {
			pp.callbackPath = defaultTwilioCallbackPath
		}
		ps = append(ps, pp)
	case c.SMSTwilioAuthTokenFile != "" || c.SMSTwilioFrom != "" || c.SMSTwilioMessagingServiceSID != "" || c.SMSTwilioStatusCallbackURL != "":
		errs = append(errs, errors.New("the --sms-twilio-* flags need --sms-twilio-account-sid"))
	}
	if c.SMSHTTPURL != "" {
		ps = append(ps, providerPlan{name: "http", kind: "http", http: &sms.HTTPConfig{
			URL: c.SMSHTTPURL, Method: c.SMSHTTPMethod, Headers: c.SMSHTTPHeader,
			BodyTemplate: c.SMSHTTPBody, ContentType: c.SMSHTTPType, Timeout: c.SMSTimeout,
		}})
	}
	if c.SMSFile != "" {
		ps = append(ps, providerPlan{name: "file", kind: "file", file: c.SMSFile})
	}
	return ps, errors.Join(errs...)
}

// envIfNoFile is the environment variable of a secret whose file flag is
// not given; "" when the variable is not set either, so that readSecret
// asks for one or the other.
func envIfNoFile(file, env string) string {
	if _, set := os.LookupEnv(env); file != "" || !set {
		return ""
	}
	return env
}

// planProvider turns one provider of the "sms" object into its package's
// configuration, reading its secrets.
func (c *serveCmd) planProvider(ps providerSettings) (providerPlan, error) {
	timeout := time.Duration(ps.Timeout)
	if timeout == 0 {
		timeout = c.SMSTimeout
	}
	pp := providerPlan{name: ps.Name, kind: ps.Type, maxPerMinute: ps.MaxPerMinute}
	if ps.MaxPerMinute < 0 {
		return pp, fmt.Errorf("maxPerMinute %d: 0 (--sms-max-per-minute) or more", ps.MaxPerMinute)
	}
	switch {
	case ps.SMPP != nil:
		s := ps.SMPP
		pass, err := readSecret("SMPP password", s.PasswordFile, s.PasswordEnv, `"passwordFile" (a file of mode 0600) or "passwordEnv" (an environment variable's name)`)
		if err != nil {
			return pp, err
		}
		mode, err := smpp.ParseBindMode(s.BindMode)
		if err != nil {
			return pp, err
		}
		cfg := &smpp.Config{
			Name: ps.Name, Addr: s.Addr, SystemID: s.SystemID, Password: pass, SystemType: s.SystemType, BindMode: mode,
			ServiceType: s.ServiceType, NoReceipts: s.NoReceipts, WindowSize: s.WindowSize, TPS: s.TPS,
			EnquireLinkInterval: time.Duration(s.EnquireLink), ConnectTimeout: time.Duration(s.ConnectTimeout), RequestTimeout: timeout,
			DLTEntityIDTag: uint16(s.DLTEntityTag), DLTTemplateIDTag: uint16(s.DLTTemplateTag),
		}
		if s.Source != nil {
			cfg.Source = sourceAddress(s.Source.Addr, s.Source.TON, s.Source.NPI)
		}
		if s.TLS {
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		pp.smpp = cfg
	case ps.Twilio != nil:
		s := ps.Twilio
		token, err := readSecret("Twilio Auth Token", s.AuthTokenFile, s.AuthTokenEnv, `"authTokenFile" (a file of mode 0600) or "authTokenEnv" (an environment variable's name)`)
		if err != nil {
			return pp, err
		}
		pp.twilio = &twilio.Config{
			Name: ps.Name, AccountSID: s.AccountSID, AuthToken: token, From: s.From, MessagingServiceSID: s.MessagingServiceSID,
			StatusCallbackURL: s.StatusCallbackURL, BaseURL: s.BaseURL, Timeout: timeout,
		}
		switch {
		case s.StatusCallbackURL == "" && s.StatusCallbackPath != "":
			return pp, errors.New("statusCallbackPath without statusCallbackUrl: Twilio would post nothing there")
		case s.StatusCallbackURL != "":
			pp.callbackPath = s.StatusCallbackPath
			if pp.callbackPath == "" {
				pp.callbackPath = defaultTwilioCallbackPath
			}
			if !strings.HasPrefix(pp.callbackPath, "/") || !validBasePath(pp.callbackPath) {
				return pp, fmt.Errorf("statusCallbackPath %q: a path such as %s", pp.callbackPath, defaultTwilioCallbackPath)
			}
		}
	case ps.HTTP != nil:
		s := ps.HTTP
		headers := map[string]string{}
		for k, v := range s.Headers {
			headers[k] = v
		}
		var errs []error
		for name, file := range s.HeaderFiles {
			v, err := readSecret("header "+name, file, "", "headerFiles")
			errs = append(errs, err)
			headers[name] = v
		}
		for name, env := range s.HeaderEnv {
			if _, dup := headers[name]; dup {
				errs = append(errs, fmt.Errorf("header %s is given twice", name))
				continue
			}
			v, err := readSecret("header "+name, "", env, "headerEnv")
			errs = append(errs, err)
			headers[name] = v
		}
		if err := errors.Join(errs...); err != nil {
			return pp, err
		}
		pp.http = &sms.HTTPConfig{URL: s.URL, Method: s.Method, Headers: headers, BodyTemplate: s.Body, ContentType: s.ContentType, Timeout: timeout}
	case ps.File != nil:
		if ps.File.Path == "" {
			return pp, errors.New("no \"path\"")
		}
		pp.file = ps.File.Path
	}
	return pp, nil
}

// sourceAddress is an SMPP source address; without an explicit TON and
// NPI, +digits is international (1, 1), digits a short code or national
// number (0, 1), anything else an alphanumeric sender id (5, 0).
func sourceAddress(addr string, ton, npi *uint8) smpp.Address {
	a := smpp.Address{Addr: addr}
	switch {
	case addr == "":
	case strings.HasPrefix(addr, "+") && allDigits(addr[1:]):
		a = smpp.Address{TON: smpp.TONInternational, NPI: smpp.NPIISDN, Addr: addr[1:]}
	case allDigits(addr):
		a.TON, a.NPI = smpp.TONUnknown, smpp.NPIISDN
	default:
		a.TON, a.NPI = smpp.TONAlphanumeric, smpp.NPIUnknown
	}
	if ton != nil {
		a.TON = *ton
	}
	if npi != nil {
		a.NPI = *npi
	}
	return a
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// check finds what would stop the providers from starting, without
// connecting anywhere nor creating any file, and checks the routes.
func (p *smsPlan) check(c *serveCmd) error {
	var errs []error
	var stubs []sms.Provider
	for _, pp := range p.providers {
		var err error
		switch {
		case pp.smpp != nil:
			err = pp.smpp.Validate()
		case pp.twilio != nil:
			_, err = twilio.New(*pp.twilio) // makes no request
		case pp.http != nil:
			_, err = sms.NewHTTPSender(*pp.http, nil)
		case pp.file != "" && pp.file != sms.Stdout:
			if info, serr := os.Stat(filepath.Dir(pp.file)); serr != nil || !info.IsDir() {
				err = fmt.Errorf("file %s: its directory does not exist", pp.file)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("provider %s: %w", pp.name, err))
		}
		stubs = append(stubs, sms.Provider{Sender: namedSender(pp.name), MaxPerMinute: pp.maxPerMinute})
	}
	if _, err := sms.NewRouter(p.routerConfig(c, stubs, nil, nil)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// namedSender stands for a provider in the routes that check builds.
type namedSender string

func (n namedSender) Name() string { return string(n) }

func (namedSender) Send(context.Context, sms.Message) error { return errors.New("not started") }

func (p *smsPlan) routerConfig(c *serveCmd, providers []sms.Provider, log *slog.Logger, observe func(sms.Attempt)) sms.RouterConfig {
	return sms.RouterConfig{
		Providers: providers, Routes: p.routes, Timeout: c.SMSTimeout, RetryUnknown: c.SMSRetryUnknown,
		MaxPerMinute: c.SMSMaxPerMinute, BreakerFailures: c.SMSBreakerFailures, BreakerCoolDown: c.SMSBreakerCoolDown,
		Observe: observe, Logger: log,
	}
}

// smsRuntime is the started SMS side of serve.
type smsRuntime struct {
	router    *sms.Router
	templates *sms.TemplateSet
	// callbacks are Twilio's status callbacks, by local path.
	callbacks map[string]http.Handler
	// deliveries records the receipts on the challenges, once serve has
	// opened the store (deliveries.use).
	deliveries *deliveries
	closers    []io.Closer
}

// Close unbinds the SMPP accounts and closes the file.
func (r *smsRuntime) Close() {
	for _, c := range r.closers {
		c.Close()
	}
}

// mount serves Twilio's status callbacks under base beside h, when here
// (on the admin listener, or on the main one without an admin listener);
// otherwise, or when there are none, it returns h.
func (r *smsRuntime) mount(h http.Handler, base string, here bool) http.Handler {
	if !here || len(r.callbacks) == 0 {
		return h
	}
	base = strings.TrimSuffix(base, "/")
	mux := http.NewServeMux()
	for path, cb := range r.callbacks {
		mux.Handle(base+path, cb)
	}
	mux.Handle("/", h)
	return mux
}

// startSMS starts the providers of the plan behind a router whose metrics
// go to m.
func (c *serveCmd) startSMS(p *smsPlan, m *server.Metrics, log *slog.Logger) (_ *smsRuntime, err error) {
	rt := &smsRuntime{templates: p.templates, callbacks: map[string]http.Handler{}, deliveries: &deliveries{log: log}}
	defer func() {
		if err != nil {
			rt.Close()
		}
	}()
	met := newSMSMetrics()
	var providers []sms.Provider
	for _, pp := range p.providers {
		var (
			s        sms.Sender
			classify func(error) sms.Failure
		)
		switch {
		case pp.smpp != nil:
			cfg := *pp.smpp
			cfg.Logger = log
			name := pp.name
			cfg.OnReceipt = func(r smpp.Receipt) {
				status := smppStatus(r.State)
				met.delivery.WithLabelValues(name, status).Inc()
				log.Debug("sms: delivery receipt", "provider", name, "message_id", r.MessageID, "status", status)
				state, ok := smppDelivery(r.State)
				rt.deliveries.record(name, r.MessageID, state, ok)
			}
			client, err := smpp.New(cfg)
			if err != nil {
				return nil, fmt.Errorf("SMS provider %s: %w", pp.name, err)
			}
			rt.closers = append(rt.closers, client)
			s, classify = client, sms.ClassifyKind
		case pp.twilio != nil:
			client, err := twilio.New(*pp.twilio)
			if err != nil {
				return nil, fmt.Errorf("SMS provider %s: %w", pp.name, err)
			}
			if pp.callbackPath != "" {
				name := pp.name
				rt.callbacks[pp.callbackPath] = twilio.CallbackHandler(pp.twilio.AuthToken, pp.twilio.StatusCallbackURL, func(st twilio.Status) {
					status := twilioStatus(st.Status)
					met.delivery.WithLabelValues(name, status).Inc()
					log.Debug("sms: delivery status", "provider", name, "message_sid", st.MessageSID, "status", status, "error_code", st.ErrorCode)
					state, ok := twilioDelivery(st.Status)
					rt.deliveries.record(name, st.MessageSID, state, ok)
				})
			}
			s, classify = client, sms.ClassifyKind
		case pp.http != nil:
			h, err := sms.NewHTTPSender(*pp.http, nil)
			if err != nil {
				return nil, fmt.Errorf("SMS provider %s: %w", pp.name, err)
			}
			s, classify = namedAs{h, pp.name}, sms.ClassifyHTTP
		case pp.file != "":
			f, err := sms.NewFileSender(pp.file)
			if err != nil {
				return nil, fmt.Errorf("SMS provider %s: %w", pp.name, err)
			}
			rt.closers = append(rt.closers, f)
			s, classify = namedAs{f, pp.name}, sms.ClassifyError
		}
		providers = append(providers, sms.Provider{Sender: m.InstrumentSender(s), Classify: classify, MaxPerMinute: pp.maxPerMinute})
	}
	rt.router, err = sms.NewRouter(p.routerConfig(c, providers, log, met.observe))
	if err != nil {
		return nil, err
	}
	if err := m.Register(met.collectors(rt.router)...); err != nil {
		return nil, fmt.Errorf("SMS metrics: %w", err)
	}
	return rt, nil
}

// namedAs gives a sender the name of its provider in the configuration.
type namedAs struct {
	sms.Sender
	name string
}

func (n namedAs) Name() string { return n.name }

// smppStatus and twilioStatus name a delivery's status in one vocabulary
// for otpgate_sms_delivery_total, whatever the provider.
func smppStatus(s smpp.MessageState) string {
	switch s {
	case smpp.StateDelivered:
		return "delivered"
	case smpp.StateUndeliverable:
		return "undelivered"
	case smpp.StateExpired:
		return "expired"
	case smpp.StateDeleted:
		return "deleted"
	case smpp.StateRejected:
		return "rejected"
	case smpp.StateAccepted:
		return "accepted"
	case smpp.StateEnroute:
		return "enroute"
	}
	return "unknown"
}

// twilioStatuses are Twilio's MessageStatus values
// (https://www.twilio.com/docs/messaging/api/message-resource#message-status-values).
var twilioStatuses = []string{"queued", "sending", "sent", "delivered", "undelivered", "failed", "read",
	"accepted", "scheduled", "canceled", "partially_delivered"}

func twilioStatus(s string) string {
	if slices.Contains(twilioStatuses, s) {
		return s
	}
	return "unknown"
}
