package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestBuildInfoFallback: without stamped values, version, commit and date
// come from the build information that go build and go install record; a
// stamped value always wins.
func TestBuildInfoFallback(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v0.2.1-0.20261128095934-cf055769abfb"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "cf055769abfb4b38da634a1d80396bf82c986677"},
		{Key: "vcs.time", Value: "2026-11-28T10:59:34+01:00"},
		{Key: "vcs.modified", Value: "true"},
	}}
	got := buildInfo{}.fill(bi)
	want := buildInfo{Version: "v0.2.1-0.20261128095934-cf055769abfb", Commit: "cf055769abfb4b38da634a1d80396bf82c986677",
		Date: "2026-11-28T09:59:34Z", Modified: true}
	if got != want {
		t.Errorf("from build information: %+v, want %+v", got, want)
	}
	stamped := buildInfo{Version: "v1.0.0", Commit: "abc", Date: "2026-01-01T00:00:00Z"}.fill(bi)
	if stamped.Version != "v1.0.0" || stamped.Commit != "abc" || stamped.Date != "2026-01-01T00:00:00Z" {
		t.Errorf("stamped values replaced by build information: %+v", stamped)
	}
	var b strings.Builder
	got.write(&b)
	if !strings.Contains(b.String(), "commit  cf055769abfb4b38da634a1d80396bf82c986677 (with uncommitted changes)\n") {
		t.Errorf("version output:\n%s", b.String())
	}
}
