package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// Actor says who causes a change: the user, the tenant, the projects the
// caller acts for, whether it is an admin, and the request id that ties the
// change to the request that asked for it.
//
// The actor travels in the context: the HTTP middleware (or the embedder)
// puts it there with NewContext, and every service of the library reads it
// with FromContext, for the audit entry and, where a package says so, to
// limit what the caller may see and change. A context without an actor is
// an anonymous caller with no restriction: an embedder doing its own
// authorisation.
type Actor struct {
	User   string `json:"user,omitempty"`
	Tenant string `json:"tenant,omitempty"`
	// Projects are the projects the caller acts for. Empty means the
	// caller is not limited to projects.
	Projects []string `json:"projects,omitempty"`
	// Admin is set for a caller that may act on every project and on the
	// partition-wide resources (super networks, sizes, switches).
	Admin     bool   `json:"admin,omitempty"`
	RequestID string `json:"rqid,omitempty"`
}

// Scoped reports whether the actor is limited to its projects: it names
// projects and is no admin. The library's services then limit every
// operation on a project-owned resource to those projects, and refuse the
// operations reserved to admins.
func (a Actor) Scoped() bool { return !a.Admin && len(a.Projects) > 0 }

// ActsFor reports whether the actor may act for project: an admin or an
// actor without projects always, otherwise when project is one of its
// Projects.
func (a Actor) ActsFor(project string) bool {
	return a.Admin || len(a.Projects) == 0 || slices.Contains(a.Projects, project)
}

// project is the project an entry records for the actor: its only project,
// or empty when it has none or several.
func (a Actor) project() string {
	if len(a.Projects) == 1 {
		return a.Projects[0]
	}
	return ""
}

type actorKey struct{}

