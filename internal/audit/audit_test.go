package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a fake clock that moves a millisecond per reading, so that
// rotated names differ.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)} }

func open(t *testing.T, path string, o Options) *Log {
	t.Helper()
	if o.Now == nil {
		o.Now = newClock().now
	}
	l, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := range n {
		if err := l.Append("test.event", Fields{"i": i, "account": fmt.Sprintf("acct-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// writeLog makes a log of the opening record and n more, closed.
func writeLog(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l := open(t, path, Options{})
	appendN(t, l, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustVerify(t *testing.T, o VerifyOptions, files ...string) Report {
	t.Helper()
	rep, err := Verify(files, o)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func mustBreak(t *testing.T, err error) *Break {
	t.Helper()
	var b *Break
	if !errors.As(err, &b) {
		t.Fatalf("want a broken chain, got %v", err)
	}
	return b
}

func TestChainVerifies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l := open(t, path, Options{Sync: true})
	appendN(t, l, 9)
	seq, head := l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, VerifyOptions{Anchor: head}, path)
	if rep.Records != 10 || rep.First != 1 || rep.Last != 10 || seq != 10 || rep.Head != head {
		t.Fatalf("report %+v, head seq %d %s", rep, seq, head)
	}
	lines := readLines(t, path)
	if !strings.Contains(lines[0], `"event":"audit.opened"`) || !strings.Contains(lines[0], `"prev":""`) {
		t.Fatalf("first record: %s", lines[0])
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", info.Mode().Perm())
	}
}

// Each kind of tampering is found at the record it touched.
func TestTamperingIsFoundWhereItIs(t *testing.T) {
	cases := []struct {
		name     string
		tamper   func([]string) []string
		anchored bool // verify with the head of the untouched log
		kind     string
		line     int
		seq      uint64
	}{
		{"edit a field", func(l []string) []string {
			l[4] = strings.Replace(l[4], "acct-3", "acct-X", 1)
			return l
		}, false, Edited, 5, 5},
		{"edit a seq", func(l []string) []string {
			l[4] = strings.Replace(l[4], `"seq":5`, `"seq":7`, 1)
			return l
		}, false, Edited, 5, 7},
		{"delete a line", func(l []string) []string {
			return append(l[:4:4], l[5:]...)
		}, false, Deleted, 5, 6},
		{"swap two lines", func(l []string) []string {
			l[4], l[5] = l[5], l[4]
			return l
		}, false, Reordered, 5, 6},
		{"replace a line with garbage", func(l []string) []string {
			l[4] = "{\"oops\n"
			return l
		}, false, Edited, 5, 0},
		{"truncate in the middle of a record", func(l []string) []string {
			last := len(l) - 2 // SplitAfter leaves "" after the last newline
			l[last] = l[last][:20]
			return l[:last+1]
		}, false, Truncated, 11, 0},
		{"truncate whole records at the end", func(l []string) []string {
			return l[:8]
		}, true, Deleted, 8, 8},
		{"edit the last record", func(l []string) []string {
			last := len(l) - 2
			l[last] = strings.Replace(l[last], "acct-9", "acct-Y", 1)
			return l
		}, true, Deleted, 11, 11},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeLog(t, 10)
			intact := mustVerify(t, VerifyOptions{}, path)
			writeLines(t, path, c.tamper(readLines(t, path)))
			o := VerifyOptions{}
			if c.anchored {
				o.Anchor = intact.Head
			}
			_, err := Verify([]string{path}, o)
			b := mustBreak(t, err)
			if b.Kind != c.kind || b.At.Line != c.line || b.At.Seq != c.seq || b.At.File != path {
				t.Fatalf("got %v (kind %s line %d seq %d), want %s at line %d seq %d", b, b.Kind, b.At.Line, b.At.Seq, c.kind, c.line, c.seq)
			}
		})
	}
}

func rotatedFiles(t *testing.T, path string) []string {
	t.Helper()
	matches, err := filepath.Glob(path + ".*")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(matches)
	return matches
}

func TestRotationBySizeKeepsTheChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	const max = 2000
	l := open(t, path, Options{MaxSize: max, Sync: true})
	appendN(t, l, 60)
	_, head := l.Head()
	l.Close()
	rotated := rotatedFiles(t, path)
	if len(rotated) < 3 {
		t.Fatalf("%d rotated files, want several", len(rotated))
	}
	files := append(rotated, path)
	rep := mustVerify(t, VerifyOptions{Anchor: head}, files...)
	if rep.Records != 61+len(rotated) {
		t.Fatalf("%d records, want %d", rep.Records, 61+len(rotated))
	}
	for i, f := range files {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > max {
			t.Fatalf("%s has %d bytes, over %d", f, info.Size(), max)
		}
		if i == 0 {
			continue
		}
		first := readLines(t, f)[0]
		want := fmt.Sprintf(`"previousFile":%q`, filepath.Base(files[i-1]))
		if !strings.Contains(first, want) || !strings.Contains(first, `"reason":"size"`) {
			t.Fatalf("%s starts with %s, want it to name %s", f, first, files[i-1])
		}
	}

	// Out of order, or with a file missing, the chain breaks where the
	// files meet.
	swapped := append([]string{files[1], files[0]}, files[2:]...)
	if b := mustBreak(t, second(Verify(swapped, VerifyOptions{}))); b.At.File != files[1] {
		t.Fatalf("swapped files: %v", b)
	}
	missing := append([]string{files[0]}, files[2:]...)
	b := mustBreak(t, second(Verify(missing, VerifyOptions{})))
	if b.At.File != files[2] || b.At.Line != 1 {
		t.Fatalf("a missing file: %v", b)
	}
	// The newest files alone verify only when said to continue a chain.
	mustBreak(t, second(Verify(files[1:], VerifyOptions{})))
	mustVerify(t, VerifyOptions{Continued: true}, files[1:]...)
}

func second[T any](_ T, err error) error { return err }

func TestRotateOnRequestAndAfterAnExternalMove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	l := open(t, path, Options{})
	appendN(t, l, 3)
	if err := l.Rotate(ReasonSignal); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3)
	// logrotate's way: move the file, then signal.
	moved := filepath.Join(dir, "audit.jsonl.moved-by-logrotate")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	if err := l.Rotate(ReasonSignal); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 2)
	l.Close()
	rotated := rotatedFiles(t, path) // the ours, then the moved one
	if len(rotated) != 2 || rotated[1] != moved {
		t.Fatalf("files %v", rotated)
	}
	if first := readLines(t, path)[0]; !strings.Contains(first, `"previousFile":"audit.jsonl.moved-by-logrotate"`) {
		t.Fatalf("the new file starts with %s", first)
	}
	rep := mustVerify(t, VerifyOptions{}, rotated[0], moved, path)
	if rep.Records != 1+3+1+3+1+2 {
		t.Fatalf("%d records", rep.Records)
	}
}

