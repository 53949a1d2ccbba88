package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Resumption is where a writer opening a log would continue its chain, as
// Probe finds it.
type Resumption struct {
	// Exists is whether the log's file exists.
	Exists bool
	// Seq and Head are the sequence number and hash of the record the chain
	// resumes from; 0 and "" when a new chain would start.
	Seq  uint64
	Head string
	// From is the file holding that record: the log's own, or, when it is
	// missing or empty, the newest file rotated from it; "" for a new chain.
	From string
	// TornBytes is the length of an incomplete last line that the opening
	// record would name (a crash tore it); 0 when none.
	TornBytes int
}

// Probe answers, without writing or creating anything, whether Open would
// succeed on path and where it would resume the chain; its errors are those
// Open would return. It takes the lock only for a moment, to see whether a
// writer holds it (a writer starting at that very moment could be refused).
// Standard output always starts a new chain.
func Probe(path string) (Resumption, error) {
	if path == Stdout {
		return Resumption{}, nil
	}
	var r Resumption
	// Open's first step, without O_CREATE: its error is Open's.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	switch {
	case err == nil:
		r.Exists = true
		defer f.Close()
	case errors.Is(err, fs.ErrNotExist):
		if err := canCreateIn(filepath.Dir(path)); err != nil {
			return r, fmt.Errorf("audit: %w", &fs.PathError{Op: "open", Path: path, Err: err})
		}
	default:
		return r, fmt.Errorf("audit: %w", err)
	}
	if err := probeLock(path); err != nil {
		return r, err
	}
	var size int64
	if f != nil {
		info, err := f.Stat()
		if err != nil {
			return r, fmt.Errorf("audit: %w", err)
		}
		size = info.Size()
	}
	if size > 0 {
		tail, err := readTail(f, size)
		if err != nil {
			return r, fmt.Errorf("audit: %s: %w", path, err)
		}
		r.TornBytes = len(tail.torn)
		if tail.last != nil {
			r.Seq, r.Head, r.From = tail.last.Seq, tail.lastHash, filepath.Base(path)
			return r, nil
		}
	}
	name, rec, hash, err := newestRotated(path)
	if err != nil {
		return r, err
	}
	if name != "" {
		r.Seq, r.Head, r.From = rec.Seq, hash, name
	}
	return r, nil
}

// probeLock reports ErrInUse when a writer holds the log's lock. A lock
// file that does not exist is held by no one; it is then not created.
func probeLock(path string) error {
	f, err := os.Open(LockPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close() // releases the lock, if taken
	if err := tryLock(f); err != nil {
		return lockError(path, err)
	}
	return nil
}
