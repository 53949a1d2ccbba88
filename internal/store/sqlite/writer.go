package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/internal/idle"
)

// The writer is group commit: one goroutine owns SQLite's one writing
// connection, and the write units (transactions) that arrive while it
// commits one batch wait and then run together as the next: each in a
// SAVEPOINT of one transaction, so that one unit's error rolls back only
// that unit, then one COMMIT (with synchronous=FULL, one fsync) for all of
// them. Only then is each caller released. A unit never waits for company:
// an idle writer runs the first unit that comes at once, alone.
//
// bbolt's DB.Batch is the model, with two differences: a batch does not wait
// for a timer to fill (the time one batch takes to commit is the wait that
// gathers the next), and a failed unit is rolled back by its savepoint rather
// than rerun alone.
//
// Durability is pipelined: the writer commits with synchronous=NORMAL (in
// WAL mode: the log is written, not synced) and hands the batch to the
// syncer, which fsyncs the log (for every batch that waits, at once) and
// only then releases the callers, while the writer already runs the next
// batch. The log is written in order, so one fsync makes every commit
// before it durable; and batches are released in the order they committed,
// so that no answer leaves before anything it read is on disk. This is what
// synchronous=FULL does (a commit's fsync of the log), moved off the writer.
// A batch of only non-durable units (otp.NonDurable) needs no fsync of its
// own; it is released after the batches before it.
//
// A failed fsync is final. The batch that needed it, and every batch after
// it, fail (a later batch may replay an answer of the failed one); and the
// store refuses every write from then on (ErrSyncFailed), because on Linux
// a retried fsync can report success after the kernel dropped the pages
// that did not reach the disk (PostgreSQL's "fsyncgate"): only a restart,
// which makes SQLite recover the log from what is on disk, is safe.

// MaxBatch bounds how many units one transaction runs: enough to share one
// fsync among all the requests a busy server has in flight, few enough that
// the last unit of a batch does not wait long behind the others.
const MaxBatch = 128

// errClosed answers a unit that comes after Close.
var errClosed = errors.New("sqlite: the store is closed")

// ErrSyncFailed is the error of every write after an fsync of the log failed:
// what was committed may not be on disk, and nothing written since can be
// trusted to reach it. Ping reports it too, so the server is not ready.
var ErrSyncFailed = errors.New("sqlite: an fsync of the write-ahead log failed, so committed writes may not be on disk; the store refuses writes until otpgate is restarted")

// unit is one caller's transaction on its way through the writer.
type unit struct {
	// ctx is the caller's. The writer looks at it once, before it runs the
	// unit: a unit whose caller gave up is skipped, but a unit that has run
	// is part of its batch and its caller waits for the batch's commit. Its
	// statements run without the caller's cancellation: cancelling a
	// statement interrupts the connection, and SQLite may then roll back the
	// whole transaction, the other units of the batch with it.
	ctx context.Context
	fn  func(*sqlTx) error
	// durable: the commit of this unit must be on disk before its caller
	// is released. Set by the caller (otp.IsDurable) or by the unit itself
	// when it stores an answer.
	durable bool
	err     error
	// panicked is what fn panicked with, to panic again in the caller's
	// goroutine: the writer's own must not die of one request.
	panicked any
	// waiting is closed once the unit's batch is committed and waits for
	// the syncer's fsync: its caller's CPU work is done (see do).
	waiting chan struct{}
	done    chan struct{}
}

// finish gives the unit its outcome, unless it has one (its own error). The
// loop releases the caller once the batch is done and counted.
func (u *unit) finish(err error) {
	if u.err == nil {
		u.err = err
	}
}

// WriterStats are counters of the writer since Open: how busy it is and how
// well batching works.
type WriterStats struct {
	Batches int64         // transactions committed or tried
	Units   int64         // units run (their callers' Tx calls), failed ones too
	Syncs   int64         // fsyncs of the log, each making one or more batches durable
	Busy    time.Duration // time the writer spent running batches, commits included, fsyncs not
	Largest int           // the most units one batch held
}

