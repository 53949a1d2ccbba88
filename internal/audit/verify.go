package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// VerifyOptions adjust what Verify demands of a chain.
type VerifyOptions struct {
	// Continued accepts a first record that continues a chain whose earlier
	// files are not given (archived elsewhere): its link back is not
	// checked. Without it the chain must start at seq 1.
	Continued bool
	// Anchor is the hash of a record noted earlier (a previous verify's
	// head, or the one serve logs when it stops): the chain must still hold
	// it, which detects the deletion of records at the end, that the chain
	// alone cannot show.
	Anchor string
}

// Report is what Verify found in an intact chain.
type Report struct {
	Files      int
	Records    int
	First      uint64 // seq of the first record
	Last       uint64 // seq of the last record
	Head       string // hash of the last record: an anchor for later checks
	Recoveries []Position
}

// Position names one line of one file.
type Position struct {
	File string
	Line int
	Seq  uint64 // 0 when the line holds no record
}

func (p Position) String() string {
	if p.Seq == 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d (seq %d)", p.File, p.Line, p.Seq)
}

// The kinds of break.
const (
	Edited    = "edited"
	Deleted   = "deleted"
	Reordered = "reordered"
	Truncated = "truncated"
	Unlinked  = "unlinked" // the first record continues a chain not given
)

// Break is the first record where a chain does not hold.
type Break struct {
	At     Position
	Kind   string // Edited, Deleted, Reordered, Truncated or Unlinked
	Detail string
}

func (b *Break) Error() string {
	return fmt.Sprintf("%s: %s: %s", b.At, b.Kind, b.Detail)
}

// Verify checks the chain through files, given in the order they were
// written (rotated files first, oldest first, then the current one). It
// returns a *Break naming the first broken record, or another error when a
// file cannot be read.
func Verify(files []string, o VerifyOptions) (Report, error) {
	v := &verifier{opts: o}
	for _, name := range files {
		if err := v.file(name); err != nil {
			return Report{}, err
		}
	}
	if v.fragment != nil {
		return Report{}, &Break{At: v.fragment.at, Kind: Edited,
			Detail: "not a record, and no recovery record follows it (a torn write is named by the audit.opened record after it)"}
	}
	if v.report.Records == 0 {
		return Report{}, errors.New("audit: no records in the files given")
	}
	if o.Anchor != "" && !v.anchorSeen {
		return Report{}, &Break{At: v.last, Kind: Deleted,
			Detail: fmt.Sprintf("no record has the anchor hash %s: the chain ends at seq %d; records after it were deleted (or the anchor is from another log)", o.Anchor, v.last.Seq)}
	}
	v.report.Files = len(files)
	v.report.Last, v.report.Head = v.last.Seq, v.lastHash
	return v.report, nil
}

type fragment struct {
	at   Position
	hash string
	size int
}

type verifier struct {
	opts       VerifyOptions
	report     Report
	last       Position // the last record
	lastHash   string
	lastFile   string
	fragment   *fragment // a line that is not a record, awaiting its recovery record
	anchorSeen bool
}

func (v *verifier) file(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("audit: %s: %w", name, err)
		}
		at := Position{File: name, Line: n}
		if line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
		} else if _, err := parseRecord(line); err != nil || v.fragment != nil {
			// (A whole record that lacks only its newline is a write torn
			// at its last byte: it counts if it links, as serve counts it.)
			return &Break{At: at, Kind: Truncated,
				Detail: "the file ends in the middle of a record: it was cut short, or a crash tore the last write (serve recovers that at its next start)"}
		}
		if b := v.line(name, at, line); b != nil {
			if b.Kind == Deleted || b.Kind == Reordered {
				v.classify(b, name, n)
			}
			return b
		}
	}
	v.lastFile = name
	return nil
}

