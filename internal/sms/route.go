package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// DefaultRoute is the key of [RouterConfig.Routes] whose providers serve
// the destinations that no prefix matches.
const DefaultRoute = "default"

// Defaults of RouterConfig.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerCoolDown = 30 * time.Second
)

// MaxPerMinuteLimit bounds a per-minute cap: the cap keeps the time of each
// of the last N messages.
const MaxPerMinuteLimit = 1_000_000

// Errors of a [Router] that no provider returned.
var (
	// ErrNoRoute: no route serves the destination (the routes have no
	// DefaultRoute and no prefix matches).
	ErrNoRoute = errors.New("sms: no route serves the destination")
	// ErrBreakerOpen: the provider's circuit breaker is open (or half-open
	// and already probing), so the message was not handed to it.
	ErrBreakerOpen = errors.New("circuit breaker open")
	// ErrCapped: the provider has taken its --sms-max-per-minute messages
	// in the last minute, so the message was not handed to it.
	ErrCapped = errors.New("per-minute cap reached")
)

// Provider is one SMS provider of a [Router].
type Provider struct {
	// Sender sends through the provider; its Name names the provider in
	// routes, metrics and logs, and must be unique in the router.
	Sender Sender
	// Classify says what an error of Sender means for the route; nil
	// means [ClassifyError].
	Classify func(error) Failure
	// MaxPerMinute caps the messages handed to this provider in any 60
	// seconds; 0 takes RouterConfig.MaxPerMinute.
	MaxPerMinute int
}

// RouterConfig configures a [Router].
type RouterConfig struct {
	Providers []Provider
	// Routes maps a destination prefix ("+91", "+4420") or DefaultRoute to
	// the names of the providers to try, in order. A destination takes the
	// route of its longest matching prefix, else the default. No routes at
	// all means one default route of every provider in the order given.
	Routes map[string][]string

	// Timeout bounds one Send across every provider it tries (0: only the
	// caller's deadline). Each attempt gets at most an even share of the
	// time left among the providers still to try, so that a provider that
	// never answers leaves time for the next.
	Timeout time.Duration
	// RetryUnknown lets a send go on to the next provider after one whose
	// outcome is unknown (it timed out after the message was written): the
	// user may then get two SMS, with the same code. Off, such a send
	// fails.
	RetryUnknown bool
	// MaxPerMinute caps the messages handed to each provider in any 60
	// seconds, so that a compromised caller cannot run up the bill; beyond
	// it the provider is skipped as if it had failed (the next is tried).
	// 0: no cap.
	MaxPerMinute int

	// A provider's breaker opens after BreakerFailures consecutive failures
	// (ClassTryNext or ClassConfigError, an unknown outcome included), and
	// after BreakerCoolDown lets one message through to probe it: its
	// success closes the breaker, its failure opens it again. Defaults:
	// DefaultBreakerFailures, DefaultBreakerCoolDown.
	BreakerFailures int
	BreakerCoolDown time.Duration

	// Observe, when set, is told of every provider tried or skipped, for
	// metrics. It is called from the sending goroutine.
	Observe func(Attempt)
	Logger  *slog.Logger     // nil: no logs
	Now     func() time.Time // the clock of the per-minute caps; nil: time.Now
}

// Attempt is one provider of a route, tried or skipped by one Send.
type Attempt struct {
	Provider string
	// Skipped is why the message was not handed to the provider: "breaker"
	// (its breaker is open) or "cap" (its per-minute cap is reached); ""
	// when it was.
	Skipped string
	Took    time.Duration // from handing the message over to the answer
	Err     error         // nil when the provider accepted the message
	Failure Failure       // the classification of Err
}

// BreakerState is the state of a provider's circuit breaker.
type BreakerState int

// The states of a breaker, in the values of the breaker state gauge.
const (
	BreakerClosed   BreakerState = 0 // messages go through
	BreakerHalfOpen BreakerState = 1 // one message probes the provider
	BreakerOpen     BreakerState = 2 // the provider is skipped
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	}
	return fmt.Sprintf("breaker state %d", int(s))
}

