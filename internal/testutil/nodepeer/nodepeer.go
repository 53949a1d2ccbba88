// Package nodepeer installs the node programs that play independent protocol
// peers in interoperability tests (panva/jose for JOSE, farhadi/node-smpp for
// SMPP): implementations that share no code with ours, pinned by a
// package-lock.json beside the test's script.
//
// `npm ci` installs a peer once into $TMPDIR/otpgate-NAME-interop-<hash of
// package.json and lockfile>, which later runs and other packages' tests
// reuse; that first run needs the npm registry.
package nodepeer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// manifests are the files that pin a peer's dependencies.
var manifests = []string{"package.json", "package-lock.json"}

// Install returns node and the node_modules directory of the dependencies
// that dir's manifests pin. name names the install directory; probe is a
// package that a complete install holds (node_modules/PROBE/package.json).
func Install(dir, name, probe string) (node, modules string, err error) {
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", fmt.Errorf("node is not installed: %w", err)
	}
	h := sha256.New()
	var contents [][]byte
	for _, m := range manifests {
		b, err := os.ReadFile(filepath.Join(dir, m))
		if err != nil {
			return "", "", err
		}
		h.Write(b)
		contents = append(contents, b)
	}
	target := filepath.Join(os.TempDir(), "otpgate-"+name+"-interop-"+hex.EncodeToString(h.Sum(nil))[:16])
	installed := func() bool {
		_, err := os.Stat(filepath.Join(target, "node_modules", probe, "package.json"))
		return err == nil
	}
	if installed() {
		return node, filepath.Join(target, "node_modules"), nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", "", fmt.Errorf("npm is not installed: %w", err)
	}
	// Install beside, then rename into place: a concurrent run sees either
	// nothing or a complete install.
	tmp, err := os.MkdirTemp(os.TempDir(), "otpgate-"+name+"-interop-install-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	for i, m := range manifests {
		if err := os.WriteFile(filepath.Join(tmp, m), contents[i], 0o644); err != nil {
			return "", "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("npm ci in %s: %v\n%s", tmp, err, out)
	}
	if err := os.Rename(tmp, target); err != nil && !installed() {
		return "", "", err
	}
	return node, filepath.Join(target, "node_modules"), nil
}

var (
	mu    sync.Mutex
	cache = map[string]result{}
)

type result struct {
	node, modules string
	err           error
}

// Require is Install for a test, once per process and peer. Without node or
// npm, or when the install fails, it skips the test with a loud message,
// except when CI is true: there it fails, so that CI never passes without
// having checked interoperability. what names the test in that message.
func Require(t testing.TB, what, dir, name, probe string) (node, modules string) {
	t.Helper()
	mu.Lock()
	r, ok := cache[dir]
	if !ok {
		r.node, r.modules, r.err = Install(dir, name, probe)
		cache[dir] = r
	}
	mu.Unlock()
	if r.err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("the %s must run in CI (CI=true), but: %v", what, r.err)
		}
		t.Skipf("\n!!!!!!!!\n!!! SKIPPING the %s: %v\n"+
			"!!! It needs node and npm, and the npm registry on its first run. With CI=true this is a failure.\n!!!!!!!!", what, r.err)
	}
	return r.node, r.modules
}
