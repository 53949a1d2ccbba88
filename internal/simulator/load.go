package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// The load scenarios.
const (
	LoadFlow   = "flow"
	LoadVerify = "verify"
	LoadSend   = "send"
)

// loadMeasures says what each load scenario measures, for the report.
var loadMeasures = map[string]string{
	LoadFlow: "full flows: sendOtp (claim, challenge, budget check, SMS to the file sink, record) → the code read " +
		"from the SMS file → verifyOtp SUCCESS; two requests per iteration",
	LoadVerify: "verifyOtp with a fresh requestId and the right code against a challenge already consumed " +
		"(OTP_ALREADY_USED): the idempotency claim, the lookups and the stored answer, with no SMS, no budget " +
		"event and no challenge update; one request per iteration",
	LoadSend: "sendOtp SUCCESS, each retiring the worker's previous code and texting a new one; one request per iteration",
}

// LoadConfig configures a load run: Workers run the scenario in a closed
// loop (each sends its next request when the previous one is answered)
// until Duration has passed or Count iterations were started.
type LoadConfig struct {
	// Client talks to the target; build it with MaxConns ≥ Workers.
	Client *Client
	// Others are more instances of the same deployment (one database):
	// worker i talks to ([Client] + Others)[i mod n], so that several
	// instances share the load evenly.
	Others   []*Client
	Scenario string // LoadFlow, LoadVerify or LoadSend
	Workers  int    // 1 to LoadAccounts: each worker owns one load account
	Duration time.Duration
	Count    int
	// Codes reads the codes for flow (every iteration) and verify (once
	// per worker, to consume a code); send does not need it.
	Codes *SMSFile
	// Rate, when positive, makes the run open-loop: an iteration starts
	// every 1/Rate seconds on an idle worker, however slowly the target
	// answers, as Google's traffic arrives; an arrival that finds every
	// worker busy is counted in LoadReport.Unsent. Zero: closed loops.
	Rate float64
	// Floor also measures the envelope's floor after the run; FloorDuration
	// is how long (default 2 s).
	Floor         bool
	FloorDuration time.Duration
	// Progress gets a progress line every ProgressEvery (default 1 s).
	Progress      io.Writer
	ProgressEvery time.Duration
}

// clientFor is the client worker i talks to.
func (cfg *LoadConfig) clientFor(i int) *Client {
	all := append([]*Client{cfg.Client}, cfg.Others...)
	return all[i%len(all)]
}

// targets names every instance under load.
func (cfg *LoadConfig) targets() string {
	names := []string{cfg.Client.Target()}
	for _, c := range cfg.Others {
		names = append(names, c.Target())
	}
	return strings.Join(names, " ")
}

// LoadReport is the outcome of a load run.
type LoadReport struct {
	Target   string  `json:"target"`
	Envelope string  `json:"envelope"`
	Scenario string  `json:"scenario"`
	Measures string  `json:"measures"`
	Workers  int     `json:"workers"`
	Rate     float64 `json:"rate,omitempty"` // iterations offered per second (open loop)
	// Unsent counts the open loop's arrivals that found every worker busy.
	Unsent     int     `json:"unsent,omitempty"`
	Cores      int     `json:"cores"`
	Seconds    float64 `json:"seconds"`
	Iterations int     `json:"iterations"`
	Requests   int     `json:"requests"`
	// Failures counts requests without the expected answer, transport
	// errors included.
	Failures         int     `json:"failures"`
	IterationsPerSec float64 `json:"iterationsPerSec"`
	RequestsPerSec   float64 `json:"requestsPerSec"`
	// Latency and Methods are of the requests served: every answer but a
	// 503. Unavailable is of the 503s (an overloaded target's shed
	// requests, or an outage), which Google retries.
	Latency     Latency            `json:"latency"`
	Methods     map[string]Latency `json:"methods"`
	Unavailable *Latency           `json:"unavailable,omitempty"`
	Outcomes    map[string]int     `json:"outcomes"`
	Errors      map[string]int     `json:"errors,omitempty"`
	Floor       *FloorReport       `json:"floor,omitempty"`
}

// Latency summarises the latencies of answered requests, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	Mean  float64 `json:"meanMs"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