// committed is a batch on its way from the writer to the syncer.
type committed struct {
	units []*unit
	sync  bool // a durable unit committed: fsync the log before releasing
}

type writer struct {
	conn     *sql.Conn
	stmts    map[string]*sql.Stmt // statements, prepared on conn
	controls map[string]*sql.Stmt // controls, prepared on conn
	// full: the store's synchronous mode is FULL, so durable batches are
	// synced; when it is NORMAL no batch is.
	full bool
	// wal is the write-ahead log, which the syncer fsyncs. Nil when it
	// could not be opened: then the connection commits with FULL itself.
	wal     *os.File
	pending chan committed // batches committed, to sync and release in order
	// syncLog fsyncs the log: (*os.File).Sync, or a test's failure.
	syncLog func(*os.File) error
	// unsynced counts the batches handed to the syncer that need an fsync
	// and are not released yet: while there are any, every batch waits
	// for the disk.
	unsynced atomic.Int64
	// broken is the first failed fsync (ErrSyncFailed wrapping it); once set,
	// every write is refused.
	broken atomic.Pointer[error]

	// submit queues the units for the next batch, in the order they came.
	submit  chan *unit
	quit    chan struct{}
	stopped chan struct{}
	close   sync.Once

	statsMu sync.Mutex
	stats   WriterStats
}

// controls are the statements of the writer's own, run for every batch or
// unit: prepared once, as the units' own statements are.
var controls = []string{"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", "SAVEPOINT unit", "RELEASE unit", "ROLLBACK TO unit"}

func newWriter(conn *sql.Conn, stmts map[string]*sql.Stmt, full bool) *writer {
	w := &writer{conn: conn, stmts: stmts, full: full, controls: map[string]*sql.Stmt{},
		submit: make(chan *unit, MaxBatch), quit: make(chan struct{}), stopped: make(chan struct{}),
		pending: make(chan committed, MaxBatch), syncLog: (*os.File).Sync}
	if full {
		w.openLog()
	}
	for _, q := range controls {
		// One that fails to prepare runs unprepared (exec).
		if st, err := conn.PrepareContext(writerCtx, q); err == nil {
			w.controls[q] = st
		}
	}
	go w.loop()
	return w
}

// openLog opens the write-ahead log for the syncer and makes the connection
// commit with NORMAL, or, if that fails, leaves the connection's FULL (each
// commit syncs in the writer). The log stays the same file while the
// connection is open: SQLite removes it only when the last connection to
// the database closes, and rewrites it in place after a checkpoint.
func (w *writer) openLog() {
	var seq int
	var name, path string
	if err := w.conn.QueryRowContext(writerCtx, `PRAGMA database_list`).Scan(&seq, &name, &path); err != nil || path == "" {
		return
	}
	wal, err := os.OpenFile(path+"-wal", os.O_RDWR, 0)
	if err != nil {
		return
	}
	// The log's directory entry must be durable too, as SQLite's FULL
	// makes it when it creates the log.
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		err = dir.Sync()
		dir.Close()
		if err != nil {
			wal.Close()
			return
		}
	}
	if _, err := w.conn.ExecContext(writerCtx, "PRAGMA synchronous = NORMAL"); err != nil {
		wal.Close()
		return
	}
	w.wal = wal
}

