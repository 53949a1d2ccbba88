package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/envelope"
)

// Status is the verdict on one scenario.
type Status string

// The verdicts.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// need is what a scenario cannot run without.
type need uint

const (
	needCodes       need = 1 << iota // the codes the target texts
	needPIAID                        // a PIAID the target serves (current dialect)
	needProtected                    // an envelope that signs and encrypts
	needImpostor                     // a Google-side codec signing with a key the target does not trust
	needMisdirected                  // a Google-side codec encrypting to a key that is not the target's
)

// Scenario is one entry of the conformance catalogue.
type Scenario struct {
	Name   string // "sendOtp/unknown-phone-number", "e-wallets: sendOtp/unknown-phone-number"
	Spec   string // the SPEC sections it checks
	Expect string // the expected answer, in Response.Summary's form
	needs  need
	// surface is the surface it plays on, "" for none; it runs only when
	// the target serves it. offSurface is the surface it checks is turned
	// off; it runs only when the target does not serve it.
	surface, offSurface string
	// ownPIAID is set for a current-dialect scenario that brings its own
	// PIAID (a stranger's, or none), and so runs without --piaid.
	ownPIAID bool
	// never is set for a rule no client can drive a server to: the reason.
	never string
	run   func(ctx context.Context, e *env) error
}

// Surface is the surface the scenario plays on, "" for a scenario of none
// (the envelope's, and those checking that a surface is off).
func (s Scenario) Surface() string { return s.surface }

// Requires says what the scenario cannot run without, for listings: "" for
// nothing, else e.g. "codes, PIAID", or why it never runs.
func (s Scenario) Requires() string {
	if s.never != "" {
		return "not driveable: " + s.never
	}
	var parts []string
	for _, n := range []struct {
		bit  need
		name string
	}{{needCodes, "codes"}, {needPIAID, "PIAID"}, {needProtected, "pgp/jose"},
		{needImpostor, "an untrusted signing key"}, {needMisdirected, "a stranger's public key"}} {
		if s.needs&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, ", ")
}

// Catalogue lists every scenario, in the order Conformance runs them.
func Catalogue() []Scenario { return catalogue() }

// WriteCatalogue lists the scenarios for people (`otpgate simulate
// conformance --list`): each one's name, surface, SPEC sections, expected
// answer and what it cannot run without.
func WriteCatalogue(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tSURFACE\tSPEC\tEXPECTED\tNEEDS")
	for _, s := range catalogue() {
		surface := s.surface
		switch {
		case s.offSurface != "":
			surface = "(" + s.offSurface + " off)"
		case surface == "":
			surface = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, surface, s.Spec, s.Expect, s.Requires())
	}
	return tw.Flush()
}

// ConformanceConfig says what to run and with what.
type ConformanceConfig struct {
	Client *Client
	// Codes reads the codes the target texts: an *SMSFile or a *Prompt.
	// Nil skips the scenarios that need a code.
	Codes Codes
	// Impostor seals requests as Google would except for the signature,
	// made with a key the target does not trust (a "wrong" Google key),
	// while encrypting to the target's key; the bad-signature scenario
	// needs it. Misdirected seals them signed by the true Google key but
	// encrypted to a key that is not the target's (a stranger's public
	// key); the wrong-encryption-key scenario needs it. Both are skipped
	// when nil.
	Impostor, Misdirected envelope.Codec

	// What the target is configured with, where a scenario depends on it.
	Window       time.Duration // --timestamp-window; default 60s
	MaxBodyBytes int64         // --max-body-bytes; default 65536
	MaxAttempts  int           // --max-attempts; default 5
	// LimitProbe is how many SUCCESS sends the OTP_LIMIT_REACHED scenario
	// makes at most before it gives up (default 25): the target's
	// --send-limit must allow fewer per window. ResendProbe is the same for
	// resendOtp and --max-resends (default 10).
	LimitProbe, ResendProbe int

	// Surfaces names the surfaces the target serves (SurfaceNames, the
	// target's --surfaces); nil or empty means all of them. The scenarios
	// of the others are skipped, and those checking that a surface is off
	// run for them instead.
	Surfaces []string

	// Match selects scenarios by name; nil runs them all.
	Match *regexp.Regexp
	// Progress, when set, gets a line per scenario as it finishes.
	Progress io.Writer
}

