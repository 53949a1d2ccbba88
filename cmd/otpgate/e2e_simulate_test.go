package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/simulator"
)

// simPIAID is the PIAID the simulated deployments serve.
const simPIAID = "SpeedyPaymentsIndia_INR"

// simKeys are the key files of one scheme for a simulation: the deployment's
// (ours), Google's, an impostor's that the deployment does not trust, and a
// stranger's that is not the deployment's; .pub files are public parts.
type simKeys struct {
	scheme                           string
	ours, oursPub, google, googlePub string
	impostor, strangerPub            string
}

// simMakeKeys makes the keys of scheme with `otpgate keys generate` and
// exports the public parts with `otpgate keys export-public`.
func simMakeKeys(t *testing.T, dir, scheme string) simKeys {
	t.Helper()
	ext, pubExt := ".asc", ".pub.asc"
	if scheme == "jose" {
		ext, pubExt = ".jwk", ".pub.jwks"
	}
	path := func(name string) string { return filepath.Join(dir, scheme+"-"+name) }
	for _, name := range []string{"ours", "google", "impostor", "stranger"} {
		args := []string{"keys", "generate", "--scheme", scheme, "--bits", "2048", "--out", path(name + ext)}
		if scheme == "jose" {
			args = append(args, "--kid", name)
		} else {
			args = append(args, "--name", name)
		}
		simRunOK(t, args...)
		if name != "impostor" {
			writeFile(t, dir, scheme+"-"+name+pubExt, simRunOK(t, "keys", "export-public", "--scheme", scheme, "--key", path(name+ext)))
		}
	}
	return simKeys{scheme: scheme, ours: path("ours" + ext), oursPub: path("ours" + pubExt),
		google: path("google" + ext), googlePub: path("google" + pubExt),
		impostor: path("impostor" + ext), strangerPub: path("stranger" + pubExt)}
}

// serveArgs are serve's key flags.
func (k simKeys) serveArgs() []string {
	return []string{"--" + k.scheme + "-key", k.ours, "--" + k.scheme + "-google-key", k.googlePub}
}

// googleArgs are simulate's flags for Google's side; with probes, also the
// impostor's and the stranger's keys.
func (k simKeys) googleArgs(probes bool) []string {
	args := []string{"--google-" + k.scheme + "-key", k.google, "--integrator-" + k.scheme + "-key", k.oursPub}
	if probes {
		args = append(args, "--impostor-"+k.scheme+"-key", k.impostor, "--stranger-"+k.scheme+"-key", k.strangerPub)
	}
	return args
}