func TestRestartResumesTheChain(t *testing.T) {
	path := writeLog(t, 4)
	l := open(t, path, Options{})
	appendN(t, l, 2)
	seq, _ := l.Head()
	l.Close()
	if seq != 5+1+2 {
		t.Fatalf("seq %d after restart, want 8", seq)
	}
	rep := mustVerify(t, VerifyOptions{}, path)
	if rep.Records != 8 {
		t.Fatalf("%d records", rep.Records)
	}
	lines := readLines(t, path)
	if !strings.Contains(lines[5], `"event":"audit.opened"`) || !strings.Contains(lines[5], `"reason":"start"`) {
		t.Fatalf("the restart's record: %s", lines[5])
	}
}

// A crash tears the last write: the fragment stays, the next start names it
// and links past it, and verify accepts exactly that.
func TestTornLastRecordIsRecovered(t *testing.T) {
	path := writeLog(t, 4)
	lines := readLines(t, path)
	fragment := `{"seq":6,"time":"2026-11-28T09:00:01Z","event":"otp.se`
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(fragment)
	f.Close()
	b := mustBreak(t, second(Verify([]string{path}, VerifyOptions{})))
	if b.Kind != Truncated || b.At.Line != 6 {
		t.Fatalf("before the restart: %v", b)
	}

	l := open(t, path, Options{})
	appendN(t, l, 1)
	l.Close()
	after := readLines(t, path)
	if after[5] != fragment+"\n" {
		t.Fatalf("the fragment was not kept as it was: %q", after[5])
	}
	if !strings.Contains(after[6], fmt.Sprintf(`"tornBytes":%d`, len(fragment))) || !strings.Contains(after[6], `"seq":6`) {
		t.Fatalf("the recovery record: %s", after[6])
	}
	rep := mustVerify(t, VerifyOptions{}, path)
	if len(rep.Recoveries) != 1 || rep.Recoveries[0].Line != 6 || rep.Records != len(lines)-1+2 {
		t.Fatalf("report %+v", rep)
	}

	// A fragment edited afterwards no longer matches its recovery record.
	tampered := readLines(t, path)
	tampered[5] = strings.Replace(tampered[5], "otp.se", "otp.xx", 1)
	writeLines(t, path, tampered)
	if b := mustBreak(t, second(Verify([]string{path}, VerifyOptions{}))); b.Kind != Edited || b.At.Line != 6 {
		t.Fatalf("edited fragment: %v", b)
	}
}

