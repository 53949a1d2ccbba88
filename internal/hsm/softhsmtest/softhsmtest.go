// Package softhsmtest gives tests a real PKCS#11 token: SoftHSM2 (Debian
// package softhsm2), with its own configuration and token directory under
// the system's temporary directory, so that tests never touch the
// machine's tokens.
//
// SoftHSM reads its configuration (SOFTHSM2_CONF) once, when the module is
// initialised, and a process initialises a module once; so every token of a
// test process lives in one directory, made on first use. A package whose
// tests use tokens calls Cleanup from its TestMain; a test process that ends
// without it (killed, or a test that exits) leaves that directory behind,
// and the next one removes directories of processes that no longer run.
package softhsmtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Modules are where Debian and others install SoftHSM2's PKCS#11 module.
var Modules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// PIN is the user PIN of every test token.
const PIN = "246810"

// Token is one initialised, empty token.
type Token struct {
	Module string // the PKCS#11 module's path
	Label  string // the token label, for token= in a pkcs11: URI
	Conf   string // the SOFTHSM2_CONF another process needs to see it
	PIN    string
}

// Env is the environment a child otpgate needs to reach the token: the
// SoftHSM configuration, the module and the PIN.
func (tk *Token) Env() []string {
	return []string{"SOFTHSM2_CONF=" + tk.Conf, "OTPGATE_PKCS11_MODULE=" + tk.Module, "OTPGATE_PKCS11_PIN=" + tk.PIN}
}

// Getenv is Env as a lookup function, for hsm.NewTokens.
func (tk *Token) Getenv(name string) string {
	for _, kv := range tk.Env() {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v
		}
	}
	return os.Getenv(name)
}

var (
	setupOnce sync.Once
	setupErr  error
	conf      string
	tokenDir  string
)

// New initialises a new token labelled label, for one test. Without
// SoftHSM2 the test is skipped, or fails when CI is set: CI must prove the
// HSM path.
func New(t testing.TB, label string) *Token {
	t.Helper()
	Require(t)
	tk, err := Init(label)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// Require skips the test when SoftHSM2 is missing, or fails it when CI is
// set.
func Require(t testing.TB) {
	t.Helper()
	if module() == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SoftHSM2 is not installed (module or softhsm2-util missing): .ci/run installs the softhsm2 package")
		}
		t.Skip("SoftHSM2 not installed (apt-get install softhsm2)")
	}
}

// Init initialises a new token labelled label, for tests that share one
// (call Require first).
func Init(label string) (*Token, error) {
	m := module()
	if m == "" {
		return nil, errors.New("softhsm: SoftHSM2 is not installed")
	}
	setupOnce.Do(setup)
	if setupErr != nil {
		return nil, fmt.Errorf("softhsm: %w", setupErr)
	}
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "13579111")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return &Token{Module: m, Label: label, Conf: conf, PIN: PIN}, nil
}

// module is the installed SoftHSM2 module, "" when it or softhsm2-util is
// missing.
func module() string {
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return ""
	}
	for _, m := range Modules {
		if _, err := os.Stat(m); err == nil {
			return m
		}
	}
	return ""
}

// setup makes the process's token directory and configuration, points
// SOFTHSM2_CONF of this process at it, and removes what dead test
// processes left.
func setup() {
	base := os.TempDir()
	stale, _ := filepath.Glob(filepath.Join(base, "otpgate-softhsm-*"))
	for _, dir := range stale {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "otpgate-softhsm-"))
		if err == nil && !alive(pid) {
			os.RemoveAll(dir)
		}
	}
	dir := filepath.Join(base, fmt.Sprintf("otpgate-softhsm-%d", os.Getpid()))
	tokenDir = filepath.Join(dir, "tokens")
	if setupErr = os.MkdirAll(tokenDir, 0o700); setupErr != nil {
		return
	}
	conf = filepath.Join(dir, "softhsm2.conf")
	setupErr = os.WriteFile(conf, []byte("directories.tokendir = "+tokenDir+"\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"), 0o600)
	if setupErr == nil {
		setupErr = os.Setenv("SOFTHSM2_CONF", conf)
	}
}

// Cleanup removes this process's token directory, if it made one. Call it
// from TestMain once m.Run has returned: the tokens in it are gone after.
func Cleanup() {
	if tokenDir != "" {
		os.RemoveAll(filepath.Dir(tokenDir))
	}
}

func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}
