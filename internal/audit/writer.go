package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrInUse is the error of Open when another process (another otpgate)
// writes the log already: two writers would interleave their records, and
// verify would then find the chain broken.
var ErrInUse = errors.New("in use by another process")

// errHeld is tryLock's answer when another open file holds the lock.
var errHeld = errors.New("the lock is held")

// Stdout is the path that writes the log to standard output, for a
// collector (journald, a log shipper) that keeps it: such a chain starts
// afresh with each process, as nothing can be read back to resume it.
const Stdout = "-"

// rotatedLayout names a rotated file: the log's name, a dot and the UTC time
// of the rotation to the nanosecond, a fixed width so that the names sort in
// the order the files were written (audit verify FILE.* FILE).
const rotatedLayout = "20060102T150405.000000000Z"

// tailWindow bounds how far back from its end a file is read to find its
// last record when a writer resumes; records are far smaller.
const tailWindow = 1 << 20

// Options configure a Log.
type Options struct {
	// MaxSize rotates the file before a record would take it past this many
	// bytes; 0 never rotates by size.
	MaxSize int64
	// Sync makes Append return only once its record is on disk (fsync).
	// Concurrent appends share one fsync.
	Sync bool
	// Now is the clock of the records' times; nil is time.Now.
	Now func() time.Time
}

// Log appends records to an audit log file (or standard output), one write
// per record, in a single hash chain that continues across restarts and
// rotations. It is safe for concurrent use.
type Log struct {
	path string
	opts Options

	lock *os.File // held from Open to Close; nil on standard output

	written atomic.Uint64 // records written, opening ones included

	mu     sync.Mutex
	f      *os.File  // nil when writing to standard output
	out    io.Writer // f, or standard output
	size   int64     // of f
	seq    uint64    // of the last record written
	head   string    // hash of the last record written
	broken error     // a write failed: the next append reopens the file first
	closed bool

	syncMu sync.Mutex
	synced atomic.Uint64 // every record up to this seq is on disk
}

// Open opens the log at path, or Stdout, and appends the record that
// starts this run. The log is then this process's alone until Close: it
// holds an exclusive lock on LockPath(path) (a file beside the log, so that
// a rotation, which renames the log, keeps it), and a second writer is
// refused with ErrInUse. An existing file's chain is resumed from its last record;
// a last line that a crash tore (an incomplete write) is kept, ended with a
// newline, and named by the opening record (its length and SHA-256), which
// links to the last whole record before it. A missing or empty file
// continues the chain of the newest file rotated from it, if any.
func Open(path string, o Options) (*Log, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSize < 0 {
		return nil, fmt.Errorf("audit: the maximum size must not be negative")
	}
	l := &Log{path: path, opts: o}
	if path == Stdout {
		l.out = os.Stdout
		if err := l.write(OpenedEvent, Fields{fieldReason: ReasonStart}); err != nil {
			return nil, fmt.Errorf("audit: standard output: %w", err)
		}
		return l, nil
	}
	f, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	if l.lock, err = lockLog(path); err != nil {
		f.Close()
		return nil, err
	}
	if err := l.resume(f, ReasonStart); err != nil {
		l.lock.Close()
		return nil, err
	}
	return l, nil
}

// LockPath is the file whose lock a writer of the log at path holds: beside
// it, hidden, so that the rotated files' pattern (FILE.*) does not take it
// in. It is left in place when the writer closes: its lock, not its
// presence, says the log is in use.
func LockPath(path string) string {
	dir, base := filepath.Split(path)
	return filepath.Join(dir, "."+base+".lock")
}

// lockLog opens the lock file of the log at path and takes its lock, or
// says who holds it.
func lockLog(path string) (*os.File, error) {
	name := LockPath(path)
	f, err := os.OpenFile(name, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		return nil, lockError(path, err)
	}
	return f, nil
}

