package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// halfWriter writes the first half of what it is given to the file, then
// fails: a disk that filled up in the middle of a record.
type halfWriter struct{ f *os.File }

func (h halfWriter) Write(p []byte) (int, error) {
	n, _ := h.f.Write(p[:len(p)/2])
	return n, errors.New("no space left on device")
}

// A write that fails leaves part of a record; the next append reopens the
// file, names the fragment and links past it, so that the chain verifies.
func TestAFailedWriteIsRepairedByTheNextAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l := open(t, path, Options{Sync: true})
	appendN(t, l, 2)
	l.mu.Lock()
	l.out = halfWriter{l.f}
	l.mu.Unlock()
	if err := l.Append("test.event", Fields{"lost": true}); err == nil {
		t.Fatal("a failed write was not reported")
	}
	if _, err := Verify([]string{path}, VerifyOptions{}); err == nil {
		t.Fatal("a half-written record verified")
	}
	appendN(t, l, 1)
	l.Close()
	rep := mustVerify(t, VerifyOptions{}, path)
	if len(rep.Recoveries) != 1 || rep.Recoveries[0].Line != 4 || rep.Records != 1+2+1+1 {
		t.Fatalf("report %+v", rep)
	}
	if line := readLines(t, path)[4]; !strings.Contains(line, `"reason":"repair"`) || !strings.Contains(line, `"seq":4`) {
		t.Fatalf("the repair record: %s", line)
	}
}
