package main

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestReleaseReproducible runs scripts/release.sh twice for this machine's
// linux target (one target keeps it short; the script builds both in a
// release) into two directories: the two binaries are byte for byte the
// same, SHA256SUMS names them with their real digest, the binary is static
// (it runs with no loader), and `otpgate version` prints what the script
// stamped: the version given, the commit and the date of SOURCE_DATE_EPOCH.
//
// The second build reuses what the first compiled (Go's build cache), so
// the comparison shows that linking and stamping add nothing of the build;
// that the compiled packages carry nothing of this machine is shown by the
// check that the binary holds no path of the tree (-trimpath). Compiling
// everything with -trimpath once costs about 90 s of CPU in a cold cache.
func TestReleaseReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds otpgate with -trimpath, all of it in a cold build cache (a minute or more): not with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the release targets are linux binaries")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash runs the release script:", err)
	}
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	const version = "v9.8.7-test.1"
	const epoch, wantDate = "1700000000", "2023-11-14T22:13:20Z"
	target := "linux/" + runtime.GOARCH
	name := "otpgate-" + version + "-linux-" + runtime.GOARCH
	// The commit the script stamps (read first: a commit made while the
	// test builds would change what both builds see).
	wantCommit := "unknown"
	if head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); err == nil {
		wantCommit = strings.TrimSpace(string(head))
	}
	var bins [][]byte
	var dirs []string
	for i := range 2 {
		dir := filepath.Join(t.TempDir(), "dist")
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "release.sh"), "--out", dir, "--target", target, version)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+epoch)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("release.sh, build %d: %v\n%s", i+1, err, out)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("release.sh, build %d: %v\n%s", i+1, err, out)
		}
		bins = append(bins, b)
		dirs = append(dirs, dir)
	}
	if !bytes.Equal(bins[0], bins[1]) {
		t.Errorf("two builds of one tree differ: %d and %d bytes", len(bins[0]), len(bins[1]))
	}
	sums, err := os.ReadFile(filepath.Join(dirs[0], "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bins[0])
	if want := hex.EncodeToString(sum[:]) + "  " + name + "\n"; string(sums) != want {
		t.Errorf("SHA256SUMS is\n%s\nwant\n%s", sums, want)
	}
	if bytes.Contains(bins[0], []byte(root)) {
		t.Errorf("the binary holds the path of the tree it was built in (%s): not -trimpath", root)
	}

	out, err := exec.Command(filepath.Join(dirs[0], name), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", name, err, out)
	}
	for _, want := range []string{"otpgate " + version + "\n", "commit  " + wantCommit + "\n", "built   " + wantDate + "\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%s version printed\n%s\nwant a line %q", name, out, strings.TrimSpace(want))
		}
	}
	// Static: no ELF interpreter, so it runs on a machine without glibc.
	f, err := elf.NewFile(bytes.NewReader(bins[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader (PT_INTERP): not static (CGO_ENABLED=0)")
		}
	}
}
