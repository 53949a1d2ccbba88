package main

import (
	"path/filepath"
	"testing"
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