func lockError(path string, err error) error {
	if errors.Is(err, errHeld) {
		return fmt.Errorf("audit: %s is %w: another otpgate writes it (it holds %s); give each instance its own audit log", path, ErrInUse, LockPath(path))
	}
	return fmt.Errorf("audit: locking %s: %w", path, err)
}

func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return f, nil
}

// Path is where the log writes: its file, or Stdout.
func (l *Log) Path() string { return l.path }

// Written is how many records this Log has written since Open, the
// audit.opened records of the start, rotations and repairs included.
func (l *Log) Written() uint64 { return l.written.Load() }

// Head returns the sequence number and hash of the last record written: an
// anchor that audit verify --anchor can later check the chain still holds.
func (l *Log) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.head
}

// Append writes one record of event with fields (a JSON object, or nil).
// With Options.Sync it returns once the record is on disk.
func (l *Log) Append(event string, fields any) error {
	if event == "" {
		return errors.New("audit: an event needs a name")
	}
	l.mu.Lock()
	err := l.appendLocked(event, fields)
	seq, file := l.seq, l.f
	l.mu.Unlock()
	if err != nil || !l.opts.Sync || file == nil {
		return err
	}
	return l.syncThrough(seq)
}

func (l *Log) appendLocked(event string, fields any) error {
	if l.closed {
		return errors.New("audit: the log is closed")
	}
	if l.broken != nil {
		// A failed write may have left part of a record: reopening
		// recovers it as at a start after a crash.
		if err := l.reopen(ReasonRepair); err != nil {
			return err
		}
	}
	raw, err := encodeFields(fields)
	if err != nil {
		return err
	}
	// The record's exact length is known only once its seq and time are;
	// this bound is close enough to keep files under MaxSize.
	if l.opts.MaxSize > 0 && l.f != nil && l.size > 0 && l.size+int64(len(raw)+len(event))+200 > l.opts.MaxSize {
		if err := l.rotate(ReasonSize); err != nil {
			return err
		}
	}
	return l.writeRaw(event, raw)
}

// Rotate moves the current file aside (to its name plus the time) and
// continues the chain in a new file at the log's path, whose first record
// names the previous file and carries the hash of its last record. When
// something else has moved the file already (logrotate without
// copytruncate), the log only reopens its path. On standard output it
// does nothing.
func (l *Log) Rotate(reason string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("audit: the log is closed")
	}
	if l.f == nil {
		return nil
	}
	return l.rotate(reason)
}

// Close syncs and closes the file. Appends after it fail.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.lock != nil {
		// After the file's close: the next writer starts from its end.
		defer l.lock.Close()
	}
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if err == nil {
		l.markSynced(l.seq) // for an append waiting to sync the closed file
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func encodeFields(fields any) (json.RawMessage, error) {
	if fields == nil {
		return nil, nil
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("audit: fields: %w", err)
	}
	if bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("audit: fields must be a JSON object")
	}
	return raw, nil
}

func (l *Log) write(event string, fields any) error {
	raw, err := encodeFields(fields)
	if err != nil {
		return err
	}
	return l.writeRaw(event, raw)
}

// writeRaw writes the next record whole, in one write: a crash leaves at
// most one incomplete line, at the end.
func (l *Log) writeRaw(event string, fields json.RawMessage) error {
	rec := Record{Seq: l.seq + 1, Time: l.opts.Now().UTC(), Event: event, Prev: l.head, Fields: fields}
	line, err := rec.marshal()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	line = append(line, '\n')
	n, err := l.out.Write(line)
	l.size += int64(n)
	if err != nil {
		l.broken = err
		return fmt.Errorf("audit: writing %s: %w", l.path, err)
	}
	l.seq, l.head = rec.Seq, hashLine(line[:len(line)-1])
	l.written.Add(1)
	return nil
}