// do runs fn as one unit of a batch and reports its outcome: fn's own error
// unchanged, or the batch's (a failed commit), or nil once the batch that
// holds fn's changes is committed (and, if durable, synced).
func (w *writer) do(ctx context.Context, durable bool, fn func(*sqlTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.failed(); err != nil {
		return err
	}
	u := &unit{ctx: ctx, fn: fn, durable: durable, waiting: make(chan struct{}), done: make(chan struct{})}
	select {
	case w.submit <- u:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.stopped:
		return errClosed
	}
	// The writer has the unit: wait for its batch whatever ctx says, so
	// that a caller never reports failure for a change that was committed.
	released := func() {
		select {
		case <-u.done:
		case <-w.stopped:
		}
	}
	select {
	case <-u.done:
	case <-w.stopped:
	case <-u.waiting:
		select {
		case <-u.done: // released already: keep the slot
		default:
			// Committed, waiting for the disk: the request's slot of
			// --max-in-flight goes to another request meanwhile, as it
			// does while an SMS is sent.
			idle.Wait(ctx, released)
		}
	}
	// Every unit the writer ran was released before it stopped: one still
	// in the queue never ran.
	select {
	case <-u.done:
	default:
		return errClosed
	}
	if u.panicked != nil {
		panic(u.panicked)
	}
	return u.err
}

// stop ends the writer after its current batch; units that come later are
// refused with errClosed.
func (w *writer) stop() {
	w.close.Do(func() { close(w.quit) })
	<-w.stopped
	if w.wal != nil {
		w.wal.Close()
	}
	// Statements prepared on the connection are not closed with its pool:
	// left open, the last close of the database cannot checkpoint the log
	// and remove it.
	for _, st := range w.stmts {
		st.Close()
	}
	for _, st := range w.controls {
		st.Close()
	}
}

func (w *writer) loop() {
	synced := make(chan struct{})
	go w.syncer(synced)
	defer func() {
		close(w.pending)
		<-synced
		close(w.stopped)
	}()
	batch := make([]*unit, 0, MaxBatch)
	for {
		select {
		case u := <-w.submit:
			batch = append(batch[:0], u)
		case <-w.quit:
			return
		}
		// Everyone who arrived while the last batch committed joins this
		// one; nobody waits for more.
	gather:
		for len(batch) < MaxBatch {
			select {
			case u := <-w.submit:
				batch = append(batch, u)
			default:
				break gather
			}
		}
		if err := w.failed(); err != nil {
			// Nothing runs after a failed fsync (ErrSyncFailed).
			finishAll(batch, err)
			w.pending <- committed{units: slices.Clone(batch)}
			clear(batch)
			continue
		}
		start := time.Now()
		durable := w.run(batch)
		w.statsMu.Lock()
		w.stats.Batches++
		w.stats.Units += int64(len(batch))
		w.stats.Busy += time.Since(start)
		w.stats.Largest = max(w.stats.Largest, len(batch))
		w.statsMu.Unlock()
		c := committed{units: slices.Clone(batch), sync: durable && w.wal != nil}
		if c.sync {
			w.unsynced.Add(1)
		}
		if w.unsynced.Load() > 0 {
			for _, u := range batch {
				close(u.waiting)
			}
		}
		w.pending <- c
		clear(batch)
	}
}

// syncer releases the committed batches in order, each once the log is
// synced past it if it needs that: one fsync for all the batches that
// wait, while the writer runs the next.
func (w *writer) syncer(done chan<- struct{}) {
	defer close(done)
	for c := range w.pending {
		group := []committed{c}
	gather:
		for {
			select {
			case c, ok := <-w.pending:
				if !ok {
					break gather
				}
				group = append(group, c)
			default:
				break gather
			}
		}
		// from is the first batch to fail: after a failed fsync, every
		// batch, committed or not, whether on disk nobody knows.
		from := len(group)
		err := w.failed()
		if err != nil {
			from = 0
		} else if first := slices.IndexFunc(group, func(c committed) bool { return c.sync }); first >= 0 {
			if serr := w.syncLog(w.wal); serr != nil {
				// The batches before the first that needed the fsync
				// needed none, nor did those before them: they stand.
				// That one and every later one fail: a later batch,
				// durable or not, may replay an answer of the first.
				err, from = w.fail(serr), first
			}
			w.statsMu.Lock()
			w.stats.Syncs++
			w.statsMu.Unlock()
		}
		for i, c := range group {
			for _, u := range c.units {
				if i >= from {
					u.err = err // its answer must not leave
				}
				close(u.done)
			}
			if c.sync {
				w.unsynced.Add(-1)
			}
		}
	}
}

// fail records a failed fsync of the log, once, and returns the error every
// write gets from now on.
func (w *writer) fail(cause error) error {
	err := fmt.Errorf("%w (%w)", ErrSyncFailed, cause)
	if w.broken.CompareAndSwap(nil, &err) {
		slog.Error("sqlite: an fsync of the write-ahead log failed: the store refuses every write until otpgate is restarted; restart it (SQLite recovers the log from the disk at start), and check the disk",
			"log", w.wal.Name(), "error", cause)
	}
	return *w.broken.Load()
}

// failed is ErrSyncFailed (with its cause) once an fsync of the log failed,
// else nil.
func (w *writer) failed() error {
	if p := w.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// writerCtx runs the writer's statements: see unit.ctx.
var writerCtx = context.Background()

func (w *writer) exec(query string) error {
	var err error
	if st, ok := w.controls[query]; ok {
		_, err = st.ExecContext(writerCtx)
	} else {
		_, err = w.conn.ExecContext(writerCtx, query)
	}
	return err
}

// run runs a batch in one transaction and gives every unit its outcome. It
// reports whether a durable unit committed, so that the log must be synced
// before the batch is released.
func (w *writer) run(batch []*unit) (durable bool) {
	live := batch
	if err := w.exec("BEGIN IMMEDIATE"); err != nil {
		finishAll(live, fmt.Errorf("sqlite: begin: %w", err))
		return false
	}
	// A lone unit needs no savepoint: its error rolls back the transaction.
	savepoints := len(live) > 1
	var in []*unit // the units whose changes the transaction holds
	for i, u := range live {
		if err := u.ctx.Err(); err != nil {
			u.finish(err) // its caller gave up before its turn: it does nothing
			continue
		}
		if savepoints {
			if err := w.exec("SAVEPOINT unit"); err != nil {
				w.abort(in, live[i:], fmt.Errorf("sqlite: savepoint: %w", err))
				return false
			}
		}
		if w.call(u) {
			if savepoints {
				if err := w.exec("RELEASE unit"); err != nil {
					w.abort(in, live[i:], fmt.Errorf("sqlite: release savepoint: %w", err))
					return false
				}
			}
			in = append(in, u)
			continue
		}
		if !savepoints {
			w.rollback()
			u.finish(nil)
			return false
		}
		if err := errors.Join(w.exec("ROLLBACK TO unit"), w.exec("RELEASE unit")); err != nil {
			// SQLite rolled the whole transaction back on its own (it does
			// on I/O errors, a full disk, running out of memory): what the
			// units before this one did is gone. They fail; the units not
			// yet run get a transaction of their own.
			w.rollback()
			u.finish(nil)
			finishAll(in, fmt.Errorf("sqlite: the transaction was rolled back: %w", errors.Join(u.err, err)))
			if rest := live[i+1:]; len(rest) > 0 {
				return w.run(rest)
			}
			return false
		}
		u.finish(nil) // its own error; its changes are undone
	}
	if len(in) == 0 {
		w.rollback()
		return false
	}
	if err := w.exec("COMMIT"); err != nil {
		w.rollback()
		finishAll(in, fmt.Errorf("sqlite: commit: %w", err))
		return false
	}
	// Durable units, and units declared non-durable that stored an answer
	// (sqlTx.answers): an answer must be on disk before it leaves.
	return anyDurable(in)
}

// call runs one unit's fn and reports whether it succeeded; if not, u.err or
// u.panicked says why.
func (w *writer) call(u *unit) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			u.panicked = p
			ok = false
		}
	}()
	u.err = u.fn(newSQLTx(u, w.conn, w.stmts))
	return u.err == nil
}

// abort gives up a batch whose transaction broke: the units that ran
// lose their changes, those not yet run never ran. All fail with err.
func (w *writer) abort(ran, rest []*unit, err error) {
	w.rollback()
	finishAll(ran, err)
	finishAll(rest, err)
}

// rollback ends the transaction if one is open; after an error SQLite may
// already have ended it, and then ROLLBACK fails harmlessly.
func (w *writer) rollback() { _ = w.exec("ROLLBACK") }

func finishAll(us []*unit, err error) {
	for _, u := range us {
		u.finish(err)
	}
}

func anyDurable(us []*unit) bool {
	for _, u := range us {
		if u.durable {
			return true
		}
	}
	return false
}

// Stats returns the writer's counters.
func (w *writer) Stats() WriterStats {
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	return w.stats
}