func (c *ConformanceConfig) defaults() {
	if c.Window <= 0 {
		c.Window = 60 * time.Second
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.LimitProbe <= 0 {
		c.LimitProbe = 25
	}
	if c.ResendProbe <= 0 {
		c.ResendProbe = 10
	}
}

// Result is the verdict on one scenario.
type Result struct {
	Name     string  `json:"name"`
	Spec     string  `json:"spec"`
	Expected string  `json:"expected"`
	Got      string  `json:"got"`
	Status   Status  `json:"status"`
	Detail   string  `json:"detail,omitempty"`
	Millis   float64 `json:"ms"`
}

// Report is the outcome of a conformance run.
type Report struct {
	Target   string    `json:"target"`
	Envelope string    `json:"envelope"`
	Run      string    `json:"run"` // every requestId of the run starts with sim-RUN-
	Started  time.Time `json:"started"`
	Results  []Result  `json:"results"`
	Passed   int       `json:"passed"`
	Failed   int       `json:"failed"`
	Skipped  int       `json:"skipped"`
}

// Err is nil when no scenario failed.
func (r *Report) Err() error {
	if r.Failed == 0 {
		return nil
	}
	var names []string
	for _, res := range r.Results {
		if res.Status == Fail {
			names = append(names, res.Name)
		}
	}
	return fmt.Errorf("%d of %d scenarios failed: %s", r.Failed, len(r.Results), strings.Join(names, ", "))
}

// WriteTable prints the report for people: one row per scenario, the reason
// of each failure and skip under its row, and a count.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "conformance of %s (envelope %s, run %s)\n\n", r.Target, r.Envelope, r.Run)
	rows := [][4]string{{"SCENARIO", "EXPECTED", "GOT", "RESULT"}}
	for _, res := range r.Results {
		rows = append(rows, [4]string{res.Name, res.Expected, res.Got, string(res.Status)})
	}
	var width [3]int
	for _, row := range rows {
		for i := range width {
			width[i] = max(width[i], utf8.RuneCountInString(row[i]))
		}
	}
	for i, row := range rows {
		line := ""
		for c := range width {
			line += row[c] + strings.Repeat(" ", width[c]-utf8.RuneCountInString(row[c])+2)
		}
		fmt.Fprintln(w, line+row[3])
		if i > 0 {
			if res := r.Results[i-1]; res.Detail != "" && res.Status != Pass {
				fmt.Fprintf(w, "    ↳ %s\n", res.Detail)
			}
		}
	}
	_, err := fmt.Fprintf(w, "\n%d scenarios: %d passed, %d failed, %d skipped\n", len(r.Results), r.Passed, r.Failed, r.Skipped)
	return err
}

// WriteJSON prints the report for machines.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// skipError ends a scenario as skipped.
type skipError struct{ reason string }

func (s skipError) Error() string { return s.reason }

// Conformance runs the catalogue, one scenario after the other, and reports
// on each. Every scenario is independent of the others and of earlier runs:
// requestIds are fresh, and a scenario that spends send budgets has
// accounts of its own (see PoolSize). The error is for a config that cannot
// run; failures are in the report.
func Conformance(ctx context.Context, cfg ConformanceConfig) (*Report, error) {
	if cfg.Client == nil {
		return nil, errors.New("simulator: conformance needs a Client")
	}
	if err := checkSurfaces(cfg.Surfaces); err != nil {
		return nil, err
	}
	cfg.defaults()
	rep := &Report{Target: cfg.Client.Target(), Envelope: cfg.Client.Codec().Name(), Run: cfg.Client.Run(),
		Started: time.Now().UTC(), Results: []Result{}}
	for _, sc := range catalogue() {
		if cfg.Match != nil && !cfg.Match.MatchString(sc.Name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		res := runScenario(ctx, &cfg, sc)
		switch res.Status {
		case Pass:
			rep.Passed++
		case Fail:
			rep.Failed++
		case Skip:
			rep.Skipped++
		}
		rep.Results = append(rep.Results, res)
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "%-4s %s\n", res.Status, res.Name)
		}
	}
	return rep, nil
}