// NewContext returns a copy of ctx that carries actor.
func NewContext(ctx context.Context, actor Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// FromContext returns the actor ctx carries and whether it carries one.
func FromContext(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// Recorder collects what one transaction attempt of a library operation
// must record: event entries, and functions to run once the transaction
// has committed (waking waiters, for instance). Update makes one per
// attempt; the library's operations receive it with their transaction.
//
// When the trail is stored in the transaction's store, Record writes the
// entry inside the transaction, so that it commits or rolls back with the
// change and a retried transaction leaves exactly one. When the trail has
// a store of its own, the entries are written right after the commit; a
// crash in between loses them, and a failure to write them is logged
// without undoing the change. A Recorder of a nil Trail records nothing
// but still runs AfterCommit functions. The nil *Recorder records nothing
// and drops AfterCommit functions.
type Recorder struct {
	ctx     context.Context
	trail   *Trail
	tx      backends.Tx
	inTx    bool
	rqid    string
	quiet   bool
	parent  *Recorder
	pending []Entry
	after   []func()
}

// Record records one committed change of the library: an entry of type
// event and phase single with the operation as detail (e.g.
// "network.allocatechild"), the entity as path (e.g. "network/<id>") and
// the operation's input as body (encoded as JSON, then redacted by the
// trail). User, tenant, project and request id come from the actor in the
// context; entries of one transaction without a request id share a new
// one.
func (r *Recorder) Record(detail, path string, body any) error {
	if !r.Records() {
		return nil
	}
	e := r.trail.eventEntry(r.ctx, r.requestID(), detail, path, body)
	if r.inTx {
		return r.trail.WriteTx(r.tx, &e)
	}
	r.pending = append(r.pending, e)
	return nil
}

// Records reports whether Record writes entries: false for a nil Recorder,
// a quiet one, or one without a trail. A caller whose entry is costly to
// describe checks it first.
func (r *Recorder) Records() bool { return r != nil && !r.quiet && r.trail != nil }

func (r *Recorder) requestID() string {
	if r.rqid == "" {
		if a, ok := FromContext(r.ctx); ok && a.RequestID != "" {
			r.rqid = a.RequestID
		} else {
			r.rqid = r.trail.ids()
		}
	}
	return r.rqid
}

// AfterCommit runs fn once the transaction has committed, after its audit
// entries are written; it is dropped when the transaction fails or runs
// again. fn must not block.
func (r *Recorder) AfterCommit(fn func()) {
	switch {
	case r == nil:
	case r.parent != nil:
		r.parent.AfterCommit(fn)
	default:
		r.after = append(r.after, fn)
	}
}

// Quiet returns a Recorder for an operation that runs inside another one:
// it records no entries (the outer operation records the change once) but
// passes AfterCommit functions on to r.
func (r *Recorder) Quiet() *Recorder {
	if r == nil {
		return nil
	}
	return &Recorder{ctx: r.ctx, quiet: true, parent: r}
}

// Update runs fn in store.Update with a new Recorder for each attempt, then,
// once committed, writes the entries that could not go into the transaction
// and runs the AfterCommit functions. trail may be nil. It returns what
// store.Update returns.
func Update(ctx context.Context, trail *Trail, store backends.Store, fn func(tx backends.Tx, rec *Recorder) error) error {
	var rec *Recorder
	inTx := trail != nil && trail.shares(store)
	err := store.Update(ctx, func(tx backends.Tx) error {
		rec = &Recorder{ctx: ctx, trail: trail, tx: tx, inTx: inTx}
		return fn(tx, rec)
	})
	if err != nil {
		return err
	}
	rec.tx = nil
	if len(rec.pending) > 0 {
		trail.writeAfterCommit(ctx, rec.pending)
	}
	for _, f := range rec.after {
		f()
	}
	return nil
}

// Do is Update for a function with a result: the result of the committed
// attempt, or the zero value and the error.
func Do[T any](ctx context.Context, trail *Trail, store backends.Store, fn func(tx backends.Tx, rec *Recorder) (T, error)) (T, error) {
	var out T
	err := Update(ctx, trail, store, func(tx backends.Tx, rec *Recorder) error {
		var err error
		out, err = fn(tx, rec)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// View runs fn in store.View and returns its result.
func View[T any](ctx context.Context, store backends.Store, fn func(tx backends.Tx) (T, error)) (T, error) {
	var out T
	err := store.View(ctx, func(tx backends.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// writeAfterCommit writes the entries of a committed change to the trail's
// own store in one transaction; a failure is logged.
func (t *Trail) writeAfterCommit(ctx context.Context, entries []Entry) {
	err := t.store.Update(context.WithoutCancel(ctx), func(tx backends.Tx) error {
		for i := range entries {
			e := entries[i]
			if err := t.WriteTx(tx, &e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for _, e := range entries {
			t.log.Error("audit: event entry lost after its change committed",
				"detail", e.Detail, "path", e.Path, "rqid", e.RequestID, "error", err)
		}
	}
}

// eventEntry builds the entry of a library event.
func (t *Trail) eventEntry(ctx context.Context, rqid, detail, path string, body any) Entry {
	actor, _ := FromContext(ctx)
	e := Entry{
		Type:      TypeEvent,
		Phase:     PhaseSingle,
		RequestID: rqid,
		User:      actor.User,
		Tenant:    actor.Tenant,
		Project:   actor.project(),
		Detail:    detail,
		Path:      path,
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			// The change must not fail for its audit body: keep its text.
			b, _ = json.Marshal(fmt.Sprintf("%+v", body))
		}
		e.Body = b
	}
	return e
}

// Scope is what a service knows of its caller to limit it to its
// projects: the actor in the context and whether it is scoped.
type Scope struct {
	Actor  Actor
	Scoped bool
}

// ScopeOf returns the scope of the caller in ctx.
func ScopeOf(ctx context.Context) Scope {
	a, _ := FromContext(ctx)
	return Scope{Actor: a, Scoped: a.Scoped()}
}

// Owns reports whether the caller may act for project.
func (s Scope) Owns(project string) bool { return !s.Scoped || s.Actor.ActsFor(project) }

// AdminOnly returns an error of class errdefs.ErrForbidden, saying that op
// needs an admin, when the caller is scoped; nil otherwise. Services wrap
// it in their own ErrForbidden.
func (s Scope) AdminOnly(op string) error {
	if !s.Scoped {
		return nil
	}
	return errdefs.Errorf(errdefs.ErrForbidden, "%s needs an admin; user %s acts for projects %v only", op, errdefs.Quote(s.Actor.User), s.Actor.Projects)
}

// ForProject returns an error of class errdefs.ErrForbidden, naming field
// and project, when the caller may not act for project; nil otherwise.
func (s Scope) ForProject(field, project string) error {
	if s.Owns(project) {
		return nil
	}
	return errdefs.Errorf(errdefs.ErrForbidden, "%s %s: user %s does not act for this project", field, errdefs.Quote(project), errdefs.Quote(s.Actor.User))
}
