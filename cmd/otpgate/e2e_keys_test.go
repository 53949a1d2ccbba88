package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope/pgp"
)

// TestE2EProtectedServe makes keys with `otpgate keys`, serves with them and
// talks to the server as Google: a sealed echo is answered sealed, plaintext
// is refused, and a server without keys or with a private key readable by
// others does not start.
func TestE2EProtectedServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	run := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := e2eRun(t, 30*time.Second, nil, args...)
		if code != 0 {
			t.Fatalf("otpgate %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
		return stdout
	}
	run("keys", "generate", "--scheme", "pgp", "--bits", "2048", "--out", path("ours.asc"))
	run("keys", "generate", "--scheme", "pgp", "--bits", "2048", "--name", "google", "--out", path("google.asc"))
	writeFile(t, dir, "google.pub.asc", run("keys", "export-public", "--scheme", "pgp", "--key", path("google.asc")))
	writeFile(t, dir, "ours.pub.asc", run("keys", "export-public", "--scheme", "pgp", "--key", path("ours.asc")))
	run("keys", "import", "--scheme", "pgp", "--out", path("google-imported.asc"), path("google.pub.asc"))
	if info, err := os.Stat(path("ours.asc")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v, mode %v", err, info.Mode())
	}
	if list := run("keys", "list", "--scheme", "pgp", "--key", path("ours.asc"), "--google-key", path("google-imported.asc")); strings.Count(list, "active") < 4 {
		t.Errorf("keys list shows fewer than four active keys:\n%s", list)
	}
	if code, _, stderr := e2eRun(t, 30*time.Second, nil, "keys", "import", "--scheme", "pgp", "--out", path("x.asc"), path("ours.asc")); code == 0 || !strings.Contains(stderr, "secret") {
		t.Errorf("importing a private key as Google's was not refused: %d %s", code, stderr)
	}

	// Google's side: its private key, our public one.
	googleKeys, ourPublic, err := pgp.LoadKeys([]string{path("google.asc")}, []string{path("ours.pub.asc")})
	if err != nil {
		t.Fatal(err)
	}
	google, err := pgp.New(googleKeys, ourPublic, pgp.Options{})
	if err != nil {
		t.Fatal(err)
	}

	p := e2eServe(t, nil, "--data-dir", path("data"), "--sms-file", path("sms.jsonl"),
		"--pgp-key", path("ours.asc"), "--pgp-google-key", path("google-imported.asc"))
	body, _ := json.Marshal(map[string]any{"requestHeader": e2eHeader("echo-1"), "clientMessage": "hello"})
	sealed, err := google.Seal(body)
	if err != nil {
		t.Fatal(err)
	}
	status, answer := rawPost(t, p.url+"/v1/echo", pgp.ContentType, sealed)
	if status != 200 {
		t.Fatalf("sealed echo: %d", status)
	}
	opened, err := google.Open(answer)
	if err != nil {
		t.Fatalf("Google cannot open the answer: %v", err)
	}
	if !bytes.Contains(opened, []byte(`"clientMessage":"hello"`)) {
		t.Errorf("answer %s", opened)
	}
	if status, _ := rawPost(t, p.url+"/v1/echo", "application/json", body); status != http.StatusBadRequest {
		t.Errorf("a plaintext body to a protected server: %d, want 400", status)
	}

	code, _, stderr := e2eRun(t, 30*time.Second, nil, "serve", "--data-dir", path("data2"), "--sms-file", path("sms2.jsonl"),
		"--pgp-key", path("ours.asc"))
	if code == 0 || !strings.Contains(stderr, "pgp") {
		t.Errorf("serve without Google's key: exit %d\n%s", code, stderr)
	}
	if err := os.Chmod(path("ours.asc"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = e2eRun(t, 30*time.Second, nil, "serve", "--data-dir", path("data2"), "--sms-file", path("sms2.jsonl"),
		"--pgp-key", path("ours.asc"), "--pgp-google-key", path("google-imported.asc"))
	if code == 0 || !strings.Contains(stderr, "chmod 600") {
		t.Errorf("serve with a world-readable private key: exit %d\n%s", code, stderr)
	}
	if strings.Contains(p.stderr.String(), "PRIVATE KEY") || strings.Contains(stderr, "PRIVATE KEY") {
		t.Error("a private key was printed")
	}
}

func rawPost(t *testing.T, url, contentType string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := e2eClient.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
