//go:build unix

package audit

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes f's exclusive lock without waiting: flock(2), which
// belongs to the open file description, so that it is held until f is
// closed (or the process ends, a crash included) and conflicts even with
// another open of the same file in the same process.
func tryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errHeld
		}
		return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
}

// canCreateIn reports, without creating anything, why a file could not be
// created in dir (nil when it could): the directory must exist and be
// writable and searchable.
func canCreateIn(dir string) error {
	return syscall.Access(dir, 0x2|0x1) // W_OK|X_OK
}
