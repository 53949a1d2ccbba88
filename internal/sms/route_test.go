package sms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The kinds of the fake provider's errors, as smpp.Kind and twilio.Kind are
// the router's classes.
const (
	fakeTryNext  = ClassTryNext
	fakeRejected = ClassRejected
	fakeConfig   = ClassConfigError
)

var classifyFake = ClassifyKind

// fakeError has the methods of smpp.Error and twilio.Error that a router
// asks for.
type fakeError struct {
	kind    Class
	unknown bool
}

func (e *fakeError) Error() string {
	return fmt.Sprintf("fake failure kind %d unknown %v", e.kind, e.unknown)
}
func (e *fakeError) Kind() Class          { return e.kind }
func (e *fakeError) OutcomeUnknown() bool { return e.unknown }

var (
	errTryNext  = &fakeError{kind: fakeTryNext}
	errRejected = &fakeError{kind: fakeRejected}
	errConfig   = &fakeError{kind: fakeConfig}
	errUnknown  = &fakeError{kind: fakeTryNext, unknown: true}
)

// fakeProvider answers each send with the next of its script, then with
// the last one for ever; a nil script accepts everything. With block, it
// waits for the end of the send's context instead.
type fakeProvider struct {
	name  string
	block bool

	mu     sync.Mutex
	script []error
	got    []Message
}

func (p *fakeProvider) Name() string { return p.name }

func (p *fakeProvider) Send(ctx context.Context, m Message) error {
	p.mu.Lock()
	p.got = append(p.got, m)
	var err error
	if len(p.script) > 0 {
		err = p.script[0]
		if len(p.script) > 1 {
			p.script = p.script[1:]
		}
	}
	p.mu.Unlock()
	if p.block {
		<-ctx.Done()
		return fmt.Errorf("fake %s: %w", p.name, ctx.Err())
	}
	return err
}

func (p *fakeProvider) calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got)
}

func (p *fakeProvider) answer(errs ...error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script = errs
}

func fakes(names ...string) []*fakeProvider {
	var ps []*fakeProvider
	for _, n := range names {
		ps = append(ps, &fakeProvider{name: n})
	}
	return ps
}

// newTestRouter routes every destination through ps in order, classifying
// with classifyFake; edit adjusts the configuration first.
func newTestRouter(t *testing.T, ps []*fakeProvider, edit func(*RouterConfig)) *Router {
	t.Helper()
	cfg := RouterConfig{Timeout: 5 * time.Second}
	for _, p := range ps {
		cfg.Providers = append(cfg.Providers, Provider{Sender: p, Classify: classifyFake})
	}
	if edit != nil {
		edit(&cfg)
	}
	r, err := NewRouter(cfg)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	return r
}

var routeMsg = Message{To: "+919876543210", Text: "AB12345678C\nYour verification code is 123456.", Flow: FlowLegacy}

func TestRouterFailover(t *testing.T) {
	for _, tc := range []struct {
		name         string
		first        error
		retryUnknown bool
		wantSecond   int  // sends the second provider got
		wantErr      bool // the send fails
	}{
		{"accepted by the first", nil, false, 0, false},
		{"try next", errTryNext, false, 1, false},
		{"config error: next", errConfig, false, 1, false},
		{"plain error: next", errors.New("gateway said no"), false, 1, false},
		{"rejected: stop", errRejected, false, 0, true},
		{"outcome unknown: stop", errUnknown, false, 0, true},
		{"outcome unknown, retry allowed: next", errUnknown, true, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := fakes("a", "b")
			ps[0].answer(tc.first)
			r := newTestRouter(t, ps, func(c *RouterConfig) { c.RetryUnknown = tc.retryUnknown })
			err := r.Send(context.Background(), routeMsg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Send() error = %v, want error %v", err, tc.wantErr)
			}
			if got := ps[0].calls(); got != 1 {
				t.Errorf("first provider got %d sends, want 1", got)
			}
			if got := ps[1].calls(); got != tc.wantSecond {
				t.Errorf("second provider got %d sends, want %d", got, tc.wantSecond)
			}
			if tc.wantErr && !strings.HasPrefix(err.Error(), "a: ") {
				t.Errorf("error %q does not name the provider", err)
			}
			if tc.wantSecond == 1 && !cmp.Equal(ps[1].got[0], routeMsg) {
				t.Errorf("second provider got %+v, want the same message", ps[1].got[0])
			}
		})
	}
}

