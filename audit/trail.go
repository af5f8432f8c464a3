// Package audit is metalkit's audit trail: entries of HTTP requests, gRPC
// calls and the library's own changes, stored through backends.Store and
// searchable with one semantics on every adapter.
package audit

import (
	"context"

	"github.com/metalkit/metalkit/backends"
)

// Trail is an audit trail stored in a backends.Store.
type Trail struct{}

func (t *Trail) update(ctx context.Context, store backends.Store, ev *Event, fn func(tx backends.Tx) error) error {
	return store.Update(ctx, fn)
}
