//go:build !unix

package audit

import "os"

// tryLock does nothing where flock(2) is missing: otpgate targets Linux,
// and elsewhere two processes sharing one file are not prevented.
func tryLock(*os.File) error { return nil }

// canCreateIn leaves the question to the open itself.
func canCreateIn(string) error { return nil }
