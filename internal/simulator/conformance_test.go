package simulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/simulator"
)

// neverDriveable are the scenarios no client can drive a server to, on
// every legacy surface. Pinned by name, so that a scenario wrongly marked
// not driveable fails the test instead of skipping.
var neverDriveable = onLegacySurfaces("sendOtp/message-unable-to-be-sent", "verifyOtp/code-expired", "idempotency/retry-after-503")

// surfacesOff check that a surface is turned off: they skip against a
// target that serves every surface.
var surfacesOff = []string{"surfaces/standard-off", "surfaces/e-wallets-off", "surfaces/korea-e-wallets-off", "surfaces/india-cards-off"}

// onLegacySurfaces names scenarios as the catalogue does on each legacy
// surface: bare on the standard one, prefixed on the others.
func onLegacySurfaces(names ...string) []string {
	var out []string
	for _, prefix := range []string{"", "e-wallets: ", "korea-e-wallets: "} {
		for _, n := range names {
			out = append(out, prefix+n)
		}
	}
	return out
}

var envelopeOnly = []string{"envelope/not-an-envelope", "envelope/bad-signature", "envelope/wrong-encryption-key"}

// skipsOf joins lists of scenario names.
func skipsOf(lists ...[]string) []string { return slices.Concat(lists...) }

// requireOnly fails the test unless every scenario passed, except those in
// skipped, which must have been skipped.
func requireOnly(t *testing.T, rep *simulator.Report, skipped ...string) {
	t.Helper()
	if len(rep.Results) != len(simulator.Catalogue()) {
		t.Errorf("%d results for %d scenarios", len(rep.Results), len(simulator.Catalogue()))
	}
	for _, r := range rep.Results {
		want := simulator.Pass
		if slices.Contains(skipped, r.Name) {
			want = simulator.Skip
		}
		if r.Status != want {
			t.Errorf("%s: %s, want %s\n  expected %s\n  got      %s\n  %s", r.Name, r.Status, want, r.Expected, r.Got, r.Detail)
		}
	}
	if t.Failed() {
		var table bytes.Buffer
		rep.WriteTable(&table)
		t.Log("\n" + table.String())
	}
}