// Router is a Sender that sends each message through the providers of its
// destination's route, one after the other, each behind a circuit breaker
// and a per-minute cap, until one accepts it. It never hands one message to
// two providers unless the first one's outcome was unknown and
// RetryUnknown is set. It is safe for concurrent use.
type Router struct {
	providers    map[string]*routed
	order        []string // provider names, in the order given
	routes       map[string][]*routed
	prefixes     []string // of routes, longest first
	timeout      time.Duration
	retryUnknown bool
	observe      func(Attempt)
	log          *slog.Logger
	now          func() time.Time
	name         string
}

// routed is a provider with its breaker and cap.
type routed struct {
	name     string
	sender   Sender
	classify func(error) Failure
	breaker  *gobreaker.CircuitBreaker[struct{}]
	cap      *minuteCap // nil: none
}

var _ Sender = (*Router)(nil)

// NewRouter checks cfg and returns its router. Every problem of cfg is
// reported, not only the first: a provider without a name or named twice, a
// route that names a provider that does not exist or names one twice, a
// prefix that is not "+" and digits, a negative setting.
func NewRouter(cfg RouterConfig) (*Router, error) {
	r := &Router{
		providers:    map[string]*routed{},
		routes:       map[string][]*routed{},
		timeout:      cfg.Timeout,
		retryUnknown: cfg.RetryUnknown,
		observe:      cfg.Observe,
		log:          cfg.Logger,
		now:          cfg.Now,
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf("sms: "+format, a...)) }

	failures, coolDown := cfg.BreakerFailures, cfg.BreakerCoolDown
	switch {
	case failures == 0:
		failures = DefaultBreakerFailures
	case failures < 0:
		fail("breaker failures %d: at least 1", failures)
	}
	switch {
	case coolDown == 0:
		coolDown = DefaultBreakerCoolDown
	case coolDown < 0:
		fail("breaker cool-down %s: must be positive", coolDown)
	}
	if cfg.Timeout < 0 {
		fail("negative send timeout %s", cfg.Timeout)
	}
	if cfg.MaxPerMinute < 0 || cfg.MaxPerMinute > MaxPerMinuteLimit {
		fail("max per minute %d: 0 (no cap) to %d", cfg.MaxPerMinute, MaxPerMinuteLimit)
	}
	if len(cfg.Providers) == 0 {
		fail("no SMS provider")
	}

	for i, p := range cfg.Providers {
		if p.Sender == nil {
			fail("provider %d has no sender", i+1)
			continue
		}
		name := p.Sender.Name()
		if err := checkProviderName(name); err != nil {
			fail("provider %d: %v", i+1, err)
			continue
		}
		if _, dup := r.providers[name]; dup {
			fail("provider %q is named twice", name)
			continue
		}
		rp := &routed{name: name, sender: p.Sender, classify: p.Classify}
		if rp.classify == nil {
			rp.classify = ClassifyError
		}
		perMinute := p.MaxPerMinute
		if perMinute == 0 {
			perMinute = cfg.MaxPerMinute
		}
		switch {
		case perMinute < 0 || perMinute > MaxPerMinuteLimit:
			fail("provider %s: max per minute %d: 0 (no cap) to %d", name, perMinute, MaxPerMinuteLimit)
		case perMinute > 0:
			rp.cap = newMinuteCap(perMinute, r.now())
		}
		rp.breaker = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        name,
			MaxRequests: 1, // one probe when half-open
			Timeout:     coolDown,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(max(failures, 1)) },
			OnStateChange: func(name string, from, to gobreaker.State) {
				r.log.Warn("sms: provider circuit breaker", "provider", name, "from", breakerState(from).String(), "to", breakerState(to).String())
			},
			IsSuccessful: func(err error) bool {
				// A message refused for what it is says nothing bad of the
				// provider.
				var ce *classifiedError
				return err == nil || errors.As(err, &ce) && ce.failure.Class == ClassRejected
			},
			IsExcluded: func(err error) bool {
				// Not the provider's doing: our own cap, or the caller
				// hung up.
				return errors.Is(err, ErrCapped) || errors.Is(err, context.Canceled)
			},
		})
		r.providers[name] = rp
		r.order = append(r.order, name)
	}

	routes := cfg.Routes
	if len(routes) == 0 && len(r.order) > 0 {
		routes = map[string][]string{DefaultRoute: r.order}
	}
	keys := make([]string, 0, len(routes))
	for k := range routes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if key != DefaultRoute && !validPrefix(key) {
			fail("route %q: a route is %q or a number prefix, \"+\" and 1 to 15 digits such as \"+91\"", key, DefaultRoute)
			continue
		}
		names := routes[key]
		if len(names) == 0 {
			fail("route %s names no provider", key)
			continue
		}
		seen := map[string]bool{}
		var route []*routed
		for _, name := range names {
			p, ok := r.providers[name]
			switch {
			case seen[name]:
				fail("route %s names provider %q twice", key, name)
			case !ok:
				fail("route %s names provider %q, which is not configured (the providers are %s)", key, name, strings.Join(r.order, ", "))
			default:
				route = append(route, p)
			}
			seen[name] = true
		}
		r.routes[key] = route
		if key != DefaultRoute {
			r.prefixes = append(r.prefixes, key)
		}
	}
	sort.Slice(r.prefixes, func(i, j int) bool { return len(r.prefixes[i]) > len(r.prefixes[j]) })
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r.name = strings.Join(r.order, "+")
	return r, nil
}

