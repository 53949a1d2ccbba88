package main

import (
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/otp"
)

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1 << 20, "100MiB": 100 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30,
		"100MB": 100e6, "2 GB": 2e9, "10B": 10,
	} {
		var b byteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || int64(b) != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1TB", "MiB", "1.5MiB", "99999999999GiB"} {
		var b byteSize
		if err := b.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q accepted as %d", in, b)
		}
	}
}

func TestAuditLogPath(t *testing.T) {
	for flag, want := range map[string]string{
		"":            filepath.Join("data", auditFileName),
		"off":         "",
		"-":           "-",
		"/var/a.json": "/var/a.json",
	} {
		f := auditFlags{AuditLog: flag}
		if got := f.path("data"); got != want {
			t.Errorf("--audit-log %q: %q, want %q", flag, got, want)
		}
	}
}

// trailIn is an audit trail writing to a file in dir.
func trailIn(t *testing.T, dir string) (*auditTrail, string) {
	t.Helper()
	c := &serveCmd{}
	c.DataDir = dir
	trail, err := c.openAudit(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return trail, filepath.Join(dir, auditFileName)
}

func auditEvents(t *testing.T, path string) []string {
	t.Helper()
	var events []string
	for _, l := range readAudit(t, path) {
		events = append(events, l.Event)
	}
	return events
}

// The secrets' ids go on the trail at start, and a secret's activation when
// it comes; never a secret.
func TestAuditOfSecrets(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	old, _ := newSecret("old-1", now)
	soon, _ := newSecret("soon-2", now)
	soon.ActiveFrom = now.Add(1500 * time.Millisecond).Truncate(time.Second) // the file keeps whole seconds
	codeFile := filepath.Join(dir, "code-secret")
	for _, s := range []otp.Secret{old, soon} {
		if err := appendSecret(codeFile, s); err != nil {
			t.Fatal(err)
		}
	}
	trail, path := trailIn(t, dir)
	c := &serveCmd{CodeSecretFile: codeFile}
	c.DataDir = dir // the card secret is generated there
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := trail.secretsLoaded(ctx, c); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(auditEvents(t, path), "secret.activated") {
		if time.Now().After(deadline) {
			t.Fatalf("no secret.activated record: %v", auditEvents(t, path))
		}
		time.Sleep(20 * time.Millisecond)
	}
	trail.close()
	b, _ := os.ReadFile(path)
	text := string(b)
	for _, want := range []string{`"ids":["soon-2","old-1"],"purpose":"code","writer":"old-1"`, `"purpose":"card"`,
		`"event":"secret.activated"`, `"id":"soon-2"`, `"writer":"soon-2"`} {
		if !strings.Contains(text, want) {
			t.Errorf("the trail lacks %s:\n%s", want, text)
		}
	}
	for _, s := range []otp.Secret{old, soon} {
		if strings.Contains(text, hex.EncodeToString(s.Key)) {
			t.Errorf("the trail holds secret %s", s.ID)
		}
	}
}

func TestAuditOfKeysExpiring(t *testing.T) {
	dir := t.TempDir()
	trail, path := trailIn(t, dir)
	expires := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	trail.watchKeys(context.Background(), func() []envelope.KeyInfo {
		return []envelope.KeyInfo{
			{Scheme: "pgp", Owner: "ours", ID: "FINGERPRINT1", Usage: "sign", Expires: expires, Active: true, ExpiringSoon: true},
			{Scheme: "pgp", Owner: "google", ID: "FINGERPRINT2", Usage: "encrypt", Active: true},
		}
	})
	trail.close()
	lines := readAudit(t, path)
	var expiring []auditLine
	for _, l := range lines {
		if l.Event == "key.expiring" {
			expiring = append(expiring, l)
		}
	}
	if len(expiring) != 1 || expiring[0].Fields["id"] != "FINGERPRINT1" || expiring[0].Fields["expires"] != "2026-12-01T00:00:00Z" {
		t.Fatalf("key.expiring records %+v", expiring)
	}
}

// otpgate_audit_records_total counts every record in the file, the
// audit.opened ones written at the start and at each rotation included.
func TestAuditRecordsMetricCountsEveryRecord(t *testing.T) {
	dir := t.TempDir()
	trail, path := trailIn(t, dir)
	reg := prometheus.NewRegistry()
	reg.MustRegister(trail.written)
	for range 9 {
		trail.record("test.event", audit.Fields{"n": 1})
	}
	if err := trail.log.Rotate(audit.ReasonSignal); err != nil {
		t.Fatal(err)
	}
	trail.record("test.event", nil)
	trail.close()
	records := 0
	for _, f := range append(rotatedAuditFiles(t, path), path) {
		records += len(readAudit(t, f))
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got float64 = -1
	for _, mf := range families {
		if mf.GetName() == "otpgate_audit_records_total" {
			got = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if records != 1+9+1+1 || got != float64(records) {
		t.Fatalf("otpgate_audit_records_total %v; the files hold %d records", got, records)
	}
}

func rotatedAuditFiles(t *testing.T, path string) []string {
	t.Helper()
	files, err := filepath.Glob(path + ".*")
	if err != nil || len(files) != 1 {
		t.Fatalf("rotated files %v, %v", files, err)
	}
	return files
}