// A write torn just before its newline left a whole record: it is kept in
// the chain.
func TestRecordMissingOnlyItsNewlineCounts(t *testing.T) {
	path := writeLog(t, 3)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.TrimSuffix(b, []byte("\n")), 0o600)
	mustVerify(t, VerifyOptions{}, path)
	l := open(t, path, Options{})
	appendN(t, l, 1)
	l.Close()
	rep := mustVerify(t, VerifyOptions{}, path)
	if rep.Records != 4+2 || len(rep.Recoveries) != 0 {
		t.Fatalf("report %+v", rep)
	}
}

// A crash between a rotation and the first record of the new file leaves it
// empty: the next start continues the rotated file's chain.
func TestEmptyFileContinuesTheNewestRotated(t *testing.T) {
	path := writeLog(t, 3)
	rotated := path + "." + time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC).Format(rotatedLayout)
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, nil, 0o600)
	l := open(t, path, Options{})
	l.Close()
	if first := readLines(t, path)[0]; !strings.Contains(first, `"seq":5`) || !strings.Contains(first, filepath.Base(rotated)) {
		t.Fatalf("first record: %s", first)
	}
	mustVerify(t, VerifyOptions{}, rotated, path)
}

func TestUnreadableLastRecordRefusesToStart(t *testing.T) {
	path := writeLog(t, 2)
	lines := readLines(t, path)
	lines[len(lines)-2] = "not json\n"
	writeLines(t, path, lines)
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "not an audit record") {
		t.Fatalf("got %v", err)
	}
}

func TestConcurrentSyncedAppendsFormOneChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l := open(t, path, Options{Sync: true, MaxSize: 8 << 10})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				if err := l.Append("test.concurrent", Fields{"g": g, "i": i}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	l.Close()
	files := append(rotatedFiles(t, path), path)
	rep := mustVerify(t, VerifyOptions{}, files...)
	if rep.Records != 200+len(files) {
		t.Fatalf("%d records in %d files", rep.Records, len(files))
	}
}

func TestFieldsMustBeAnObject(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "a"), Options{})
	defer l.Close()
	if err := l.Append("x", []int{1}); err == nil {
		t.Fatal("an array was accepted as fields")
	}
	if err := l.Append("", nil); err == nil {
		t.Fatal("an event without a name was accepted")
	}
}

// BenchmarkAppend measures a record's cost with and without an fsync per
// record, from 1 and from many goroutines (the fsync is shared).
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []bool{false, true} {
		for _, parallel := range []bool{false, true} {
			b.Run(fmt.Sprintf("sync=%v/parallel=%v", sync, parallel), func(b *testing.B) {
				l, err := Open(filepath.Join(b.TempDir(), "audit.jsonl"), Options{Sync: sync})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				fields := Fields{"account": "acct-1", "phone": "+*******3210", "provider": "smpp-1", "requestId": "req-0123456789"}
				if !parallel {
					for b.Loop() {
						if err := l.Append("otp.sent", fields); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := l.Append("otp.sent", fields); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