func TestRouterAllFail(t *testing.T) {
	ps := fakes("a", "b")
	ps[0].answer(errTryNext)
	ps[1].answer(errConfig)
	r := newTestRouter(t, ps, nil)
	err := r.Send(context.Background(), routeMsg)
	if err == nil {
		t.Fatal("Send() succeeded with every provider failing")
	}
	if !errors.Is(err, errTryNext) || !errors.Is(err, errConfig) {
		t.Errorf("error %v does not wrap both providers' errors", err)
	}
	for _, want := range []string{"a: ", "b: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestRouterRoutes(t *testing.T) {
	ps := fakes("in-1", "in-2", "uk", "world")
	r := newTestRouter(t, ps, func(c *RouterConfig) {
		c.Routes = map[string][]string{
			"+91":        {"in-1", "in-2"},
			"+44":        {"uk"},
			"+4420":      {"world", "uk"},
			DefaultRoute: {"world"},
		}
	})
	for to, want := range map[string][]string{
		"+919876543210": {"in-1", "in-2"},
		"+447700900123": {"uk"},
		"+442079460000": {"world", "uk"}, // the longest prefix wins
		"+15551234567":  {"world"},
	} {
		if got := r.Route(to); !cmp.Equal(got, want) {
			t.Errorf("Route(%s) = %v, want %v", to, got, want)
		}
	}
	ps[0].answer(errTryNext)
	if err := r.Send(context.Background(), routeMsg); err != nil {
		t.Fatal(err)
	}
	if ps[1].calls() != 1 || ps[2].calls() != 0 || ps[3].calls() != 0 {
		t.Errorf("calls in-2 %d, uk %d, world %d; want 1, 0, 0", ps[1].calls(), ps[2].calls(), ps[3].calls())
	}

	// Without a default route, other destinations have none.
	noDefault := newTestRouter(t, fakes("in"), func(c *RouterConfig) { c.Routes = map[string][]string{"+91": {"in"}} })
	if err := noDefault.Send(context.Background(), Message{To: "+15551234567", Text: "x"}); !errors.Is(err, ErrNoRoute) {
		t.Errorf("Send() to an unrouted number: %v, want ErrNoRoute", err)
	}
	// Without routes, every provider in order.
	if got := newTestRouter(t, fakes("x", "y"), nil).Route("+15551234567"); !cmp.Equal(got, []string{"x", "y"}) {
		t.Errorf("default route without routes = %v", got)
	}
}

func TestRouterConfigErrors(t *testing.T) {
	a, b := &fakeProvider{name: "a"}, &fakeProvider{name: "a"}
	_, err := NewRouter(RouterConfig{
		Providers: []Provider{{Sender: a}, {Sender: b}, {Sender: &fakeProvider{name: "bad name"}}, {Sender: &fakeProvider{name: "c"}, MaxPerMinute: -1}},
		Routes: map[string][]string{
			"+91":        {"a", "nope"},
			"91":         {"a"},
			"+1":         {},
			DefaultRoute: {"a", "a"},
		},
		BreakerFailures: -1,
	})
	if err == nil {
		t.Fatal("NewRouter accepted a broken configuration")
	}
	for _, want := range []string{
		`provider "a" is named twice`,
		`provider name "bad name"`,
		`provider c: max per minute -1`,
		`route +91 names provider "nope", which is not configured`,
		`route "91"`,
		`route +1 names no provider`,
		`route default names provider "a" twice`,
		`breaker failures -1`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if _, err := NewRouter(RouterConfig{}); err == nil || !strings.Contains(err.Error(), "no SMS provider") {
		t.Errorf("NewRouter without providers: %v", err)
	}
}

func TestRouterBreaker(t *testing.T) {
	const failures = 3
	coolDown := 50 * time.Millisecond
	ps := fakes("a", "b")
	var (
		mu       sync.Mutex
		attempts []Attempt
	)
	r := newTestRouter(t, ps, func(c *RouterConfig) {
		c.BreakerFailures, c.BreakerCoolDown = failures, coolDown
		c.Observe = func(a Attempt) {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, a)
		}
	})
	send := func() {
		t.Helper()
		if err := r.Send(context.Background(), routeMsg); err != nil {
			t.Fatal(err)
		}
	}

	// Rejections say nothing bad of a provider: they never open it.
	ps[0].answer(errRejected)
	for range 2 * failures {
		if err := r.Send(context.Background(), routeMsg); err == nil {
			t.Fatal("a rejected message was sent")
		}
	}
	if s := r.BreakerState("a"); s != BreakerClosed {
		t.Fatalf("after rejections the breaker is %s, want closed", s)
	}

	// failures consecutive failures open it: a is skipped from then on.
	ps[0].answer(errTryNext)
	before := ps[0].calls()
	for range failures {
		send()
	}
	if s := r.BreakerState("a"); s != BreakerOpen {
		t.Fatalf("after %d failures the breaker is %s, want open", failures, s)
	}
	send()
	if got := ps[0].calls() - before; got != failures {
		t.Errorf("a got %d sends, want %d: an open breaker must skip it", got, failures)
	}
	mu.Lock()
	last := attempts[len(attempts)-2] // a's, then b's
	mu.Unlock()
	if last.Provider != "a" || last.Skipped != "breaker" || !errors.Is(last.Err, ErrBreakerOpen) {
		t.Errorf("attempt while open = %+v, want a skipped by its breaker", last)
	}

	// After the cool-down, one message probes it: a failure opens it again.
	waitState(t, r, "a", BreakerHalfOpen, coolDown)
	send()
	if got := ps[0].calls() - before; got != failures+1 {
		t.Errorf("a got %d sends, want %d: a half-open breaker lets one probe through", got, failures+1)
	}
	if s := r.BreakerState("a"); s != BreakerOpen {
		t.Fatalf("after a failed probe the breaker is %s, want open", s)
	}
	// A successful probe closes it.
	ps[0].answer(nil)
	waitState(t, r, "a", BreakerHalfOpen, coolDown)
	send()
	if s := r.BreakerState("a"); s != BreakerClosed {
		t.Fatalf("after a good probe the breaker is %s, want closed", s)
	}
	bCalls := ps[1].calls()
	send()
	if ps[1].calls() != bCalls {
		t.Error("with a's breaker closed again, b was still used")
	}
}

// waitState waits for the breaker's state, for at most 100 cool-downs.
func waitState(t *testing.T, r *Router, provider string, want BreakerState, coolDown time.Duration) {
	t.Helper()
	deadline := time.Now().Add(100 * coolDown)
	for r.BreakerState(provider) != want {
		if time.Now().After(deadline) {
			t.Fatalf("breaker of %s is %s after %s, want %s", provider, r.BreakerState(provider), 100*coolDown, want)
		}
		time.Sleep(coolDown / 5)
	}
}

func TestRouterUnknownOutcomeOpensBreaker(t *testing.T) {
	ps := fakes("a", "b")
	ps[0].answer(errUnknown)
	r := newTestRouter(t, ps, func(c *RouterConfig) { c.BreakerFailures = 2 })
	for range 2 {
		if err := r.Send(context.Background(), routeMsg); err == nil {
			t.Fatal("a send whose outcome is unknown succeeded")
		}
	}
	if ps[1].calls() != 0 {
		t.Fatalf("b got %d sends after unknown outcomes, want 0", ps[1].calls())
	}
	// Now a is open: it cannot have sent anything, b may.
	if err := r.Send(context.Background(), routeMsg); err != nil {
		t.Fatalf("Send() with a open: %v", err)
	}
	if ps[0].calls() != 2 || ps[1].calls() != 1 {
		t.Errorf("calls a %d, b %d; want 2, 1", ps[0].calls(), ps[1].calls())
	}
}

func TestRouterCapPerMinute(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
	ps := fakes("a", "b")
	r := newTestRouter(t, ps, func(c *RouterConfig) {
		c.Now = clock
		c.MaxPerMinute = 3
		c.Providers[1].MaxPerMinute = 1
		c.BreakerFailures = 1 // a cap that counted as a failure would open it
	})
	send := func() error { return r.Send(context.Background(), routeMsg) }
	for range 3 {
		if err := send(); err != nil {
			t.Fatal(err)
		}
		advance(10 * time.Second) // a at 0s, 10s, 20s
	}
	// a's cap is reached: b takes the next one, and then nobody.
	if err := send(); err != nil {
		t.Fatal(err)
	}
	err := send()
	if !errors.Is(err, ErrCapped) {
		t.Fatalf("Send() beyond every cap: %v, want ErrCapped", err)
	}
	if ps[0].calls() != 3 || ps[1].calls() != 1 {
		t.Errorf("calls a %d, b %d; want 3, 1", ps[0].calls(), ps[1].calls())
	}
	if s := r.BreakerState("a"); s != BreakerClosed {
		t.Errorf("a cap counted against the breaker: %s", s)
	}
	// A minute after a's first send, a takes one more; not two.
	advance(30 * time.Second) // now 60s
	if err := send(); err != nil {
		t.Fatal(err)
	}
	if ps[0].calls() != 4 {
		t.Errorf("a got %d sends a minute after its first, want 4", ps[0].calls())
	}
	if err := send(); !errors.Is(err, ErrCapped) {
		t.Errorf("second send at 60s: %v, want ErrCapped", err)
	}
}

func TestMinuteCap(t *testing.T) {
	base := time.Unix(1000, 0)
	c := newMinuteCap(2, base)
	for i, tc := range []struct {
		at   time.Duration
		want bool
	}{
		{0, true}, {time.Second, true}, {59 * time.Second, false},
		{60 * time.Second, true}, {60 * time.Second, false}, {61 * time.Second, true}, {61 * time.Second, false},
		{120 * time.Second, true},
	} {
		if got := c.take(base.Add(tc.at)); got != tc.want {
			t.Errorf("take %d at %s = %v, want %v", i, tc.at, got, tc.want)
		}
	}
	var none *minuteCap
	if !none.take(base) {
		t.Error("a nil cap refused")
	}
}

// A provider that never answers gets only its share of the time: the next
// one still gets the message within the send's timeout.
func TestRouterDeadlineShare(t *testing.T) {
	ps := fakes("silent", "b")
	ps[0].block = true
	r := newTestRouter(t, ps, func(c *RouterConfig) { c.Timeout = 2 * time.Second })
	done := make(chan error, 1)
	go func() { done <- r.Send(context.Background(), routeMsg) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Send() = %v, want the second provider to take it", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send() hung")
	}
	if ps[1].calls() != 1 {
		t.Errorf("b got %d sends, want 1", ps[1].calls())
	}

	// The caller's own deadline ends the send: no provider is tried after it.
	ps2 := fakes("silent", "b")
	ps2[0].block = true
	r2 := newTestRouter(t, ps2, func(c *RouterConfig) { c.Timeout = 0 })
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := r2.Send(ctx, routeMsg); !errors.Is(err, context.Canceled) {
		t.Errorf("Send() with the caller gone = %v, want context.Canceled", err)
	}
	if ps2[1].calls() != 0 {
		t.Errorf("b got %d sends after the caller left, want 0", ps2[1].calls())
	}
	if s := r2.BreakerState("silent"); s != BreakerClosed {
		t.Errorf("the caller's leaving counted against the breaker")
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(error) Failure
		err  error
		want Failure
	}{
		{"kind try-next", classifyFake, errTryNext, Failure{Class: ClassTryNext}},
		{"kind rejected", classifyFake, errRejected, Failure{Class: ClassRejected}},
		{"kind config", classifyFake, errConfig, Failure{Class: ClassConfigError}},
		{"kind unknown outcome", classifyFake, errUnknown, Failure{Class: ClassTryNext, Unknown: true}},
		{"kind, wrapped", classifyFake, fmt.Errorf("x: %w", errRejected), Failure{Class: ClassRejected}},
		{"no kind", classifyFake, errors.New("x"), Failure{Class: ClassTryNext}},
		{"plain", ClassifyError, errRejected, Failure{Class: ClassTryNext}},
		{"plain, unknown", ClassifyError, errUnknown, Failure{Class: ClassTryNext, Unknown: true}},
		{"http 500", ClassifyHTTP, &HTTPStatusError{StatusCode: 500}, Failure{Class: ClassTryNext}},
		{"http 429", ClassifyHTTP, &HTTPStatusError{StatusCode: 429}, Failure{Class: ClassTryNext}},
		{"http 401", ClassifyHTTP, &HTTPStatusError{StatusCode: 401}, Failure{Class: ClassConfigError}},
		{"http 302", ClassifyHTTP, &HTTPStatusError{StatusCode: 302}, Failure{Class: ClassConfigError}},
		{"http timeout", ClassifyHTTP, fmt.Errorf("no answer: %w", context.DeadlineExceeded), Failure{Class: ClassTryNext, Unknown: true}},
		{"http refused", ClassifyHTTP, errors.New("connect: connection refused"), Failure{Class: ClassTryNext}},
	} {
		if got := tc.f(tc.err); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// The HTTP gateway's timeout, through a real HTTPSender: unknown, so a
// router does not hand the message to the next provider.
func TestRouterHTTPTimeoutIsUnknown(t *testing.T) {
	gw, _ := slowGateway(t)
	h, err := NewHTTPSender(HTTPConfig{URL: gw.URL, Timeout: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := &fakeProvider{name: "next"}
	r, err := NewRouter(RouterConfig{Providers: []Provider{{Sender: h, Classify: ClassifyHTTP}, {Sender: next}}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Send(context.Background(), routeMsg); err == nil || !strings.Contains(err.Error(), "may have sent the message") {
		t.Errorf("Send() = %v, want a failure that says the gateway may have sent it", err)
	}
	if next.calls() != 0 {
		t.Errorf("the next provider got %d sends after the gateway timed out, want 0", next.calls())
	}
}