// checkProviderName accepts the names a route can list: letters, digits,
// '-', '_' and '.', up to 64 of them.
func checkProviderName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("provider name %q: 1 to 64 characters", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("provider name %q: only letters, digits, '-', '_' and '.'", name)
		}
	}
	if name == DefaultRoute {
		return fmt.Errorf("provider name %q is the name of the default route", name)
	}
	return nil
}

// validPrefix reports whether p is "+" and 1 to 15 digits.
func validPrefix(p string) bool {
	return len(p) >= 2 && len(p) <= 16 && p[0] == '+' && allDigits(p[1:])
}

// Name joins the names of the providers with "+", e.g. "smpp-1+twilio".
func (r *Router) Name() string { return r.name }

// Providers returns the names of the providers, in the order configured.
func (r *Router) Providers() []string { return append([]string(nil), r.order...) }

// Route returns the names of the providers that a message to the E.164
// number to would be tried with, in order; nil when no route serves it.
func (r *Router) Route(to string) []string {
	var names []string
	for _, p := range r.routeFor(to) {
		names = append(names, p.name)
	}
	return names
}

// BreakerState returns the state of a provider's breaker now; BreakerClosed
// for a provider it does not know.
func (r *Router) BreakerState(provider string) BreakerState {
	p := r.providers[provider]
	if p == nil {
		return BreakerClosed
	}
	return breakerState(p.breaker.State())
}

func breakerState(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	case gobreaker.StateOpen:
		return BreakerOpen
	}
	return BreakerClosed
}

func (r *Router) routeFor(to string) []*routed {
	for _, prefix := range r.prefixes {
		if strings.HasPrefix(to, prefix) {
			return r.routes[prefix]
		}
	}
	return r.routes[DefaultRoute]
}

// Send hands m to the providers of its route in order until one accepts it,
// within Timeout (and ctx). After a provider's failure:
//
//   - ClassTryNext, ClassConfigError: the next provider is tried;
//   - ClassRejected: the send fails, as no provider would do better;
//   - an unknown outcome: the send fails, unless RetryUnknown, since the
//     first provider may deliver the message after all;
//
// and a provider whose breaker is open or whose cap is reached is skipped.
// When no provider accepts m, the error joins each provider's, prefixed
// with its name. Errors never hold the number or the text (the providers'
// errors do not).
func (r *Router) Send(ctx context.Context, m Message) error {
	_, err := r.Submit(ctx, m)
	return err
}

