package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/audit"
)

// TestE2ECheckAuditLog: `otpgate doctor` (and serve --check) looks at the
// audit log as serve opens it: an audit log serve cannot open, or whose last
// line is not a record, is a FAIL with the reason serve then stops with; a
// good one is ok with the record its chain resumes from.
func TestE2ECheckAuditLog(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	base := []string{"--insecure-plaintext", "--data-dir", filepath.Join(tmp, "data"), "--sms-file", filepath.Join(tmp, "sms.jsonl")}
	doctor := func(args ...string) []string { return append(append([]string{"doctor"}, base...), args...) }

	// Each failure, as doctor reports it and as serve then stops with it.
	missingDir := filepath.Join(tmp, "no-such-dir", "audit.jsonl")
	notRecord := filepath.Join(tmp, "not-a-record.jsonl")
	if err := os.WriteFile(notRecord, []byte("an operator's note\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, reason string }{
		{missingDir, "audit: open " + missingDir + ": no such file or directory"},
		{notRecord, "audit: " + notRecord + ": its last line is not an audit record"},
	} {
		checkCase{name: "doctor, " + tc.reason, args: doctor("--audit-log", tc.file), code: 1,
			want: []string{"FAIL audit --audit-log: " + tc.reason}}.run(t)
		serve := append([]string{"serve"}, base...)
		code, _, stderr := e2eRun(t, 30*time.Second, nil, append(serve, "--listen", "127.0.0.1:0", "--admin-listen", "off", "--audit-log", tc.file)...)
		if code == 0 || !strings.Contains(stderr, "otpgate: --audit-log: "+tc.reason) {
			t.Errorf("serve with --audit-log %s: exit %d; doctor's reason %q not in\n%s", tc.file, code, tc.reason, stderr)
		}
	}
	if fileExists(missingDir) || fileExists(filepath.Join(tmp, "data")) {
		t.Error("the check created the audit log or the data directory")
	}

	// A good log: ok, and where serve resumes.
	good := filepath.Join(tmp, "good.jsonl")
	l, err := audit.Open(good, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append("test.event", nil); err != nil {
		t.Fatal(err)
	}
	seq, head := l.Head()
	l.Close()
	before, _ := os.ReadFile(good)
	checkCase{name: "doctor, a good audit log", args: doctor("--audit-log", good), code: 0,
		want: []string{"ok audit " + good + ": writable, not in use; serve resumes the chain after seq 2 (head " + head + ")"}}.run(t)
	if seq != 2 {
		t.Fatalf("seq %d", seq)
	}
	if after, _ := os.ReadFile(good); string(after) != string(before) {
		t.Error("doctor wrote to the audit log")
	}
	checkCase{name: "doctor, a new audit log", args: doctor(), code: 0,
		want: []string{"ok audit " + filepath.Join(tmp, "data", auditFileName) + " does not exist yet"}}.run(t)
}

// TestE2EAuditLogInUse: two processes never share one audit file. A second
// serve with the same data directory stops at start, naming the file;
// doctor reports the file in use; once the first has stopped, both pass
// and the chain verifies.
func TestE2EAuditLogInUse(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	args := []string{"--dev", "--data-dir", dataDir}
	auditFile := filepath.Join(dataDir, auditFileName)
	first := e2eServe(t, nil, args...)

	code, _, stderr := e2eRun(t, 30*time.Second, nil, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	if code == 0 || !strings.Contains(stderr, auditFile+" is in use by another process") || !strings.Contains(stderr, "another otpgate") {
		t.Fatalf("a second serve on one audit log: exit %d\n%s", code, stderr)
	}
	checkCase{name: "doctor while serve runs", args: append([]string{"doctor"}, args...), code: 1,
		want: []string{"FAIL audit --audit-log: audit: " + auditFile + " is in use by another process"}}.run(t)

	first.signal(syscall.SIGTERM)
	if code, ok := first.wait(30 * time.Second); !ok || code != 0 {
		t.Fatalf("serve did not stop cleanly: exit %d, %v\n%s", code, ok, first.stderr)
	}
	checkCase{name: "doctor once serve has stopped", args: append([]string{"doctor"}, args...), code: 0,
		want: []string{"ok audit " + auditFile + ": writable, not in use; serve resumes the chain after seq"}}.run(t)
	second := e2eServe(t, nil, args...)
	second.signal(syscall.SIGTERM)
	second.wait(30 * time.Second)
	if code, stdout, stderr := e2eRun(t, 30*time.Second, nil, "audit", "verify", auditFile); code != 0 {
		t.Fatalf("audit verify after two runs: exit %d\n%s%s", code, stdout, stderr)
	}
}