// FloorReport is what the envelope alone allows: Google's side of the
// envelope sealing a representative request and opening a representative
// answer of the run (both captured from it), on every core. That is the
// mirror of the target's unavoidable work per request, opening the request
// and sealing the answer, with keys of the same kinds; it is meaningful
// when the target runs on the same hardware.
type FloorReport struct {
	Seconds        float64 `json:"seconds"`
	Cores          int     `json:"cores"`
	Operations     int     `json:"operations"` // Seal+Open pairs, one per request
	RequestsPerSec float64 `json:"requestsPerSec"`
	// Fraction is the run's RequestsPerSec over the floor's.
	Fraction float64 `json:"fraction"`
	Note     string  `json:"note,omitempty"`
}

// Err is nil when every request got the expected answer.
func (r *LoadReport) Err() error {
	if r.Failures == 0 && r.Requests > 0 {
		return nil
	}
	if r.Requests == 0 {
		return errors.New("no request was made")
	}
	return fmt.Errorf("%d of %d requests did not get the expected answer", r.Failures, r.Requests)
}

// WriteJSON prints the report for machines.
func (r *LoadReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText prints the report for people.
func (r *LoadReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "load %q against %s (envelope %s): %d workers, %.1f s, %d cores here\n",
		r.Scenario, r.Target, r.Envelope, r.Workers, r.Seconds, r.Cores)
	if r.Rate > 0 {
		fmt.Fprintf(w, "  open loop: %.1f iterations offered per second; %d arrivals found every worker busy and were not sent\n",
			r.Rate, r.Unsent)
	}
	fmt.Fprintf(w, "  measures: %s\n\n", r.Measures)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tcount\tper second\t\n")
	fmt.Fprintf(tw, "iterations\t%d\t%.1f\t\n", r.Iterations, r.IterationsPerSec)
	fmt.Fprintf(tw, "requests\t%d\t%.1f\t\n", r.Requests, r.RequestsPerSec)
	fmt.Fprintf(tw, "failures\t%d\t\t\n", r.Failures)
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "latency (ms)\tn\tmean\tp50\tp90\tp99\tmax\t\n")
	row := func(name string, l Latency) {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", name, l.Count, l.Mean, l.P50, l.P90, l.P99, l.Max)
	}
	row("served (not 503)", r.Latency)
	for _, m := range sortedKeys(r.Methods) {
		row(m, r.Methods[m])
	}
	if r.Unavailable != nil {
		row("503 answers", *r.Unavailable)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "answers:")
	for _, k := range sortedKeys(r.Outcomes) {
		fmt.Fprintf(w, "  %-50s %d\n", k, r.Outcomes[k])
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "errors:")
		for _, k := range sortedKeys(r.Errors) {
			fmt.Fprintf(w, "  %-50s %d\n", k, r.Errors[k])
		}
	}
	if f := r.Floor; f != nil {
		fmt.Fprintln(w)
		if f.Operations > 0 {
			fmt.Fprintf(w, "floor: the envelope alone (%s Seal+Open, %d cores, %.1f s) allows %.0f requests/s; "+
				"this run reached %.3g%% of it\n", r.Envelope, f.Cores, f.Seconds, f.RequestsPerSec, 100*f.Fraction)
		}
		if f.Note != "" {
			fmt.Fprintf(w, "floor: %s\n", f.Note)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// loadWorker is one closed loop; it owns one load account.
type loadWorker struct {
	cfg     *LoadConfig
	c       *Client
	acct    Fixture
	mark    Mark
	sendID  string // verify: the consumed send
	code    string
	lat     map[string][]time.Duration // served: every answer but a 503
	lat503  []time.Duration
	answers map[string]int
	errs    map[string]int
	fails   int
	reqs    int
	iters   int
	capture map[string]*Response // the first 200 of each method, for the floor

	requests, failures *atomic.Int64 // shared, for the progress line
}

// Load runs a load scenario against the target and reports on it. The
// error is for a configuration that cannot run or a setup that failed;
// failures of the run itself are in the report (see LoadReport.Err).
func Load(ctx context.Context, cfg LoadConfig) (*LoadReport, error) {
	if cfg.Client == nil {
		return nil, errors.New("simulator: load needs a Client")
	}
	if _, ok := loadMeasures[cfg.Scenario]; !ok {
		return nil, fmt.Errorf("simulator: load scenario %q: want flow, verify or send", cfg.Scenario)
	}
	if cfg.Workers < 1 || cfg.Workers > LoadAccounts {
		return nil, fmt.Errorf("simulator: %d workers: want 1 to %d (one load account each)", cfg.Workers, LoadAccounts)
	}
	if cfg.Duration <= 0 && cfg.Count <= 0 {
		return nil, errors.New("simulator: load needs a duration or a count")
	}
	if cfg.Codes == nil && cfg.Scenario != LoadSend {
		return nil, fmt.Errorf("simulator: load scenario %q reads codes: it needs the target's SMS file (--sms-file)", cfg.Scenario)
	}
	if cfg.FloorDuration <= 0 {
		cfg.FloorDuration = 2 * time.Second
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Second
	}
	var requests, failures atomic.Int64
	accts := fixtures().loadAccounts()
	workers := make([]*loadWorker, cfg.Workers)
	for i := range workers {
		workers[i] = &loadWorker{cfg: &cfg, c: cfg.clientFor(i), acct: accts[i], lat: map[string][]time.Duration{},
			answers: map[string]int{}, errs: map[string]int{}, capture: map[string]*Response{},
			requests: &requests, failures: &failures}
	}

	// Setup, in parallel and outside the measurement.
	setupErrs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() { setupErrs[i] = w.setup(ctx) })
	}
	wg.Wait()
	if err := errors.Join(setupErrs...); err != nil {
		return nil, fmt.Errorf("simulator: load setup: %w", err)
	}

	var stop atomic.Bool
	var started atomic.Int64
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	begin := time.Now()
	if cfg.Duration > 0 {
		t := time.AfterFunc(cfg.Duration, func() { stop.Store(true) })
		defer t.Stop()
	}
	var tickets chan struct{} // open loop: one per arrival, taken by an idle worker
	var unsent atomic.Int64
	if cfg.Rate > 0 {
		tickets = make(chan struct{})
		go func() {
			defer close(tickets)
			for k := 0; !stop.Load() && ctx.Err() == nil; k++ {
				if cfg.Count > 0 && k >= cfg.Count {
					return
				}
				time.Sleep(time.Until(begin.Add(time.Duration(float64(k) / cfg.Rate * float64(time.Second)))))
				select {
				case tickets <- struct{}{}:
				default:
					unsent.Add(1)
				}
			}
		}()
	}
	progressDone := make(chan struct{})
	if cfg.Progress != nil {
		go progress(runCtx, &cfg, begin, &requests, &failures, progressDone)
	} else {
		close(progressDone)
	}
	for _, w := range workers {
		wg.Go(func() {
			if tickets != nil {
				for range tickets {
					w.iterate(ctx)
				}
				return
			}
			for !stop.Load() && ctx.Err() == nil {
				if cfg.Count > 0 && started.Add(1) > int64(cfg.Count) {
					return
				}
				w.iterate(ctx)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	cancel()
	<-progressDone

	rep := &LoadReport{Target: cfg.targets(), Envelope: cfg.Client.Codec().Name(), Scenario: cfg.Scenario,
		Measures: loadMeasures[cfg.Scenario], Workers: cfg.Workers, Rate: cfg.Rate, Unsent: int(unsent.Load()), Cores: runtime.GOMAXPROCS(0),
		Seconds: elapsed.Seconds(), Methods: map[string]Latency{}, Outcomes: map[string]int{}, Errors: map[string]int{}}
	var all, unavailable []time.Duration
	byMethod := map[string][]time.Duration{}
	capture := map[string]*Response{}
	for _, w := range workers {
		rep.Iterations += w.iters
		rep.Requests += w.reqs
		rep.Failures += w.fails
		for m, l := range w.lat {
			byMethod[m] = append(byMethod[m], l...)
			all = append(all, l...)
		}
		unavailable = append(unavailable, w.lat503...)
		for k, n := range w.answers {
			rep.Outcomes[k] += n
		}
		for k, n := range w.errs {
			rep.Errors[k] += n
		}
		for m, r := range w.capture {
			if capture[m] == nil {
				capture[m] = r
			}
		}
	}
	rep.Latency = summarize(all)
	if len(unavailable) > 0 {
		l := summarize(unavailable)
		rep.Unavailable = &l
	}
	for m, l := range byMethod {
		rep.Methods[m] = summarize(l)
	}
	if s := elapsed.Seconds(); s > 0 {
		rep.RequestsPerSec = float64(rep.Requests) / s
		rep.IterationsPerSec = float64(rep.Iterations) / s
	}
	if cfg.Floor {
		rep.Floor = floor(ctx, cfg.Client, capture, cfg.FloorDuration)
		if rep.Floor.RequestsPerSec > 0 {
			rep.Floor.Fraction = rep.RequestsPerSec / rep.Floor.RequestsPerSec
		}
	}
	return rep, nil
}

func progress(ctx context.Context, cfg *LoadConfig, begin time.Time, requests, failures *atomic.Int64, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(cfg.ProgressEvery)
	defer t.Stop()
	var last int64
	lastAt := begin
	line := func(final bool) {
		n, now := requests.Load(), time.Now()
		rate := float64(n-last) / now.Sub(lastAt).Seconds()
		if final { // the whole run's rate, not the last moment's
			rate = float64(n) / now.Sub(begin).Seconds()
		}
		total := ""
		if cfg.Duration > 0 {
			total = fmt.Sprintf("/%.0fs", cfg.Duration.Seconds())
		}
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(cfg.Progress, "\rload %s: %5.1fs%s  %8d requests  %8.0f/s  %d failed   %s",
			cfg.Scenario, now.Sub(begin).Seconds(), total, n, rate, failures.Load(), end)
		last, lastAt = n, now
	}
	for {
		select {
		case <-ctx.Done():
			line(true)
			return
		case <-t.C:
			line(false)
		}
	}
}

// setup readies a worker: flow marks its phone; verify consumes a code.
func (w *loadWorker) setup(ctx context.Context) error {
	if w.cfg.Codes == nil {
		return nil
	}
	m, err := w.cfg.Codes.Mark(w.acct.Phone)
	if err != nil {
		return err
	}
	w.mark = m
	if w.cfg.Scenario != LoadVerify {
		return nil
	}
	w.sendID = w.c.NewRequestID("setup")
	r, err := postRetrying(ctx, w.c, PathSendOtp, w.c.SendOtpBody(w.sendID, Account{AssociationID: w.acct.AssociationID()}))
	if err != nil {
		return fmt.Errorf("%s: sendOtp: %w", w.acct.AccountID, err)
	}
	if got := r.Summary(); got != "200 SUCCESS" {
		return fmt.Errorf("%s: sendOtp answered %s (is the target's --send-limit generous, and the fixtures imported?)", w.acct.AccountID, got)
	}
	sms, err := w.cfg.Codes.Wait(ctx, w.acct.Phone, w.mark)
	if err != nil {
		return fmt.Errorf("%s: %w", w.acct.AccountID, err)
	}
	w.mark, w.code = sms.Seq, sms.Code
	r, err = postRetrying(ctx, w.c, PathVerifyOtp, w.c.VerifyOtpBody(w.c.NewRequestID("setup"), w.sendID, w.code))
	if err != nil {
		return fmt.Errorf("%s: verifyOtp: %w", w.acct.AccountID, err)
	}
	if got := r.Summary(); got != "200 SUCCESS" {
		return fmt.Errorf("%s: verifyOtp answered %s", w.acct.AccountID, got)
	}
	return nil
}

// postRetrying posts as Google does outside the measurement: a 503 (an
// outage, or a target shedding the setup's burst of requests) is retried
// with the same body after a growing pause, for up to about 30 s.
func postRetrying(ctx context.Context, c *Client, path string, body any) (*Response, error) {
	pause := 20 * time.Millisecond
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := c.Post(ctx, path, body)
		if err != nil || r.Status != 503 || time.Now().After(deadline) {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, nil
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

// iterate runs one iteration of the scenario.
func (w *loadWorker) iterate(ctx context.Context) {
	w.iters++
	switch w.cfg.Scenario {
	case LoadSend:
		w.do(ctx, "sendOtp", PathSendOtp, w.c.SendOtpBody(w.c.NewRequestID(""), Account{AssociationID: w.acct.AssociationID()}), "200 SUCCESS")
	case LoadVerify:
		w.do(ctx, "verifyOtp", PathVerifyOtp, w.c.VerifyOtpBody(w.c.NewRequestID(""), w.sendID, w.code), "200 OTP_ALREADY_USED")
	case LoadFlow:
		id := w.c.NewRequestID("")
		if !w.do(ctx, "sendOtp", PathSendOtp, w.c.SendOtpBody(id, Account{AssociationID: w.acct.AssociationID()}), "200 SUCCESS") {
			return
		}
		sms, err := w.cfg.Codes.Wait(ctx, w.acct.Phone, w.mark)
		if err != nil {
			w.errs["reading the code: "+trimError(err)]++
			w.fails++
			w.failures.Add(1)
			return
		}
		w.mark = sms.Seq
		w.do(ctx, "verifyOtp", PathVerifyOtp, w.c.VerifyOtpBody(w.c.NewRequestID(""), id, sms.Code), "200 SUCCESS")
	}
}

// do makes one request and records it; it reports whether the answer was want.
func (w *loadWorker) do(ctx context.Context, method, path string, body any, want string) bool {
	w.reqs++
	w.requests.Add(1)
	r, err := w.c.Post(ctx, path, body)
	if err != nil {
		w.errs[method+": "+trimError(err)]++
		w.fails++
		w.failures.Add(1)
		if ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond) // a refused connection must not spin
		}
		return false
	}
	if r.Status == 503 {
		w.lat503 = append(w.lat503, r.Latency)
	} else {
		w.lat[method] = append(w.lat[method], r.Latency)
	}
	got := r.Summary()
	w.answers[method+" "+got]++
	if r.Status == 200 && r.OpenErr == nil && w.capture[method] == nil {
		w.capture[method] = r
	}
	if got != want {
		w.fails++
		w.failures.Add(1)
		return false
	}
	return true
}

// trimError shortens a transport error for counting: the address and the
// request's URL vary, the cause does not.
func trimError(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	pct := func(p float64) float64 {
		i := int(p*float64(len(ds))+0.5) - 1
		return ms(ds[min(max(i, 0), len(ds)-1)])
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{Count: len(ds), Mean: ms(sum / time.Duration(len(ds))), P50: pct(0.50), P90: pct(0.90),
		P99: pct(0.99), Max: ms(ds[len(ds)-1])}
}

// floor measures how many requests per second the envelope alone allows on
// this machine: on every core, Google's side seals the run's requests and
// opens its answers, round robin over the captured methods, for d.
func floor(ctx context.Context, c *Client, capture map[string]*Response, d time.Duration) *FloorReport {
	cores := runtime.GOMAXPROCS(0)
	f := &FloorReport{Cores: cores}
	var pairs []*Response
	for _, m := range sortedKeys(capture) {
		if r := capture[m]; len(r.Request) > 0 && len(r.Sealed) > 0 {
			pairs = append(pairs, r)
		}
	}
	if len(pairs) == 0 {
		f.Note = "not measured: no request of the run got a 200 to measure with"
		return f
	}
	var ops atomic.Int64
	var errOnce sync.Once
	var floorErr error
	fail := func(err error) { errOnce.Do(func() { floorErr = err }) }
	var stop atomic.Bool
	t := time.AfterFunc(d, func() { stop.Store(true) })
	defer t.Stop()
	codec := c.Codec()
	begin := time.Now()
	var wg sync.WaitGroup
	for range cores {
		wg.Go(func() {
			for i := 0; !stop.Load() && ctx.Err() == nil; i++ {
				p := pairs[i%len(pairs)]
				if _, err := codec.Seal(p.Request); err != nil {
					fail(err)
					return
				}
				if _, err := codec.Open(p.Sealed); err != nil {
					fail(err)
					return
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	f.Seconds = time.Since(begin).Seconds()
	f.Operations = int(ops.Load())
	if f.Seconds > 0 {
		f.RequestsPerSec = float64(f.Operations) / f.Seconds
	}
	if floorErr != nil {
		f.Note = "stopped early: " + floorErr.Error()
	} else if c.Plaintext() {
		f.Note = "plaintext does no envelope work, so this floor is not a meaningful bound; measure with pgp or jose"
	}
	return f
}
