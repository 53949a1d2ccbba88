package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// systemdUnit is the unit that README's "Install and upgrade" installs.
var systemdUnit = filepath.Join("..", "..", "deploy", "systemd", "otpgate.service")

// TestSystemdUnit checks deploy/systemd/otpgate.service with systemd's own
// tools, on the binary built here: `systemd-analyze verify` must pass
// without a word (an unknown key or a bad value is only a warning there, and
// fails here), and `systemd-analyze security --offline` must rate its
// exposure 2.0 or less. Then it plays systemd: the unit's Environment=
// (with %S, %d and /etc/otpgate pointing into a temporary directory),
// LoadCredential= copies, ExecStartPre= (the check must pass) and
// ExecStart= (it must serve, and stop cleanly on SIGTERM).
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is missing: .ci/run installs Debian's systemd package")
		}
		t.Skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
	}
	unit, err := os.ReadFile(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	const installed = "/usr/local/bin/otpgate"
	if !strings.Contains(string(unit), "ExecStart="+installed+" ") {
		t.Fatalf("the unit does not start %s", installed)
	}
	tmp := t.TempDir()
	// systemd-analyze checks that the programs exist: the one built here.
	local := filepath.Join(tmp, "otpgate.service")
	if err := os.WriteFile(local, []byte(strings.ReplaceAll(string(unit), installed, e2eBinary)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", local).CombinedOutput()
	if err != nil || strings.Contains(string(out), "otpgate") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", local).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0, or it failed: %v\n%s", err, out)
	}

	// Play systemd.
	etc, state, creds := filepath.Join(tmp, "etc"), filepath.Join(tmp, "state"), filepath.Join(tmp, "credentials")
	for _, d := range []string{filepath.Join(etc, "private"), filepath.Join(state, "otpgate"), creds} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, stderr := e2eRun(t, 60*time.Second, nil, "keys", "generate", "--scheme", "pgp", "--out", filepath.Join(etc, "private", "pgp-key.asc")); code != 0 {
		t.Fatal(stderr)
	}
	googleKey := filepath.Join(tmp, "google.asc")
	if code, _, stderr := e2eRun(t, 60*time.Second, nil, "keys", "generate", "--scheme", "pgp", "--name", "google", "--out", googleKey); code != 0 {
		t.Fatal(stderr)
	}
	code, googlePub, stderr := e2eRun(t, 30*time.Second, nil, "keys", "export-public", "--scheme", "pgp", "--key", googleKey)
	if code != 0 {
		t.Fatal(stderr)
	}
	writeFile(t, etc, "google.pub.asc", googlePub)
	listen := e2eFreeAddr(t)
	writeFile(t, etc, "otpgate.json", `{"listen": "`+listen+`", "admin-listen": "off",
		"pgp-google-key": ["`+filepath.Join(etc, "google.pub.asc")+`"], "sms-file": "`+filepath.Join(state, "sms.jsonl")+`"}`)

	expand := func(s string) string {
		s = strings.ReplaceAll(s, "%S", state)
		s = strings.ReplaceAll(s, "%d", creds)
		return strings.ReplaceAll(s, "/etc/otpgate", etc)
	}
	var env []string
	var pre, start []string
	sc := bufio.NewScanner(strings.NewReader(string(unit)))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.HasPrefix(key, "#") {
			continue
		}
		value = expand(value)
		switch key {
		case "Environment":
			env = append(env, value)
		case "LoadCredential":
			name, src, _ := strings.Cut(value, ":")
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatalf("LoadCredential=%s: %v", value, err)
			}
			if err := os.WriteFile(filepath.Join(creds, name), b, 0o400); err != nil {
				t.Fatal(err)
			}
		case "ExecStartPre":
			pre = strings.Fields(value)
		case "ExecStart":
			start = strings.Fields(value)
		}
	}
	if len(pre) == 0 || len(start) == 0 {
		t.Fatal("the unit has no ExecStartPre= or ExecStart=")
	}
	code, stdout, stderr := e2eRun(t, 60*time.Second, env, pre[1:]...)
	if code != 0 || !strings.Contains(stdout, "configuration OK") {
		t.Fatalf("ExecStartPre (%s): exit %d\nstdout: %s\nstderr: %s", strings.Join(pre[1:], " "), code, stdout, stderr)
	}
	p := e2eStart(t, env, start[1:]...)
	p.url = "http://" + listen
	if err := p.waitHealthy(30 * time.Second); err != nil {
		t.Fatalf("ExecStart (%s): %v\nstderr: %s", strings.Join(start[1:], " "), err, p.stderr)
	}
	if !fileExists(filepath.Join(state, "otpgate", databaseFile)) {
		t.Errorf("the database is not in the StateDirectory (%s)", filepath.Join(state, "otpgate"))
	}
	p.signal(syscall.SIGTERM)
	if code, ok := p.wait(30 * time.Second); !ok || code != 0 {
		t.Errorf("otpgate did not stop cleanly on SIGTERM (exit %d, stopped %v)\nstderr: %s", code, ok, p.stderr)
	}
}
