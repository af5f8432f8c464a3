package machine

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

// Catalog answers for the entities of the embedding program: partitions,
// projects, images and quotas. A method returns nil when the id is fine, an
// error wrapping errdefs.ErrNotFound when it is absent and one wrapping
// errdefs.ErrInvalidArgument when it is unusable (an image that is not for
// the role, or not for the size). Quota reports the most allocations of a
// role a project may hold, and whether there is such a limit at all.
//
// The service's own methods run the hooks before their transaction opens,
// with the caller's ctx, and a hook error is returned wrapped with nothing
// written. The methods of a Tx run them inside the caller's transaction, so
// they run again whenever the store retries it: a hook must have no side
// effect and should be fast. Embed AcceptAll to implement only some.
type Catalog interface {
	network.Catalog
	Image(ctx context.Context, imageID, role, sizeID string) error
	Quota(ctx context.Context, projectID, role string) (max int, set bool, err error)
}

// AcceptAll is a Catalog that accepts every id and sets no quota.
type AcceptAll struct{ network.AcceptAll }

// Image accepts every image.
func (AcceptAll) Image(context.Context, string, string, string) error { return nil }

// Quota sets no limit.
func (AcceptAll) Quota(context.Context, string, string) (int, bool, error) { return 0, false, nil }

// DefaultWaitPoll is how often Wait re-reads a machine when no commit of
// this process wakes it (an allocation made by another process).
const DefaultWaitPoll = 60 * time.Second

// Options configures a Service. The zero value (or nil) means the wall
// clock in UTC, random UUIDs, no catalog checks, no audit trail, network
// and switch services of the same store and options, and a randomly seeded
// source for picking machines.
type Options struct {
	// Clock returns the time of a change; default time.Now in UTC.
	Clock func() time.Time
	// IDs returns new ids (sizes, reservations, allocations); default
	// random UUIDs.
	IDs func() string
	// Catalog checks partitions, projects, images and quotas; nil accepts
	// everything.
	Catalog Catalog
	// Trail records an event entry for every committed change; nil records
	// nothing.
	Trail *audit.Trail
	// Networks is the network service the machines' IPs come from; nil
	// makes one over the same store with Clock, IDs and Catalog.
	Networks *network.Service
	// Switches is the switch service the machines are wired to; nil makes
	// one over the same store with Clock and Catalog.
	Switches *switchstate.Service
	// Rand picks among the candidates of an allocation by size, so a fixed
	// seed repeats the pick. The service serialises its use. Nil seeds one
	// at random.
	Rand *rand.Rand
	// WaitPoll is how often Wait re-reads the machine; default
	// DefaultWaitPoll.
	WaitPoll time.Duration
	// AuditEvents records provisioning events and the waiting flag in the
	// trail too; they are high-rate telemetry and not recorded by default.
	AuditEvents bool
	// AuditLiveliness records liveliness changes in the trail too; not
	// recorded by default.
	AuditLiveliness bool
}

// Service manages sizes, size reservations, machines and firewalls. Each
// method runs its operation in one transaction of its own (Store.Update,
// with one audit event per committed change; Store.View for reads); Bind
// gives the same operations inside a transaction the caller holds, so that
// they commit together with other packages' operations. The caller is the
// audit.Actor in ctx. Service is safe for concurrent use.
type Service struct {
	store    backends.Store
	clock    func() time.Time
	ids      func() string
	catalog  Catalog
	trail    *audit.Trail
	networks *network.Service
	switches *switchstate.Service
	poll     time.Duration
	opts     Options

	randMu sync.Mutex
	rand   *rand.Rand

	waiters waiters
}