func runScenario(ctx context.Context, cfg *ConformanceConfig, sc Scenario) Result {
	res := Result{Name: sc.Name, Spec: sc.Spec, Expected: sc.Expect}
	if reason := skipReason(cfg, sc); reason != "" {
		res.Status, res.Detail, res.Got = Skip, reason, "-"
		return res
	}
	e := &env{cfg: cfg, c: cfg.Client, codes: cfg.Codes, fx: fixtures()}
	start := time.Now()
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("scenario panicked: %v", p)
			}
		}()
		return sc.run(ctx, e)
	}()
	res.Millis = float64(time.Since(start).Microseconds()) / 1000
	res.Got = e.gotLine()
	var skip skipError
	switch {
	case errors.As(err, &skip):
		res.Status, res.Detail = Skip, skip.reason
	case err != nil:
		res.Status, res.Detail = Fail, err.Error()
	default:
		res.Status = Pass
		res.Detail = strings.Join(e.notes, "; ")
	}
	return res
}

func skipReason(cfg *ConformanceConfig, sc Scenario) string {
	switch {
	case sc.never != "":
		return "not driveable from outside: " + sc.never
	case sc.surface != "" && !served(cfg.Surfaces, sc.surface):
		return "the target does not serve " + sc.surface + " (--surfaces)"
	case sc.offSurface != "" && served(cfg.Surfaces, sc.offSurface):
		return "the target serves " + sc.offSurface + " (--surfaces): there is nothing turned off to check"
	case sc.needs&needProtected != 0 && cfg.Client.Plaintext():
		return "the target speaks plaintext: there is no signature or encryption to get wrong"
	case sc.needs&needImpostor != 0 && cfg.Impostor == nil:
		return "needs a Google-side key the target does not trust, to sign with (not given)"
	case sc.needs&needMisdirected != 0 && cfg.Misdirected == nil:
		return "needs a stranger's public key, to encrypt to instead of the target's (not given)"
	case sc.needs&needPIAID != 0 && cfg.Client.PIAID() == "":
		return "needs a paymentIntegratorAccountId the target serves (--piaid)"
	case sc.needs&needCodes != 0 && cfg.Codes == nil:
		return "needs the codes the target texts: give --sms-file (the target's SMS file sink) or --interactive"
	}
	return ""
}

// env is what a scenario runs with, and what it found out.
type env struct {
	cfg   *ConformanceConfig
	c     *Client
	codes Codes
	fx    *fixtureSet

	gots    []string // the outcomes of the scenario's main steps
	failed  string   // the outcome of the step that failed
	notes   []string // what a passing scenario left out or worked around
	secrets []string // what no answer may contain: codes, card numbers, phones
	// refusedCard is set when an authenticate that should have texted a
	// code answered nativeOtpNotSupported, which may be a spent budget.
	refusedCard bool
}

func (e *env) gotLine() string {
	if e.failed != "" {
		return e.failed
	}
	if len(e.gots) == 0 {
		return "-"
	}
	return strings.Join(e.gots, "; ")
}

// id is a fresh requestId.
func (e *env) id(label string) string { return e.c.NewRequestID(label) }

// post sends a request; a transport failure is the scenario's failure.
func (e *env) post(ctx context.Context, step, path string, body any) (*Response, error) {
	r, err := e.c.Post(ctx, path, body)
	if err != nil {
		e.failed = step + ": no answer"
		return nil, fmt.Errorf("%s: %v", step, err)
	}
	return r, nil
}

// check compares an answer with want (an exact Summary, or a bare status
// such as "400" for any answer with that status) and checks its form and
// that it leaks nothing. main steps add their outcome to the Got column,
// prefixed with label when there is one.
func (e *env) check(step, label string, main bool, r *Response, want string) error {
	got := r.Summary()
	var problems []string
	if got != want && !(isStatus(want) && strconv.Itoa(r.Status) == want) {
		problems = append(problems, fmt.Sprintf("got %s, want %s", got, want))
	}
	problems = append(problems, r.Check(e.c.Codec().ContentType(), e.c.Now())...)
	problems = append(problems, e.leaks(r)...)
	shown := got
	if label != "" {
		shown = label + " " + got
	}
	if len(problems) > 0 {
		if !main && label == "" {
			shown = step + ": " + got
		}
		e.failed = shown
		msg := step + ": " + strings.Join(problems, "; ")
		if len(r.Plain) > 0 {
			msg += fmt.Sprintf(" (body %.300s)", r.Plain)
		}
		return errors.New(msg)
	}
	if main {
		e.gots = append(e.gots, shown)
	}
	return nil
}