// The whole catalogue passes against otpgate with plaintext bodies, and
// again on the same server: the budget scenarios stay re-runnable.
func TestConformancePlaintext(t *testing.T) {
	tg := startTarget(t)
	c := tg.client(t, nil, 0)
	codes := tg.codes(t)
	for run := 1; run <= 3; run++ {
		start := time.Now()
		rep, err := simulator.Conformance(context.Background(), simulator.ConformanceConfig{Client: c, Codes: codes})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d: %d passed, %d skipped in %s", run, rep.Passed, rep.Skipped, time.Since(start).Round(time.Millisecond))
		requireOnly(t, rep, skipsOf(neverDriveable, surfacesOff, envelopeOnly)...)
		if err := rep.Err(); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
}

// With an envelope that signs and encrypts, the envelope scenarios run too:
// the toy codec has the shape of PGP and JOSE (a stranger's signature is a
// bad signature, a body for another key undecryptable).
func TestConformanceProtected(t *testing.T) {
	tg := startTarget(t, withServerCodec(toyServer))
	rep, err := simulator.Conformance(context.Background(), simulator.ConformanceConfig{
		Client: tg.client(t, toyGoogle, 0), Codes: tg.codes(t), Impostor: toyImpostor, Misdirected: toyMisdirected})
	if err != nil {
		t.Fatal(err)
	}
	requireOnly(t, rep, skipsOf(neverDriveable, surfacesOff)...)

	// Without the extra key material, those two say why they skip.
	rep, err = simulator.Conformance(context.Background(), simulator.ConformanceConfig{
		Client: tg.client(t, toyGoogle, 0), Match: regexp.MustCompile(`^envelope/`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Name != "envelope/not-an-envelope" && (r.Status != simulator.Skip || !strings.Contains(r.Detail, "key")) {
			t.Errorf("%s: %s %q, want a skip naming the missing key", r.Name, r.Status, r.Detail)
		}
	}
}

// rewrite replaces old by new in the answers to path, as a broken server would.
func rewrite(path, old, new string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			body := bytes.ReplaceAll(rec.Body.Bytes(), []byte(old), []byte(new))
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
}

// A server that gets one answer wrong fails that scenario, and the run.
func TestConformanceCatchesAWrongAnswer(t *testing.T) {
	tg := startTarget(t, withWrapper(rewrite(simulator.PathVerifyOtp, `"OTP_ALREADY_USED"`, `"OTP_NOT_MATCHED"`)))
	rep, err := simulator.Conformance(context.Background(), simulator.ConformanceConfig{
		Client: tg.client(t, nil, 0), Codes: tg.codes(t), Match: regexp.MustCompile(`^verifyOtp/`)})
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]simulator.Result{}
	for _, r := range rep.Results {
		if r.Status == simulator.Fail {
			failed[r.Name] = r
		}
	}
	r, ok := failed["verifyOtp/otp-already-used"]
	if len(failed) != 1 || !ok {
		t.Fatalf("failed: %v; want verifyOtp/otp-already-used only", failed)
	}
	if r.Got != "200 OTP_NOT_MATCHED" || !strings.Contains(r.Detail, "want 200 OTP_ALREADY_USED") {
		t.Errorf("got %q, detail %q", r.Got, r.Detail)
	}
	if rep.Err() == nil || rep.Failed != 1 {
		t.Fatalf("Err() = %v with %d failed: the command would exit 0", rep.Err(), rep.Failed)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`verifyOtp/otp-already-used\s+200 OTP_ALREADY_USED\s+200 OTP_NOT_MATCHED\s+FAIL`).Match(table.Bytes()) {
		t.Errorf("the table does not show the failure:\n%s", table.String())
	}
	var out struct {
		Failed  int
		Results []struct{ Name, Status string }
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js.Bytes(), &out); err != nil || out.Failed != 1 {
		t.Errorf("JSON report: %v, %s", err, js.String())
	}
}

// A replay that changes the answer, and an error body in the wrong form, are
// caught too.
func TestConformanceCatchesBrokenReplaysAndErrors(t *testing.T) {
	var mu sync.Mutex
	n := 0
	broken := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != simulator.PathSendOtp {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if rec.Code == 200 {
				// A fresh paymentIntegratorSendOtpId on every answer, replays included.
				mu.Lock()
				n++
				body = regexp.MustCompile(`"paymentIntegratorSendOtpId":"[^"]*"`).ReplaceAll(body, fmt.Appendf(nil, `"paymentIntegratorSendOtpId":"x%d"`, n))
				mu.Unlock()
			} else {
				body = []byte(`{"error":"nope"}`)
			}
			w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
	tg := startTarget(t, withWrapper(broken))
	rep, err := simulator.Conformance(context.Background(), simulator.ConformanceConfig{
		Client: tg.client(t, nil, 0), Codes: tg.codes(t),
		Match: regexp.MustCompile(`^(idempotency/replay-send-success|idempotency/concurrent-duplicates|sendOtp/unknown-association)$`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Status != simulator.Fail {
			t.Errorf("%s: %s (%s), want FAIL", r.Name, r.Status, r.Got)
		}
	}
}

// Without a code source, the scenarios that need codes say why they skip;
// everything else still runs.
func TestConformanceWithoutCodesOrPIAID(t *testing.T) {
	tg := startTarget(t)
	c, err := simulator.New(simulator.Config{Target: tg.url})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := simulator.Conformance(context.Background(), simulator.ConformanceConfig{Client: c,
		Match: regexp.MustCompile(`^(verifyOtp/success|sendOtp/success-by-phone|cards/authenticate-otp-sent|header/missing-piaid|header/unknown-piaid)$`)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]simulator.Status{"verifyOtp/success": simulator.Skip, "sendOtp/success-by-phone": simulator.Pass,
		"cards/authenticate-otp-sent": simulator.Skip, "header/missing-piaid": simulator.Pass, "header/unknown-piaid": simulator.Pass}
	for _, r := range rep.Results {
		if r.Status != want[r.Name] {
			t.Errorf("%s: %s %s, want %s", r.Name, r.Status, r.Detail, want[r.Name])
		}
		if r.Status == simulator.Skip && !strings.Contains(r.Detail, "--sms-file") && !strings.Contains(r.Detail, "--piaid") {
			t.Errorf("%s: skip reason %q names no flag", r.Name, r.Detail)
		}
	}
	if len(rep.Results) != len(want) {
		t.Errorf("%d results", len(rep.Results))
	}
}

// operator answers the simulator's prompts with the codes of the SMS file,
// as a person reading their phone would.
type operator struct {
	t      *testing.T
	sms    *simulator.SMSFile
	answer *io.PipeWriter
	asked  []string
}

func (o *operator) Write(p []byte) (int, error) {
	m := regexp.MustCompile(`newest SMS to (\+\d+)`).FindSubmatch(p)
	if m == nil {
		return len(p), nil
	}
	o.asked = append(o.asked, string(m[1]))
	sms, err := o.sms.Wait(context.Background(), string(m[1]), 0)
	if err != nil {
		o.t.Error(err)
	}
	go fmt.Fprintf(o.answer, "%s\n", sms.Code)
	return len(p), nil
}

func TestConformanceInteractive(t *testing.T) {
	tg := startTarget(t)
	in, answers := io.Pipe()
	op := &operator{t: t, sms: tg.codes(t), answer: answers}
	rep, err := simulator.Conformance(context.Background(), simulator.ConformanceConfig{
		Client: tg.client(t, nil, 0), Codes: simulator.NewPrompt(in, op),
		Match: regexp.MustCompile(`^(verifyOtp/success|cards/verify-success|idempotency/replay-send-success)$`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Status != simulator.Pass {
			t.Errorf("%s: %s %s", r.Name, r.Status, r.Detail)
		}
		if r.Name == "idempotency/replay-send-success" && !strings.Contains(r.Detail, "not checked") {
			t.Errorf("replay: the SMS count cannot be checked interactively, yet: %q", r.Detail)
		}
	}
	if len(op.asked) != 2 {
		t.Errorf("the operator was asked %d times (%v), want 2", len(op.asked), op.asked)
	}
}

// turnOff answers the router's 404 on every path under prefix, as a
// deployment that turned that surface off does.
func turnOff(prefix string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, prefix) {
				http.NotFound(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Told which surfaces a target serves, the run skips the scenarios of the
// others and checks that their paths answer 404; told wrong, it fails.
func TestConformanceSurfaces(t *testing.T) {
	tg := startTarget(t, withWrapper(turnOff("/e-wallets-v1/")))
	c, codes := tg.client(t, nil, 0), tg.codes(t)
	only := regexp.MustCompile(`^(surfaces/|echo/|(e-wallets|korea-e-wallets): (echo|sendOtp|verifyOtp)/)`)
	run := func(surfaces ...string) map[string]simulator.Result {
		t.Helper()
		rep, err := simulator.Conformance(context.Background(), simulator.ConformanceConfig{
			Client: c, Codes: codes, Surfaces: surfaces, Match: only})
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]simulator.Result{}
		for _, r := range rep.Results {
			byName[r.Name] = r
		}
		return byName
	}

	got := run("standard", "korea-e-wallets", "india-cards")
	for name, r := range got {
		want := simulator.Pass
		switch {
		case strings.HasPrefix(name, "e-wallets: "):
			want = simulator.Skip
		case strings.HasPrefix(name, "surfaces/") && name != "surfaces/e-wallets-off":
			want = simulator.Skip // served: nothing is off
		case strings.Contains(r.Detail, "not driveable"):
			want = simulator.Skip
		}
		if r.Status != want {
			t.Errorf("%s: %s (%s: %s), want %s", name, r.Status, r.Got, r.Detail, want)
		}
		if want == simulator.Skip && !strings.Contains(r.Detail, "--surfaces") && !strings.Contains(r.Detail, "not driveable") {
			t.Errorf("%s: skipped for %q, which names no --surfaces", name, r.Detail)
		}
	}
	if r := got["korea-e-wallets: verifyOtp/success"]; r.Status != simulator.Pass {
		t.Errorf("a served legacy surface's flow: %s %s", r.Status, r.Detail)
	}

	// Told every surface is served: e-wallets' scenarios meet the 404.
	got = run()
	if r := got["e-wallets: echo/v1"]; r.Status != simulator.Fail || r.Got != "404 (body is not a JSON object)" {
		t.Errorf("e-wallets: echo/v1 against a surface turned off: %s %q", r.Status, r.Got)
	}
	// Told korea-e-wallets is off although it is served.
	got = run("standard", "e-wallets", "india-cards")
	if r := got["surfaces/korea-e-wallets-off"]; r.Status != simulator.Fail || !strings.Contains(r.Detail, "is served") {
		t.Errorf("surfaces/korea-e-wallets-off against a served surface: %s %q", r.Status, r.Detail)
	}
}

// insert puts text right after the first '{' of the answers to paths with
// prefix whose status is status (0: any), as a server answering in the
// wrong form would.
func insert(prefix string, status int, text string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if strings.HasPrefix(r.URL.Path, prefix) && (status == 0 || rec.Code == status) {
				body = bytes.Replace(body, []byte("{"), []byte("{"+text), 1)
			}
			w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
}

// A server still on the old shapes fails the scenarios that see them: an
// ErrorResponse in the other dialect's form, or authenticate's former
// members.
func TestConformanceCatchesOldShapes(t *testing.T) {
	cards := "/v1/payment-integrator-authenticated-card-fop-api/"
	for _, tc := range []struct {
		name     string
		wrap     func(http.Handler) http.Handler
		scenario string
		detail   string
	}{
		{"a current error with errorResponseCode", insert(cards, 404, `"errorResponseCode":"INVALID_IDENTIFIER",`),
			"cards/verify-unknown-authentication", "errorResponseCode"},
		{"a legacy error with errorResponseResult", insert("/korea-e-wallets-v1/", 404, `"errorResponseResult":{"invalidIdentifier":{}},`),
			"korea-e-wallets: sendOtp/unknown-association", "errorResponseResult in a legacy-dialect"},
		{"authenticate's old id", rewrite(simulator.PathAuthenticate, "paymentIntegratorAuthenticationId", "paymentIntegratorAuthenticateId"),
			"cards/authenticate-unknown-card", "old shape"},
		{"authenticate's old result", rewrite(simulator.PathAuthenticate, `"nativeOtpResultCase"`, `"nativeOtpResult"`),
			"cards/authenticate-otp-sent", "no nativeOtpResultCase"},
		{"an idempotency violation across methods", rewrite(simulator.PathVerifyOtp, `"INVALID_IDENTIFIER"`, `"IDEMPOTENCY_VIOLATION"`),
			"idempotency/other-method", "want 404 INVALID_IDENTIFIER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := startTarget(t, withWrapper(tc.wrap))
			rep, err := simulator.Conformance(context.Background(), simulator.ConformanceConfig{
				Client: tg.client(t, nil, 0), Codes: tg.codes(t), Match: regexp.MustCompile("^" + regexp.QuoteMeta(tc.scenario) + "$")})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != 1 {
				t.Fatalf("%d results", len(rep.Results))
			}
			if r := rep.Results[0]; r.Status != simulator.Fail || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("%s: %s %q, want FAIL naming %q", r.Name, r.Status, r.Detail, tc.detail)
			}
		})
	}
}