// Submit is Send, returning the receipt of the provider that accepted m:
// its name, and its id of the message when it is a [Submitter].
func (r *Router) Submit(ctx context.Context, m Message) (Receipt, error) {
	route := r.routeFor(m.To)
	if len(route) == 0 {
		return Receipt{}, ErrNoRoute
	}
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	var errs []error
	for i, p := range route {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("sms: no time left for %s: %w", p.name, err))
			break
		}
		id, f, handed, err := r.try(ctx, p, m, route[i+1:])
		if err == nil {
			return Receipt{Provider: p.name, MessageID: id}, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
		if !handed {
			continue
		}
		if f.Class == ClassRejected {
			break
		}
		if f.Unknown && !r.retryUnknown {
			errs = append(errs, fmt.Errorf("sms: %s may have sent the message, so no other provider is tried (see --sms-retry-unknown)", p.name))
			break
		}
	}
	return Receipt{}, errors.Join(errs...)
}

// try hands m to p, unless its breaker or its cap says no, with an attempt
// deadline that leaves time for the providers of rest. handed reports
// whether p was given the message; id is p's id of it, if it gives one.
func (r *Router) try(ctx context.Context, p *routed, m Message, rest []*routed) (id string, f Failure, handed bool, err error) {
	actx, cancel := r.attemptContext(ctx, rest)
	defer cancel()
	var took time.Duration
	_, err = p.breaker.Execute(func() (struct{}, error) {
		if !p.cap.take(r.now()) {
			return struct{}{}, ErrCapped
		}
		handed = true
		start := time.Now()
		rc, err := Submit(actx, p.sender, m)
		id = rc.MessageID
		took = time.Since(start)
		if err != nil {
			f = p.classify(err)
			return struct{}{}, &classifiedError{err: err, failure: f}
		}
		return struct{}{}, nil
	})
	var ce *classifiedError
	if errors.As(err, &ce) {
		err = ce.err
	}
	a := Attempt{Provider: p.name, Took: took, Err: err, Failure: f}
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		err = ErrBreakerOpen
		a.Skipped, a.Err = "breaker", err
		r.log.Debug("sms: provider skipped, its breaker is open", "provider", p.name)
	case errors.Is(err, ErrCapped):
		a.Skipped = "cap"
		r.log.Warn("sms: provider skipped, its per-minute cap is reached", "provider", p.name)
	case err != nil:
		r.log.Warn("sms: provider failed", "provider", p.name, "class", f.Class.String(), "outcome_unknown", f.Unknown, "error", err)
	}
	if r.observe != nil {
		r.observe(a)
	}
	return id, f, handed, err
}

// attemptContext gives one attempt at most an even share of the time left
// among itself and the providers after it that are not known to be open.
func (r *Router) attemptContext(ctx context.Context, rest []*routed) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	share := 1
	for _, p := range rest {
		if p.breaker.State() != gobreaker.StateOpen {
			share++
		}
	}
	left := time.Until(deadline)
	return context.WithTimeout(ctx, left/time.Duration(share))
}

// classifiedError carries the classification of a provider's error through
// the breaker, whose IsSuccessful sees only the error.
type classifiedError struct {
	err     error
	failure Failure
}

func (e *classifiedError) Error() string { return e.err.Error() }
func (e *classifiedError) Unwrap() error { return e.err }

// minuteCap admits at most n events in any 60 seconds: it keeps the times
// of the last n admitted, and admits another when the oldest of them is a
// minute old. It is safe for concurrent use; a nil cap admits everything.
type minuteCap struct {
	mu    sync.Mutex
	base  time.Time       // times are kept as offsets from it, 8 bytes each
	times []time.Duration // a ring of the last len(times) admitted
	next  int             // the oldest once full; where the next goes
	full  bool
}

func newMinuteCap(n int, base time.Time) *minuteCap {
	return &minuteCap{base: base, times: make([]time.Duration, n)}
}

func (c *minuteCap) take(now time.Time) bool {
	if c == nil {
		return true
	}
	at := now.Sub(c.base)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.full && at-c.times[c.next] < time.Minute {
		return false
	}
	c.times[c.next] = at
	c.next++
	if c.next == len(c.times) {
		c.next, c.full = 0, true
	}
	return true
}