// verdict checks a main step: its outcome is what the scenario is about.
func (e *env) verdict(step, label string, r *Response, want string) error {
	return e.check(step, label, true, r, want)
}

// expect checks a setup step.
func (e *env) expect(step string, r *Response, want string) error {
	return e.check(step, "", false, r, want)
}

// fail ends the scenario with a failure that is no answer's.
func (e *env) fail(got string, format string, args ...any) error {
	e.failed = got
	return fmt.Errorf(format, args...)
}

func (e *env) note(format string, args ...any) {
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
}

func isStatus(s string) bool { _, err := strconv.Atoi(s); return err == nil && len(s) == 3 }

// secret registers a value no answer may hold (SPEC §3: an errorDescription
// never holds an OTP, a full phone number, a card number).
func (e *env) secret(s string) { e.secrets = append(e.secrets, s) }

func (e *env) leaks(r *Response) []string {
	var out []string
	for _, s := range e.secrets {
		if s != "" && containsToken(string(r.Plain), s) {
			out = append(out, fmt.Sprintf("the answer holds a secret of the request (%s…)", s[:min(4, len(s))]))
		}
	}
	return out
}

// containsToken reports whether s holds tok not glued to more digits (a code
// inside a 13-digit timestamp is no leak).
func containsToken(s, tok string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], tok)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(tok)
		if (start == 0 || !isDigit(s[start-1])) && (end == len(s) || !isDigit(s[end])) {
			return true
		}
		i = start + 1
	}
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// errSpent ends one pool account's try: its budget is spent.
var errSpent = errors.New("the account's send budget is spent")

// pool runs try on the first account of accts whose budget is not spent.
func (e *env) pool(accts []Fixture, try func(f Fixture) error) error {
	for _, f := range accts {
		err := try(f)
		if !errors.Is(err, errSpent) {
			return err
		}
		e.note("%s has spent its budget; used the next account", f.AccountID)
		e.gots, e.failed = nil, ""
	}
	if e.refusedCard {
		// authenticate does not say why it texts nobody (SPEC §8).
		e.failed = notSupported + " on every account"
		return fmt.Errorf("authenticate answered nativeOtpNotSupported for the cards of all %d accounts of this scenario: "+
			"either their send budgets are spent (wait 15 minutes, or start the target with a larger --send-limit and "+
			"--fail-limit) or the target does not know the fixtures' cards and tokens (otpgate simulate fixtures, accounts import)", len(accts))
	}
	e.failed = "OTP_LIMIT_REACHED on every account"
	return fmt.Errorf("the send budgets of all %d accounts of this scenario are spent (OTP_LIMIT_REACHED): wait 15 minutes, "+
		"or start the target with a larger --send-limit (and --fail-limit)", len(accts))
}

// sent is a sendOtp or authenticate that texted a code.
type sent struct {
	id   string // its requestId
	mark Mark   // the phone's position before it
	sms  SMS    // when read
}

// sendOtp sends a sendOtp on sf for f's account named as a says and wants
// SUCCESS. An OTP_LIMIT_REACHED is errSpent. With needCode the code is read;
// otherwise the SMS is read and checked only when that costs nothing.
func (e *env) sendOtp(ctx context.Context, sf Surface, step string, main bool, f Fixture, a Account, needCode bool) (*sent, *Response, error) {
	s := &sent{id: e.id("send")}
	e.secret(f.Phone[3:])
	if e.codes != nil {
		m, err := e.codes.Mark(f.Phone)
		if err != nil {
			return nil, nil, e.fail(step+": reading SMS", "%s: %v", step, err)
		}
		s.mark = m
	}
	body := e.c.SendOtpBody(s.id, a)
	r, err := e.post(ctx, step, sf.Path(methodSendOtp), body)
	if err != nil {
		return nil, nil, err
	}
	if r.Status == 200 && r.Str("result") == "OTP_LIMIT_REACHED" {
		return nil, r, errSpent
	}
	if err := e.check(step, "", main, r, "200 SUCCESS"); err != nil {
		return nil, r, err
	}
	if e.codes == nil || (!needCode && !e.codes.Automatic()) {
		return s, r, nil
	}
	sms, err := e.codes.Wait(ctx, f.Phone, s.mark)
	if err != nil {
		return nil, r, e.fail(step+": no SMS", "%s answered SUCCESS but: %v", step, err)
	}
	s.sms = sms
	e.secret(sms.Code)
	if sms.Text != "" {
		if err := checkSendSMS(sms, f.Phone, body["smsMatchingToken"].(string)); err != nil {
			return nil, r, e.fail(step+": SMS", "%s: %v", step, err)
		}
	}
	return s, r, nil
}