// syncThrough returns once every record up to seq is on disk. Whoever
// syncs covers every record written so far, so that appends waiting
// meanwhile share one fsync (group commit).
func (l *Log) syncThrough(seq uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced.Load() >= seq {
		return nil
	}
	l.mu.Lock()
	f, upto := l.f, l.seq
	l.mu.Unlock()
	if f == nil {
		return nil
	}
	if err := f.Sync(); err != nil {
		if l.synced.Load() >= seq {
			return nil // a rotation synced and closed the file meanwhile
		}
		return fmt.Errorf("audit: syncing %s: %w", l.path, err)
	}
	l.markSynced(upto)
	return nil
}

func (l *Log) markSynced(seq uint64) {
	for {
		cur := l.synced.Load()
		if cur >= seq || l.synced.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// rotate runs under mu.
func (l *Log) rotate(reason string) error {
	old := l.f
	if err := old.Sync(); err != nil {
		return fmt.Errorf("audit: syncing %s before rotating it: %w", l.path, err)
	}
	l.markSynced(l.seq)
	previous, err := l.moveAside(old)
	if err != nil {
		return err
	}
	old.Close()
	l.f, l.out = nil, nil
	return l.continueIn(reason, previous)
}

// moveAside renames the open file to its rotated name and returns that
// name, or, when the path no longer names it (moved by another tool),
// returns where it went as far as the system says.
func (l *Log) moveAside(f *os.File) (string, error) {
	openInfo, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	if pathInfo, err := os.Stat(l.path); err == nil && os.SameFile(openInfo, pathInfo) {
		name := l.path + "." + l.opts.Now().UTC().Format(rotatedLayout)
		if _, err := os.Lstat(name); err == nil {
			return "", fmt.Errorf("audit: rotating %s: %s exists already", l.path, name)
		}
		if err := os.Rename(l.path, name); err != nil {
			return "", fmt.Errorf("audit: rotating: %w", err)
		}
		return filepath.Base(name), nil
	}
	// Linux tells where an open file now is; elsewhere only that it moved.
	if where, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil {
		return filepath.Base(strings.TrimSuffix(where, " (deleted)")), nil
	}
	return filepath.Base(l.path) + " (moved away)", nil
}

// continueIn opens a new, empty file at the path and writes its first
// record: the chain goes on from the last record of previous.
func (l *Log) continueIn(reason, previous string) error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		l.broken = err
		return fmt.Errorf("audit: opening a new %s: %w", l.path, err)
	}
	syncDir(l.path)
	l.f, l.out, l.size, l.broken = f, f, 0, nil
	return l.write(OpenedEvent, Fields{fieldReason: reason, fieldPreviousFile: previous})
}

// reopen closes the file and opens it again, recovering a torn last record.
func (l *Log) reopen(reason string) error {
	if l.f == nil { // standard output: nothing to read back
		l.broken = nil
		return nil
	}
	// The records before the failed write are whole: sync them, as Close
	// and rotate do, so that an append waiting to sync one is not failed
	// by the file closing under it.
	if l.f.Sync() == nil {
		l.markSynced(l.seq)
	}
	l.f.Close()
	l.f, l.out = nil, nil
	f, err := openLogFile(l.path)
	if err != nil {
		return err
	}
	return l.resume(f, reason)
}

// resume continues the chain of the log's file f, just opened, and writes
// the opening record; it closes f on failure.
func (l *Log) resume(f *os.File, reason string) error {
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	fields := Fields{fieldReason: reason}
	size := info.Size()
	var tail tailState
	if size > 0 {
		if tail, err = readTail(f, size); err != nil {
			f.Close()
			return fmt.Errorf("audit: %s: %w", l.path, err)
		}
		if tail.needsNewline {
			// End the incomplete line, so that the next record starts one
			// of its own; the fragment itself is kept as evidence.
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return fmt.Errorf("audit: %s: %w", l.path, err)
			}
			size++
		}
		if tail.torn != nil {
			fields[fieldTornBytes] = len(tail.torn)
			fields[fieldTornSHA256] = hashLine(tail.torn)
		}
	}
	if tail.last == nil {
		// Nothing to resume in this file: continue the chain of the newest
		// rotated file, if any (a crash between a rotation and the first
		// record of the new file), or start one.
		name, rec, hash, err := newestRotated(l.path)
		if err != nil {
			f.Close()
			return err
		}
		if name != "" {
			fields[fieldPreviousFile] = name
			l.seq, l.head = rec.Seq, hash
		} else {
			l.seq, l.head = 0, ""
		}
	} else {
		l.seq, l.head = tail.last.Seq, tail.lastHash
	}
	l.f, l.out, l.size, l.broken = f, f, size, nil
	return l.write(OpenedEvent, fields)
}

