// Package idle lets a request say that it waits for something outside the
// process (the disk, a provider), so that whatever bounds the requests at
// work at once (the server's --max-in-flight slots) can let another one work
// meanwhile. The server puts a Releaser in the request's context; the code
// that waits (the SQLite writer waiting for its fsync) calls Wait. Neither
// imports the other.
package idle

import "context"

// Releaser is a request's hold on a bound of work at once.
type Releaser interface {
	// Release gives the hold back and reports whether it held one.
	Release() bool
	// Reacquire takes a hold again after Release; it may wait, and is
	// never refused: the request has work left that it must finish.
	Reacquire()
}

type key struct{}

// With returns ctx carrying r.
func With(ctx context.Context, r Releaser) context.Context {
	return context.WithValue(ctx, key{}, r)
}

// Wait runs wait, which only waits, with ctx's hold given back meanwhile,
// and takes a hold again before it returns. Without a Releaser in ctx it
// just runs wait. wait must run in the goroutine of the request that owns
// the hold.
func Wait(ctx context.Context, wait func()) {
	r, ok := ctx.Value(key{}).(Releaser)
	if !ok || !r.Release() {
		wait()
		return
	}
	defer r.Reacquire()
	wait()
}
