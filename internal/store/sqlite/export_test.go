package sqlite

import (
	"context"
	"sync/atomic"
)

// CountStatements returns a context whose Tx calls count in n the
// statements their units run on the writer.
func CountStatements(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, ranKey{}, n)
}