// tailState is what the end of a file says about its chain.
type tailState struct {
	last         *Record // the last whole record; nil when none
	lastHash     string
	torn         []byte // an incomplete last line, kept and named
	needsNewline bool
}

// readTail finds the last record of a file of size bytes.
func readTail(f *os.File, size int64) (tailState, error) {
	n := min(size, tailWindow)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return tailState{}, err
	}
	var st tailState
	lines := buf
	if buf[len(buf)-1] != '\n' {
		st.needsNewline = true
		cut := bytes.LastIndexByte(buf, '\n')
		if cut < 0 && n < size {
			return tailState{}, errors.New("no line end in its last MiB: not an audit log")
		}
		fragment := buf[cut+1:]
		lines = buf[:cut+1]
		// A write torn just before its newline left a whole record: it
		// counts if it links to the record before it.
		rec, err := parseRecord(fragment)
		prev, prevHash, havePrev := lastLine(lines)
		if err == nil && (!havePrev && rec.Prev == "" || havePrev && rec.Prev == prevHash && rec.Seq == prev.Seq+1) {
			st.last, st.lastHash = &rec, hashLine(fragment)
			return st, nil
		}
		st.torn = append([]byte(nil), fragment...)
	}
	rec, hash, ok := lastLine(lines)
	if !ok {
		if len(lines) > 0 {
			return tailState{}, errors.New("its last line is not an audit record: move the file aside or restore it; a chain that cannot be read is not continued")
		}
		return st, nil // the whole file is one torn line
	}
	st.last, st.lastHash = &rec, hash
	return st, nil
}

// lastLine parses the last of lines (which end with a newline).
func lastLine(lines []byte) (Record, string, bool) {
	if len(lines) == 0 {
		return Record{}, "", false
	}
	body := lines[:len(lines)-1]
	line := body[bytes.LastIndexByte(body, '\n')+1:]
	rec, err := parseRecord(line)
	if err != nil {
		return Record{}, "", false
	}
	return rec, hashLine(line), true
}

// newestRotated finds the newest file rotated from path and its last
// record; "" when there is none.
func newestRotated(path string) (string, Record, string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", Record{}, "", fmt.Errorf("audit: %w", err)
	}
	newest := ""
	for _, e := range entries {
		if rotatedFrom(base, e.Name()) && e.Name() > newest {
			newest = e.Name()
		}
	}
	if newest == "" {
		return "", Record{}, "", nil
	}
	f, err := os.Open(filepath.Join(dir, newest))
	if err != nil {
		return "", Record{}, "", fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", Record{}, "", fmt.Errorf("audit: %w", err)
	}
	if info.Size() == 0 {
		return "", Record{}, "", fmt.Errorf("audit: %s is empty: cannot continue its chain", newest)
	}
	tail, err := readTail(f, info.Size())
	if err != nil || tail.last == nil {
		return "", Record{}, "", fmt.Errorf("audit: %s: cannot read its last record to continue the chain: %v", newest, err)
	}
	return newest, *tail.last, tail.lastHash, nil
}

// rotatedFrom reports whether name is a file rotated from base.
func rotatedFrom(base, name string) bool {
	stamp, ok := strings.CutPrefix(name, base+".")
	if !ok || len(stamp) != len(rotatedLayout) {
		return false
	}
	_, err := time.Parse(rotatedLayout, stamp)
	return err == nil
}

// syncDir makes a rename or a new file in path's directory durable; best
// effort, as not every system can sync a directory.
func syncDir(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
