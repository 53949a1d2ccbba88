package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// Stamped by scripts/release.sh with -ldflags "-X main.version=… -X
// main.commit=… -X main.date=…". Empty in a plain go build or go install:
// then the toolchain's build information says what it knows.
var (
	version = ""
	commit  = ""
	date    = "" // RFC 3339, UTC: the commit's time, so that builds are reproducible
)

// buildInfo is what `otpgate version` prints and serve logs at start.
type buildInfo struct {
	Version  string // v1.2.3, a pseudo-version, or (devel)
	Commit   string // the full revision, or "unknown"
	Date     string // the commit's time, RFC 3339 UTC, or "unknown"
	Modified bool   // built from a tree with uncommitted changes (build information only)
	Go       string // toolchain, GOOS/GOARCH
}

// currentBuild reads the stamped values, falling back to what the Go
// toolchain records in every binary: the module's version (a tag, or a
// pseudo-version, with go install …@version and in a clone since Go 1.24)
// and, for a build inside a git checkout, vcs.revision and vcs.time.
func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date,
		Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b = b.fill(bi)
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

// fill completes b with the toolchain's build information, never replacing
// a stamped value.
func (b buildInfo) fill(bi *debug.BuildInfo) buildInfo {
	if b.Version == "" && bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.Commit == "" {
				b.Commit = s.Value
			}
		case "vcs.time":
			if b.Date == "" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					b.Date = t.UTC().Format(time.RFC3339)
				}
			}
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// versionString is the version alone, for the start-up log.
func versionString() string { return currentBuild().Version }

func (b buildInfo) write(w io.Writer) {
	fmt.Fprintln(w, "otpgate", b.Version)
	commit := b.Commit
	if b.Modified {
		commit += " (with uncommitted changes)"
	}
	fmt.Fprintln(w, "commit ", commit)
	fmt.Fprintln(w, "built  ", b.Date)
	fmt.Fprintln(w, "go     ", b.Go)
}

type versionCmd struct{}

func (versionCmd) Run() error {
	currentBuild().write(os.Stdout)
	return nil
}