// simRunOK runs otpgate and requires exit 0; it returns standard output.
func simRunOK(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := e2eRun(t, 60*time.Second, nil, args...)
	if code != 0 {
		t.Fatalf("otpgate %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// simServe starts a deployment of k's scheme with the fixtures imported and
// SMS to a file, and returns it with the path of its SMS file. Its send
// budget (50 per 15 minutes) lets a 40-iteration load run on two accounts
// and still lets conformance (with --limit-probe 60) reach
// OTP_LIMIT_REACHED.
func simServe(t *testing.T, dir string, k simKeys, fixtures string) (*e2eProc, string) {
	t.Helper()
	data := filepath.Join(dir, k.scheme+"-data")
	importAccounts(t, data, fixtures)
	smsFile := filepath.Join(dir, k.scheme+"-sms.jsonl")
	args := append([]string{"--data-dir", data, "--sms-file", smsFile, "--piaid", simPIAID, "--send-limit", "50/15m"}, k.serveArgs()...)
	return e2eServe(t, nil, args...), smsFile
}

// simConformance runs `otpgate simulate conformance --json` and returns its
// exit code, report and standard error.
func simConformance(t *testing.T, args ...string) (int, *simulator.Report, string) {
	t.Helper()
	code, stdout, stderr := e2eRun(t, 60*time.Second, nil, append([]string{"simulate", "conformance", "--json"}, args...)...)
	var rep simulator.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("simulate conformance (exit %d): the output is not a JSON report: %v\nstdout: %.2000s\nstderr: %s", code, err, stdout, stderr)
	}
	return code, &rep, stderr
}

// TestE2ESimulate plays Google against real deployments, as an integrator
// would before asking Google to test: keys made with `otpgate keys`, the
// fixtures imported with `otpgate accounts import`, `otpgate serve` with PGP
// and with JOSE, and `otpgate simulate` with Google's side of the keys.
func TestE2ESimulate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fixtures := filepath.Join(dir, "f.jsonl")
	simRunOK(t, "simulate", "fixtures", "--out", fixtures)

	for _, scheme := range []string{"pgp", "jose"} {
		k := simMakeKeys(t, dir, scheme)
		p, smsFile := simServe(t, dir, k, fixtures)
		target := []string{"--target", p.url, "--sms-file", smsFile, "--piaid", simPIAID}

		t.Run(scheme+"/conformance", func(t *testing.T) {
			code, rep, stderr := simConformance(t, append(append(target, "--limit-probe", "60"), k.googleArgs(true)...)...)
			if code != 0 || rep.Failed != 0 {
				t.Errorf("exit %d, %d failed\nstderr: %s", code, rep.Failed, stderr)
			}
			if rep.Envelope != scheme {
				t.Errorf("the report's envelope is %q, want %q", rep.Envelope, scheme)
			}
			if len(rep.Results) != len(simulator.Catalogue()) {
				t.Errorf("%d results for a catalogue of %d scenarios", len(rep.Results), len(simulator.Catalogue()))
			}
			status := map[string]simulator.Status{}
			for _, r := range rep.Results {
				status[r.Name] = r.Status
				switch {
				case r.Status == simulator.Fail:
					t.Errorf("FAIL %s: expected %s, got %s: %s", r.Name, r.Expected, r.Got, r.Detail)
				case r.Status == simulator.Skip && strings.HasPrefix(r.Name, "surfaces/"):
					// The deployment serves every surface: none is off.
				case r.Status == simulator.Skip && !strings.HasPrefix(r.Detail, "not driveable from outside"):
					t.Errorf("SKIP %s although everything it needs was given: %s", r.Name, r.Detail)
				}
			}
			for _, name := range []string{"envelope/bad-signature", "envelope/wrong-encryption-key", "envelope/not-an-envelope",
				"e-wallets: sendOtp/success-by-phone", "korea-e-wallets: verifyOtp/success", "cards/authenticate-token-otp-sent"} {
				if status[name] != simulator.Pass {
					t.Errorf("%s: %q, want PASS", name, status[name])
				}
			}
		})

		t.Run(scheme+"/probes-not-given", func(t *testing.T) {
			code, rep, stderr := simConformance(t, append(append(target, "--only", "^envelope/"), k.googleArgs(false)...)...)
			if code != 0 || len(rep.Results) != 3 {
				t.Fatalf("exit %d, %d results\nstderr: %s", code, len(rep.Results), stderr)
			}
			want := map[string]string{"envelope/bad-signature": "--impostor-" + scheme + "-key",
				"envelope/wrong-encryption-key": "--stranger-" + scheme + "-key"}
			for _, r := range rep.Results {
				if flag, ok := want[r.Name]; ok && (r.Status != simulator.Skip || !strings.Contains(r.Detail, flag)) {
					t.Errorf("%s: %s %q, want SKIP naming %s", r.Name, r.Status, r.Detail, flag)
				}
			}
		})

		if scheme != "pgp" {
			continue
		}
		t.Run("pgp/load", func(t *testing.T) {
			args := append(append([]string{"simulate", "load", "--scenario", "flow", "--count", "40", "--workers", "2",
				"--floor", "--floor-duration", "1s", "--json", "--quiet"}, target...), k.googleArgs(false)...)
			code, stdout, stderr := e2eRun(t, 60*time.Second, nil, args...)
			if code != 0 {
				t.Errorf("simulate load: exit %d\nstderr: %s", code, stderr)
			}
			var rep simulator.LoadReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("simulate load: not a JSON report: %v\n%s", err, stdout)
			}
			if rep.Envelope != "pgp" || rep.Scenario != "flow" || rep.Workers != 2 {
				t.Errorf("report of envelope %q, scenario %q, %d workers", rep.Envelope, rep.Scenario, rep.Workers)
			}
			if rep.Iterations != 40 || rep.Requests != 80 || rep.Failures != 0 {
				t.Errorf("%d iterations, %d requests, %d failures; want 40, 80 (a flow is two requests), 0",
					rep.Iterations, rep.Requests, rep.Failures)
			}
			outcomes := 0
			for _, n := range rep.Outcomes {
				outcomes += n
			}
			if outcomes != rep.Requests || rep.Outcomes["sendOtp 200 SUCCESS"] != 40 || rep.Outcomes["verifyOtp 200 SUCCESS"] != 40 {
				t.Errorf("outcomes %v do not add up to %d requests, 40 of each method", rep.Outcomes, rep.Requests)
			}
			perMethod := 0
			for _, l := range rep.Methods {
				perMethod += l.Count
			}
			if rep.Latency.Count != rep.Requests || perMethod != rep.Requests {
				t.Errorf("latencies of %d requests (%d by method), want %d", rep.Latency.Count, perMethod, rep.Requests)
			}
			if l := rep.Latency; !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
				t.Errorf("latency percentiles out of order: %+v", l)
			}
			if len(rep.Errors) != 0 {
				t.Errorf("errors: %v", rep.Errors)
			}
			f := rep.Floor
			if f == nil || f.Operations == 0 || f.RequestsPerSec <= 0 || f.Note != "" {
				t.Fatalf("floor not measured: %+v", f)
			}
			if want := rep.RequestsPerSec / f.RequestsPerSec; math.Abs(f.Fraction-want) > 1e-9*want {
				t.Errorf("floor fraction %v, want %v (run %v/s over floor %v/s)", f.Fraction, want, rep.RequestsPerSec, f.RequestsPerSec)
			}
		})

		t.Run("pgp/against-plaintext", func(t *testing.T) {
			plain := e2eServe(t, nil, "--insecure-plaintext", "--data-dir", filepath.Join(dir, "plain-data"),
				"--sms-file", filepath.Join(dir, "plain-sms.jsonl"))
			for _, mode := range []string{"conformance", "load"} {
				args := append([]string{"simulate", mode, "--target", plain.url}, k.googleArgs(mode == "conformance")...)
				if mode == "load" {
					args = append(args, "--scenario", "send", "--count", "5", "--quiet")
				}
				code, stdout, stderr := e2eRun(t, 60*time.Second, nil, args...)
				if code == 0 || strings.Contains(stdout, "PASS") || !strings.Contains(stderr, "--insecure-plaintext") {
					t.Errorf("simulate %s with pgp keys against a plaintext deployment: exit %d, want non-zero and an error naming --insecure-plaintext\nstdout: %.1000s\nstderr: %s",
						mode, code, stdout, stderr)
				}
			}
		})
	}
}