// New returns a Service over store.
func New(store backends.Store, opts *Options) *Service {
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &Service{store: store, clock: o.Clock, ids: o.IDs, catalog: o.Catalog, trail: o.Trail,
		networks: o.Networks, switches: o.Switches, poll: o.WaitPoll, rand: o.Rand, opts: o}
	if s.clock == nil {
		s.clock = func() time.Time { return time.Now().UTC() }
	}
	if s.ids == nil {
		s.ids = uuid.NewString
	}
	if s.catalog == nil {
		s.catalog = AcceptAll{}
	}
	if s.networks == nil {
		s.networks = network.New(store, &network.Options{Clock: s.clock, IDs: s.ids, Catalog: s.catalog, Trail: s.trail})
	}
	if s.switches == nil {
		s.switches = switchstate.New(store, &switchstate.Options{Clock: s.clock, Catalog: s.catalog, Trail: s.trail})
	}
	if s.poll <= 0 {
		s.poll = DefaultWaitPoll
	}
	if s.rand == nil {
		s.rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	s.waiters.m = map[string]map[chan struct{}]struct{}{}
	return s
}

// Tx is the Service bound to one transaction: every method runs its
// operation inside that transaction with the service's clock, ids, catalog
// and trail, and records its audit event through the transaction's
// Recorder, so that it commits, or not, with everything else the
// transaction does. A Tx is valid only while its transaction runs; its
// methods must not be called concurrently.
type Tx struct {
	s   *Service
	ctx context.Context
	tx  backends.Tx
	rec *audit.Recorder
	// checked is set when the service validated the request and ran the
	// catalog hooks before the transaction opened (see mutate); a Tx of
	// Bind does both itself.
	checked bool
	// scope limits a scoped caller to its projects (see scope.go).
	scope scope
}

// Bind returns the Service bound to tx, a transaction of the service's
// store. ctx carries the caller (audit.Actor) and is passed to the catalog
// hooks; rec records the events of the changes and runs the wake-ups of
// waiting machines after the commit (nil records none and wakes no one).
func (s *Service) Bind(ctx context.Context, tx backends.Tx, rec *audit.Recorder) *Tx {
	return &Tx{s: s, ctx: ctx, tx: tx, rec: rec, scope: scopeOf(ctx)}
}

// Backend returns the transaction the Tx is bound to.
func (t *Tx) Backend() backends.Tx { return t.tx }

// mutate runs fn on a Tx bound to a new transaction, with the catalog hooks
// already run and the request validated by the caller.
func mutate[T any](ctx context.Context, s *Service, fn func(t *Tx) (T, error)) (T, error) {
	return audit.Do(ctx, s.trail, s.store, func(tx backends.Tx, rec *audit.Recorder) (T, error) {
		t := s.Bind(ctx, tx, rec)
		t.checked = true
		return fn(t)
	})
}

// read runs fn on a Tx bound to a new read-only transaction.
func read[T any](ctx context.Context, s *Service, fn func(t *Tx) (T, error)) (T, error) {
	return audit.View(ctx, s.store, func(tx backends.Tx) (T, error) { return fn(s.Bind(ctx, tx, nil)) })
}

// networkTx is the network service bound to t's transaction; its
// operations record no events of their own (the machine operation records
// the change once).
func (t *Tx) networkTx() *network.Tx { return t.s.networks.Bind(t.ctx, t.tx, t.rec.Quiet()) }

// now is the time of the operation.
func (t *Tx) now() time.Time { return t.s.clock() }

// record records the operation's audit event.
func (t *Tx) record(detail, path string, body any) error { return t.rec.Record(detail, path, body) }

// saveMachine stores m as e's machine and records the operation's audit
// event with detail and body.
func (t *Tx) saveMachine(e *entry, m *Machine, detail string, body any) (*Machine, error) {
	e.m = m
	if err := e.save(t.tx); err != nil {
		return nil, err
	}
	return m, t.record(detail, machinePath(e.id), body)
}

func machinePath(id string) string { return "machine/" + id }

// caller is the user in ctx, "" without one.
func caller(ctx context.Context) string {
	a, _ := audit.FromContext(ctx)
	return a.User
}

// hookError wraps a catalog hook's error; an absent entity also matches
// ErrNotFound, an unusable one ErrInvalidArgument.
func hookError(field, id string, err error) error {
	var kind error
	switch errdefs.Class(err) {
	case errdefs.ErrNotFound:
		kind = ErrNotFound
	case errdefs.ErrInvalidArgument:
		kind = ErrInvalidArgument
	}
	return errdefs.Errorf(kind, "machine: %s %s: %w", field, q(id), err)
}

func (s *Service) checkPartition(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if err := s.catalog.Partition(ctx, id); err != nil {
		return hookError("partitionid", id, err)
	}
	return nil
}

func (s *Service) checkProject(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if err := s.catalog.Project(ctx, id); err != nil {
		return hookError("projectid", id, err)
	}
	return nil
}

func (s *Service) checkImage(ctx context.Context, image string, role Role, size string) error {
	if err := s.catalog.Image(ctx, image, string(role), size); err != nil {
		return hookError("imageid", image, err)
	}
	return nil
}

// waiters are the channels of the Wait calls of this process, per machine.
type waiters struct {
	mu sync.Mutex
	m  map[string]map[chan struct{}]struct{}
}

func (w *waiters) add(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[id] == nil {
		w.m[id] = map[chan struct{}]struct{}{}
	}
	w.m[id][ch] = struct{}{}
	return ch
}

func (w *waiters) remove(id string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m[id], ch)
	if len(w.m[id]) == 0 {
		delete(w.m, id)
	}
}

// wake wakes every Wait of machine id in this process.
func (w *waiters) wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.m[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// wakeAfterCommit wakes the waiters of machine id once t commits.
func (t *Tx) wakeAfterCommit(id string) {
	t.rec.AfterCommit(func() { t.s.waiters.wake(id) })
}
