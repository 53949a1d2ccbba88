package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestE2EServeCheck: `serve --check` says OK and exits 0 for a good
// configuration, touching nothing; for a bad one it lists every problem,
// a DLT mismatch and a route to an unknown provider among them, and exits 1.
func TestE2EServeCheck(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	smsFile := filepath.Join(tmp, "sms.jsonl")
	good := writeFile(t, tmp, "good.json", `{"sms": {
		"providers": [{"name": "smpp-1", "type": "smpp", "addr": "127.0.0.1:1", "systemId": "x", "passwordEnv": "E2E_SMPP_PASSWORD"},
		              {"name": "file", "type": "file", "path": "`+smsFile+`"}],
		"routes": {"+91": ["smpp-1", "file"], "default": ["file"]},
		"templates": {"legacy": {"text": `+strconv.Quote(xyzLegacyText)+`, "entityId": "`+xyzEntityID+`",
		                         "templateId": "`+xyzLegacyTID+`", "header": "XYZBNK", "dltTemplate": `+strconv.Quote(xyzLegacyDLT)+`},
		              "card": {"text": `+strconv.Quote(xyzCardText)+`, "entityId": "`+xyzEntityID+`",
		                       "templateId": "`+xyzCardTID+`", "header": "XYZBNK", "dltTemplate": `+strconv.Quote(xyzCardDLT)+`}}}}`)
	env := []string{"E2E_SMPP_PASSWORD=secret"}
	code, stdout, stderr := e2eRun(t, 30*time.Second, env, "serve", "--check", "--insecure-plaintext", "--data-dir", dataDir, "--config", good)
	if code != 0 || !strings.Contains(stdout, "configuration OK") || !strings.Contains(stdout, "SMS route +91: smpp-1, file") {
		t.Fatalf("--check of a good configuration: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if fileExists(dataDir) || fileExists(smsFile) {
		t.Error("--check created the data directory or the SMS file")
	}

	bad := writeFile(t, tmp, "bad.json", `{"sms": {
		"providers": [{"name": "file", "type": "file", "path": "`+smsFile+`"}],
		"routes": {"+91": ["smpp-1", "file"]},
		"templates": {"legacy": {"text": "{code} is your code.", "entityId": "`+xyzEntityID+`",
		                         "templateId": "`+xyzLegacyTID+`", "dltTemplate": `+strconv.Quote(xyzLegacyDLT)+`}}}}`)
	code, stdout, stderr = e2eRun(t, 30*time.Second, env, "serve", "--check", "--insecure-plaintext", "--data-dir", dataDir,
		"--config", bad, "--code-length", "4")
	if code != 1 {
		t.Fatalf("--check of a bad configuration: exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"does not match its DLT template", "--code-length 4"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--check does not report %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stdout, "OK") {
		t.Errorf("--check of a bad configuration printed %q", stdout)
	}

	// The route is checked once the templates are right.
	bad = writeFile(t, tmp, "bad-route.json", `{"sms": {
		"providers": [{"name": "file", "type": "file", "path": "`+smsFile+`"}],
		"routes": {"+91": ["smpp-1", "file"]}}}`)
	code, _, stderr = e2eRun(t, 30*time.Second, env, "serve", "--check", "--insecure-plaintext", "--config", bad)
	if code != 1 || !strings.Contains(stderr, `route +91 names provider "smpp-1", which is not configured`) {
		t.Errorf("--check of a route to an unknown provider: exit %d\nstderr: %s", code, stderr)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
