package audit

import (
	"context"

	"github.com/metalkit/metalkit/backends"
)

// Actor says who caused a change: the user, tenant and project of the
// caller and the request id that ties the change to the request that asked
// for it. Mutating service calls of every metalkit package take an optional
// Actor argument; the HTTP middleware hands a handler its request's Actor
// through ActorOf.
type Actor struct {
	User      string `json:"user,omitempty"`
	Tenant    string `json:"tenant,omitempty"`
	Project   string `json:"project,omitempty"`
	RequestID string `json:"rqid,omitempty"`
}

// Event describes one committed change made by a library service: it
// becomes one entry of type event and phase single.
type Event struct {
	// Actor is who asked for the change; the zero Actor gives empty fields
	// and a new request id.
	Actor Actor
	// Detail is the operation, e.g. "network.allocatechild".
	Detail string
	// Path is the entity, e.g. "network/<id>". The transaction function may
	// set it once the entity's id is known.
	Path string
	// Body is the operation's input; it is encoded as JSON and passed
	// through the trail's Redact function.
	Body any
}

// Update runs fn in store.Update and records ev for the change.
//
// When the trail is stored in store, the entry is written inside the same
// transaction (WriteTx): a rolled-back change leaves no entry and a retried
// transaction commits exactly one. When the trail has its own store, the
// entry is written right after the commit; a failure to write it is logged
// and does not undo the change. A nil *Trail only runs store.Update.
func (t *Trail) Update(ctx context.Context, store backends.Store, ev *Event, fn func(tx backends.Tx) error) error {
	if t == nil {
		return store.Update(ctx, fn)
	}
	return t.update(ctx, store, ev, fn)
}