// TestE2ESimulateSurfaces plays Google against a deployment that turned two
// surfaces off (serve --surfaces): told so with the same --surfaces, the
// simulator skips their scenarios and finds their paths unanswered; told
// that a served surface is off, it fails.
func TestE2ESimulateSurfaces(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := e2eServe(t, nil, "--insecure-plaintext", "--data-dir", filepath.Join(dir, "data"),
		"--sms-file", filepath.Join(dir, "sms.jsonl"), "--piaid", simPIAID, "--surfaces", "standard,india-cards")
	run := func(surfaces string) (int, map[string]simulator.Result, string) {
		code, rep, stderr := simConformance(t, "--target", p.url, "--insecure-plaintext", "--piaid", simPIAID,
			"--surfaces", surfaces, "--only", `^(surfaces/|echo/v1$|echo/v2$|(e-wallets|korea-e-wallets): echo/v1$)`)
		byName := map[string]simulator.Result{}
		for _, r := range rep.Results {
			byName[r.Name] = r
		}
		if len(byName) != 8 {
			t.Errorf("--surfaces %s: %d results, want 8 (4 echoes, 4 surfaces)", surfaces, len(byName))
		}
		return code, byName, stderr
	}

	code, got, stderr := run("standard,india-cards")
	if code != 0 {
		t.Errorf("exit %d\nstderr: %s", code, stderr)
	}
	for name, want := range map[string]simulator.Status{
		"echo/v1": simulator.Pass, "echo/v2": simulator.Pass,
		"e-wallets: echo/v1": simulator.Skip, "korea-e-wallets: echo/v1": simulator.Skip,
		"surfaces/e-wallets-off": simulator.Pass, "surfaces/korea-e-wallets-off": simulator.Pass,
		"surfaces/standard-off": simulator.Skip, "surfaces/india-cards-off": simulator.Skip,
	} {
		r := got[name]
		if r.Status != want {
			t.Errorf("%s: %s (%s %s), want %s", name, r.Status, r.Got, r.Detail, want)
		}
		if want == simulator.Skip && !strings.Contains(r.Detail, "--surfaces") {
			t.Errorf("%s: skipped for %q, which names no --surfaces", name, r.Detail)
		}
	}

	// Told that India Cards is off although the deployment serves it.
	code, got, _ = run("standard")
	if code == 0 {
		t.Error("exit 0 although a surface said to be off answers")
	}
	if r := got["surfaces/india-cards-off"]; r.Status != simulator.Fail || !strings.Contains(r.Detail, "is served") {
		t.Errorf("surfaces/india-cards-off: %s %q, want FAIL saying it is served", r.Status, r.Detail)
	}
	if r := got["surfaces/e-wallets-off"]; r.Status != simulator.Pass {
		t.Errorf("surfaces/e-wallets-off: %s %q, want PASS", r.Status, r.Detail)
	}
}
