package sqlite

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/idle"
	"github.com/otpgate/otpgate/internal/otp"
)

// failingSync makes the writer's fsyncs of the log block on gate (the first
// one) and then fail (every later one), and counts them.
type failingSync struct {
	gate  chan struct{}
	once  sync.Once
	calls atomic.Int32
}

// newFailingSync installs a failingSync on s's writer; the gate opens at the
// end of the test at the latest, so that a failing test does not hang in
// Close behind a blocked fsync.
func newFailingSync(t *testing.T, s *Store) *failingSync {
	f := &failingSync{gate: make(chan struct{})}
	s.w.syncLog = f.sync
	t.Cleanup(f.open)
	return f
}

func (f *failingSync) open() { f.once.Do(func() { close(f.gate) }) }

func (f *failingSync) sync(wal *os.File) error {
	if f.calls.Add(1) == 1 {
		<-f.gate
		return wal.Sync()
	}
	return syscall.EIO
}

// TestSyncFailureIsFinal: when the fsync of the log fails, the batch that
// needed it fails, and so does a non-durable batch committed after it in
// the same group (it may replay the first one's answer); every later write
// is refused, and Ping reports why.
func TestSyncFailureIsFinal(t *testing.T) {
	s, _ := open(t)
	if s.w.wal == nil {
		t.Fatal("the writer has no log to sync")
	}
	f := newFailingSync(t, s)
	ctx := context.Background()
	run := func(ctx context.Context, id string, state otp.RequestState) <-chan error {
		errc := make(chan error, 1)
		go func() {
			errc <- s.Tx(ctx, func(tx otp.Tx) error {
				return tx.InsertRequest(&otp.Request{ID: id, Method: "sendOtp", Fingerprint: []byte{1}, State: state})
			})
		}()
		return errc
	}
	// A: durable; its fsync (the first) waits at the gate, so that the
	// next two batches queue for the syncer's next group.
	a := run(ctx, "A", otp.RequestDone)
	waitFor(t, func() bool { return f.calls.Load() == 1 })
	// D: durable (stores an answer); N: a non-durable claim, committed
	// after D in a batch of its own.
	d := run(ctx, "D", otp.RequestDone)
	waitFor(t, func() bool { return s.WriterStats().Batches == 2 })
	n := run(otp.NonDurable(ctx), "N", otp.RequestPending)
	waitFor(t, func() bool { return s.WriterStats().Batches == 3 })
	f.open()

	if err := <-a; err != nil {
		t.Errorf("A, synced before the failure: %v", err)
	}
	if err := <-d; !errors.Is(err, ErrSyncFailed) || !errors.Is(err, syscall.EIO) {
		t.Errorf("D, whose fsync failed: %v, want ErrSyncFailed with EIO", err)
	}
	if err := <-n; !errors.Is(err, ErrSyncFailed) {
		t.Errorf("N, a non-durable batch after D in the same group: %v, want ErrSyncFailed", err)
	}
	// Final: no retry of the fsync, every write refused, readiness down.
	if err := <-run(otp.NonDurable(ctx), "L", otp.RequestPending); !errors.Is(err, ErrSyncFailed) {
		t.Errorf("a write after the failure: %v, want ErrSyncFailed", err)
	}
	if _, err := s.RecordDelivery(ctx, "p", "m", otp.DeliveryDelivered, time.Now()); !errors.Is(err, ErrSyncFailed) {
		t.Errorf("RecordDelivery after the failure: %v, want ErrSyncFailed", err)
	}
	if got := f.calls.Load(); got != 2 {
		t.Errorf("%d fsyncs, want 2: none after the failed one", got)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrSyncFailed) {
		t.Errorf("Ping after the failure: %v, want ErrSyncFailed", err)
	}
}

// holder stands for the server's --max-in-flight slot (idle.Releaser): it
// records whether the request held it at each moment the test looks.
type holder struct {
	mu                   sync.Mutex
	held                 bool
	released, reacquired int
}

func (h *holder) Release() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.held {
		return false
	}
	h.held = false
	h.released++
	return true
}

func (h *holder) Reacquire() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = true
	h.reacquired++
}

func (h *holder) holds() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

// TestSlotFreeDuringSync: a unit committed and waiting for the syncer's
// fsync gives its slot back (idle.Wait), and holds it again when Tx returns.
func TestSlotFreeDuringSync(t *testing.T) {
	s, _ := open(t)
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	s.w.syncLog = func(wal *os.File) error { <-gate; return wal.Sync() }
	h := &holder{held: true}
	ctx := idle.With(context.Background(), h)
	ran := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.Tx(ctx, func(tx otp.Tx) error {
			if !h.holds() {
				t.Error("the unit ran without its slot")
			}
			close(ran)
			return tx.AddEvent(otp.EventSend, "s", time.Now())
		})
	}()
	<-ran
	waitFor(t, func() bool { return !h.holds() })
	select {
	case err := <-errc:
		t.Fatalf("Tx returned before its fsync: %v", err)
	default:
	}
	open()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !h.holds() || h.released != 1 || h.reacquired != 1 {
		t.Errorf("after Tx: held %v, released %d, reacquired %d; want held, 1, 1", h.holds(), h.released, h.reacquired)
	}
}