// accountKind says how an authenticate names the account: by its card or
// by its payment token.
type accountKind int

const (
	byCard accountKind = iota
	byToken
)

// authenticate sends an India Cards authenticate on sf for f's card (or
// token) and wants nativeOtpSupport. A nativeOtpNotSupported is errSpent:
// the answer does not say why (SPEC §8), and a spent budget is the one
// reason a fixture card has not to be texted.
func (e *env) authenticate(ctx context.Context, sf Surface, step string, main bool, f Fixture, by accountKind, needCode bool) (*sent, *Response, error) {
	s := &sent{id: e.id("auth")}
	card := f.Card()
	e.secret(card.Number)
	e.secret(f.Token().Number)
	e.secret(f.Phone[3:])
	if e.codes != nil {
		m, err := e.codes.Mark(f.Phone)
		if err != nil {
			return nil, nil, e.fail(step+": reading SMS", "%s: %v", step, err)
		}
		s.mark = m
	}
	body := e.c.AuthenticateBody(s.id, card)
	if by == byToken {
		body = e.c.AuthenticateTokenBody(s.id, f.Token(), last4(card.Number))
	}
	r, err := e.post(ctx, step, sf.Path(methodAuthenticate), body)
	if err != nil {
		return nil, nil, err
	}
	if r.Status == 200 && r.Result() == "nativeOtpNotSupported" && len(r.Check(e.c.Codec().ContentType(), e.c.Now())) == 0 {
		e.refusedCard = true
		return nil, r, errSpent
	}
	if err := e.check(step, "", main, r, "200 nativeOtpSupport"); err != nil {
		return nil, r, err
	}
	if e.codes == nil || (!needCode && !e.codes.Automatic()) {
		return s, r, nil
	}
	sms, err := e.codes.Wait(ctx, f.Phone, s.mark)
	if err != nil {
		return nil, r, e.fail(step+": no SMS", "%s answered nativeOtpSupport but: %v", step, err)
	}
	s.sms = sms
	e.secret(sms.Code)
	for what, number := range map[string]string{"card": card.Number, "token": f.Token().Number} {
		if sms.Text != "" && number != "" && strings.Contains(sms.Text, number[len(number)-8:]) {
			return nil, r, e.fail(step+": SMS", "%s: the SMS shows the %s number", step, what)
		}
	}
	return s, r, nil
}

// challenge has sf's challenge method text f a code (a sendOtp by
// association, an authenticate by card) and reads it: the setup step of
// the scenarios that verify or resend it.
func (e *env) challenge(ctx context.Context, sf Surface, step string, f Fixture) (*sent, *Response, error) {
	if sf.Dialect == Current {
		return e.authenticate(ctx, sf, step, false, f, byCard, true)
	}
	return e.sendOtp(ctx, sf, step, false, f, Account{AssociationID: f.AssociationID()}, true)
}

// checkSendSMS checks a sendOtp's SMS (SPEC §6): to the account's phone, the
// smsMatchingToken on a line of its own, a code, and one SMS of 140 bytes.
func checkSendSMS(m SMS, phone, token string) error {
	var problems []string
	if m.To != phone {
		problems = append(problems, fmt.Sprintf("went to %s, not the account's phone", m.To))
	}
	onItsOwn := false
	for _, l := range strings.Split(m.Text, "\n") {
		if strings.TrimSpace(l) == token {
			onItsOwn = true
		}
	}
	if !onItsOwn {
		problems = append(problems, "the smsMatchingToken is not on a line of its own")
	}
	if m.Code == "" {
		problems = append(problems, "no code of 6 to 10 digits")
	}
	if !fitsOneSMS(m.Text) {
		problems = append(problems, "longer than one SMS (140 bytes)")
	}
	if len(problems) > 0 {
		return fmt.Errorf("the SMS %s: %q", strings.Join(problems, ", "), m.Text)
	}
	return nil
}

// wrongCode is a code of the same shape that is not code.
func wrongCode(code string) string {
	if code == "" {
		return "000000"
	}
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}