// line checks one line; it returns the break it shows, if any.
func (v *verifier) line(name string, at Position, line []byte) *Break {
	rec, err := parseRecord(line)
	if err != nil {
		if v.fragment != nil {
			return &Break{At: v.fragment.at, Kind: Edited, Detail: "not a record"}
		}
		v.fragment = &fragment{at: at, hash: hashLine(line), size: len(line)}
		return nil
	}
	at.Seq = rec.Seq
	if fr := v.fragment; fr != nil {
		if !namesFragment(rec, fr) {
			return &Break{At: fr.at, Kind: Edited, Detail: fmt.Sprintf("not a record, and the record after it (%s) does not name it as a torn write", at)}
		}
		v.report.Recoveries = append(v.report.Recoveries, fr.at)
		v.fragment = nil
	}
	hash := hashLine(line)
	switch {
	case v.report.Records == 0:
		if rec.Seq != 1 || rec.Prev != "" {
			if !v.opts.Continued {
				return &Break{At: at, Kind: Unlinked, Detail: "the chain does not start here: this record continues one that is not given " +
					"(give the earlier files first, in order, or --continued when they are archived)"}
			}
		}
		v.report.First = rec.Seq
	case rec.Seq == v.last.Seq+1 && rec.Prev == v.lastHash:
		// Linked.
	case rec.Seq == v.last.Seq+1:
		if name != v.last.File {
			if prev := previousFile(rec); prev != "" && prev != filepath.Base(v.last.File) {
				return &Break{At: at, Kind: Unlinked, Detail: fmt.Sprintf("this file continues %s, but the file given before it is %s: "+
					"give the files in the order they were written", prev, filepath.Base(v.last.File))}
			}
		}
		return &Break{At: v.last, Kind: Edited, Detail: fmt.Sprintf("its hash no longer matches the one the next record (%s) holds", at)}
	case rec.Prev == v.lastHash:
		return &Break{At: at, Kind: Edited, Detail: fmt.Sprintf("its seq should be %d: it links to the record before it, so the number was changed", v.last.Seq+1)}
	case rec.Seq == v.last.Seq+2:
		return &Break{At: at, Kind: Deleted, Detail: fmt.Sprintf("seq %d is missing before it", v.last.Seq+1)}
	case rec.Seq > v.last.Seq+2:
		return &Break{At: at, Kind: Deleted, Detail: fmt.Sprintf("seq %d to %d are missing before it", v.last.Seq+1, rec.Seq-1)}
	default:
		return &Break{At: at, Kind: Reordered, Detail: fmt.Sprintf("seq %d comes after seq %d", rec.Seq, v.last.Seq)}
	}
	if hash == v.opts.Anchor {
		v.anchorSeen = true
	}
	v.report.Records++
	v.last, v.lastHash = at, hash
	return nil
}

// classify tells a deletion from a reordering: a record missing where b
// found a gap that turns up later in the file was moved, not deleted.
func (v *verifier) classify(b *Break, name string, fromLine int) {
	want := v.last.Seq + 1
	f, err := os.Open(name)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), tailWindow)
	for n := 1; sc.Scan(); n++ {
		if n <= fromLine {
			continue
		}
		if rec, err := parseRecord(sc.Bytes()); err == nil && rec.Seq == want {
			b.Kind = Reordered
			b.Detail = fmt.Sprintf("seq %d should come here, but is at line %d", want, n)
			return
		}
	}
}

func namesFragment(rec Record, fr *fragment) bool {
	if rec.Event != OpenedEvent {
		return false
	}
	var f struct {
		Bytes int    `json:"tornBytes"`
		Hash  string `json:"tornSha256"`
	}
	return json.Unmarshal(rec.Fields, &f) == nil && f.Bytes == fr.size && f.Hash == fr.hash
}

func previousFile(rec Record) string {
	if rec.Event != OpenedEvent {
		return ""
	}
	var f struct {
		Previous string `json:"previousFile"`
	}
	if json.Unmarshal(rec.Fields, &f) != nil {
		return ""
	}
	return f.Previous
}
