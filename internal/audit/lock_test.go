package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A second writer of one file is refused while the first holds it, by the
// real flock (which belongs to an open file description, so that two opens
// in one process conflict as two processes do), and succeeds once the
// first has closed; a rotation keeps the lock.
func TestSecondWriterIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	first := open(t, path, Options{})
	appendN(t, first, 2)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Open(path, Options{})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another otpgate") {
		t.Fatalf("a second writer: %v, want ErrInUse naming %s", err, path)
	}
	if second != nil {
		t.Fatal("a refused Open returned a log")
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("the refused writer wrote to the file")
	}

	if err := first.Rotate(ReasonSignal); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("a second writer after a rotation: %v, want ErrInUse", err)
	}
	if _, err := Probe(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("Probe of a log in use: %v, want ErrInUse", err)
	}
	appendN(t, first, 1)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	again := open(t, path, Options{})
	appendN(t, again, 1)
	again.Close()
	rep := mustVerify(t, VerifyOptions{}, append(rotatedFiles(t, path), path)...)
	if rep.Records != 1+2+1+1+1+1 {
		t.Fatalf("%d records", rep.Records)
	}
	if rotated := rotatedFiles(t, path); len(rotated) != 1 {
		t.Fatalf("the lock file is taken for a rotated one: %v", rotated)
	}
}

// Written counts every record, the opening ones of the start and of each
// rotation included.
func TestWrittenCountsEveryRecord(t *testing.T) {
	path := writeLog(t, 3) // a previous run's records are not this log's
	l := open(t, path, Options{MaxSize: 2 << 10})
	appendN(t, l, 30)
	if err := l.Rotate(ReasonSignal); err != nil {
		t.Fatal(err)
	}
	got := l.Written()
	l.Close()
	files := append(rotatedFiles(t, path), path)
	rep := mustVerify(t, VerifyOptions{}, files...)
	if want := uint64(rep.Records - 4); got != want || len(files) < 3 {
		t.Fatalf("Written %d, want %d (the file holds %d records in %d files, 4 of the previous run)", got, want, rep.Records, len(files))
	}
}

// Probe says, writing nothing, what Open would do: where the chain
// resumes, and Open's own error where Open would fail.
func TestProbe(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	r, err := Probe(path)
	if err != nil || r.Exists || r.Seq != 0 || r.From != "" {
		t.Fatalf("a new log: %+v, %v", r, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("Probe created %v", entries)
	}

	l := open(t, path, Options{})
	appendN(t, l, 4)
	seq, head := l.Head()
	l.Close()
	r, err = Probe(path)
	if err != nil || !r.Exists || r.Seq != seq || r.Head != head || r.From != "audit.jsonl" {
		t.Fatalf("an existing log: %+v, %v; want seq %d head %s", r, err, seq, head)
	}

	// Moved away by a rotation that crashed before the new file: the chain
	// resumes from the rotated file.
	rotated := path + ".20261128T090000.000000000Z"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if r, err = Probe(path); err != nil || r.Exists || r.Seq != seq || r.From != filepath.Base(rotated) {
		t.Fatalf("after a rotation: %+v, %v", r, err)
	}
	if err := os.Rename(rotated, path); err != nil {
		t.Fatal(err)
	}

	// A torn last line is reported, and the chain resumes before it.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":6,"ti`)
	f.Close()
	before, _ := os.ReadFile(path)
	if r, err = Probe(path); err != nil || r.Seq != seq || r.TornBytes != 12 {
		t.Fatalf("a torn line: %+v, %v", r, err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("Probe wrote to the file")
	}

	// Where Open fails, Probe fails with its error.
	lines := readLines(t, path)
	lines[len(lines)-1] = "not json\n"
	writeLines(t, path, lines)
	_, perr := Probe(path)
	_, oerr := Open(path, Options{})
	if perr == nil || oerr == nil || perr.Error() != oerr.Error() || !strings.Contains(perr.Error(), "its last line is not an audit record") {
		t.Fatalf("an unreadable last line: Probe %v, Open %v", perr, oerr)
	}
	missing := filepath.Join(dir, "no-such-dir", "audit.jsonl")
	_, perr = Probe(missing)
	_, oerr = Open(missing, Options{})
	if perr == nil || oerr == nil || perr.Error() != oerr.Error() {
		t.Fatalf("a missing directory: Probe %v, Open %v", perr, oerr)
	}
}
