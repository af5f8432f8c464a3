package network

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// Catalog answers whether partitions and projects exist; they belong to the
// embedding program. A method returns nil when the id is fine, an error
// wrapping errdefs.ErrNotFound (or ErrNotFound) when it is absent.
//
// The service's own methods run the hooks once, before their transaction
// opens, with the caller's ctx. The methods of a Tx (bound to a transaction
// the caller holds) run them inside that transaction, so they run again
// whenever the store retries it: a hook must have no side effect and should
// be fast.
type Catalog interface {
	Partition(ctx context.Context, id string) error
	Project(ctx context.Context, id string) error
}

// AcceptAll is a Catalog that accepts every id. Embed it to implement only
// some methods.
type AcceptAll struct{}

// Partition accepts every partition.
func (AcceptAll) Partition(context.Context, string) error { return nil }

// Project accepts every project.
func (AcceptAll) Project(context.Context, string) error { return nil }

// Options configures a Service. The zero value (or nil) means the wall
// clock in UTC, random UUIDs, no catalog checks and no audit trail.
type Options struct {
	// Clock returns the time of a change; default time.Now in UTC.
	Clock func() time.Time
	// IDs returns new ids for networks and IP allocations; default random
	// UUIDs.
	IDs func() string
	// Catalog checks partition and project ids; nil accepts every id.
	Catalog Catalog
	// Trail records an event entry for every committed change; nil records
	// nothing.
	Trail *audit.Trail
}

// Service runs the network operations, each in its own store transaction
// (Store.Update for changes, with one audit event per committed change;
// Store.View for reads). Bind gives the same operations inside a
// transaction the caller already holds. The caller is the audit.Actor in
// ctx; a caller scoped to projects is limited to them (see the package
// documentation). Service is safe for concurrent use.
type Service struct {
	store   backends.Store
	clock   func() time.Time
	ids     func() string
	catalog Catalog
	trail   *audit.Trail
}

// New returns a Service over store.
func New(store backends.Store, opts *Options) *Service {
	if opts == nil {
		opts = &Options{}
	}
	s := &Service{store: store, clock: opts.Clock, ids: opts.IDs, catalog: opts.Catalog, trail: opts.Trail}
	if s.clock == nil {
		s.clock = func() time.Time { return time.Now().UTC() }
	}
	if s.ids == nil {
		s.ids = uuid.NewString
	}
	if s.catalog == nil {
		s.catalog = AcceptAll{}
	}
	return s
}

// Tx is the Service bound to one transaction: every method runs its
// operation inside that transaction with the service's clock, ids, catalog
// and trail, and a change records its audit event through the
// transaction's Recorder, so that it commits, or not, together with
// everything else the transaction does. A Tx is valid only while its
// transaction runs; its methods must not be called concurrently.
type Tx struct {
	s   *Service
	ctx context.Context
	tx  backends.Tx
	rec *audit.Recorder
	// checked is set when the service ran the catalog hooks before the
	// transaction opened.
	checked bool
	// scope limits a scoped caller to its projects (see scope.go).
	scope scope
}

// Bind returns the Service bound to tx, a transaction of the service's
// store. ctx carries the caller (audit.Actor) and is passed to the catalog
// hooks. rec records the events of the changes; a nil rec records none (an
// operation composed into another one that records the change itself).
func (s *Service) Bind(ctx context.Context, tx backends.Tx, rec *audit.Recorder) *Tx {
	return &Tx{s: s, ctx: ctx, tx: tx, rec: rec, scope: scopeOf(ctx)}
}

// Backend returns the transaction the Tx is bound to.
func (t *Tx) Backend() backends.Tx { return t.tx }

// Env returns the time and id source an operation of t uses.
func (t *Tx) Env() Env { return Env{Now: t.s.clock(), NewID: t.s.ids} }

// mutate runs fn on a Tx bound to a new transaction, with the catalog
// hooks already run by the caller.
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

// checkRefs runs the catalog hooks for a partition and a project (empty
// ids are not checked).
func (s *Service) checkRefs(ctx context.Context, partition, project string) error {
	if partition != "" {
		if err := s.catalog.Partition(ctx, partition); err != nil {
			return hookError("partitionid", partition, err)
		}
	}
	if project != "" {
		if err := s.catalog.Project(ctx, project); err != nil {
			return hookError("projectid", project, err)
		}
	}
	return nil
}

// hookError wraps the error of a catalog hook; an absent id also matches
// ErrNotFound.
func hookError(field, id string, err error) error {
	var kind error
	if errdefs.Class(err) == errdefs.ErrNotFound {
		kind = ErrNotFound
	}
	return errdefs.Errorf(kind, "network: %s %s: %w", field, errdefs.Quote(id), err)
}

func (t *Tx) checkRefs(partition, project string) error {
	if t.checked {
		return nil
	}
	return t.s.checkRefs(t.ctx, partition, project)
}

// recorded records the event of a change that succeeded and returns v.
func recorded[T any](t *Tx, v T, err error, detail string, path func(T) string, body any) (T, error) {
	if err == nil && t.rec.Records() {
		err = t.rec.Record(detail, path(v), body)
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

func networkPath(n *Network) string { return "network/" + n.ID }
func ipPath(ip *IP) string          { return "ip/" + ip.IPAddress.String() }

// Create creates a super, underlay or external network (an admin's
// operation) and returns it with its consumption. See CreateTx.
func (t *Tx) Create(req CreateRequest) (*Network, error) {
	if err := t.scope.adminOnly("creating a network"); err != nil {
		return nil, err
	}
	if err := t.checkRefs(req.PartitionID, req.ProjectID); err != nil {
		return nil, err
	}
	n, err := CreateTx(t.tx, t.Env(), req)
	n, err = withUsage(t.tx, n, err)
	return recorded(t, n, err, "network.create", networkPath, req)
}

// Update changes a network (an admin's operation). See UpdateTx.
func (t *Tx) Update(req UpdateRequest) (*Network, error) {
	if t.scope.Scoped {
		if _, err := t.ownNetwork(req.ID, "update"); err != nil {
			return nil, err
		}
		if req.Shared != nil && *req.Shared {
			if err := t.scope.adminOnly("making a network shared"); err != nil {
				return nil, err
			}
		}
		if req.Prefixes != nil || req.DestinationPrefixes != nil || req.DefaultChildPrefixLength != nil || req.AdditionalAnnouncableCIDRs != nil {
			if err := t.scope.adminOnly("changing the prefixes of a network"); err != nil {
				return nil, err
			}
		}
	}
	n, err := UpdateTx(t.tx, t.Env(), req)
	n, err = withUsage(t.tx, n, err)
	return recorded(t, n, err, "network.update", networkPath, req)
}

// AllocateChild allocates a child network of the partition's super network
// for a project. See AllocateChildTx.
func (t *Tx) AllocateChild(req AllocateRequest) (*Network, error) {
	if err := t.scope.project("projectid", req.ProjectID); err != nil {
		return nil, err
	}
	if req.Shared {
		if err := t.scope.adminOnly("allocating a shared network"); err != nil {
			return nil, err
		}
	}
	if err := t.checkRefs(req.PartitionID, req.ProjectID); err != nil {
		return nil, err
	}
	n, err := AllocateChildTx(t.tx, t.Env(), req)
	n, err = withUsage(t.tx, n, err)
	return recorded(t, n, err, "network.allocatechild", networkPath, req)
}

// Free frees a child network (a user's operation): its blocks and its VRF
// return, in one step. It fails while the child holds IPs. See FreeTx.
func (t *Tx) Free(id string) (*Network, error) {
	if t.scope.Scoped {
		if _, err := t.ownNetwork(id, "free"); err != nil {
			return nil, err
		}
	}
	n, err := FreeTx(t.tx, id)
	return recorded(t, n, err, "network.free", networkPath, map[string]string{"id": id})
}

// Delete deletes a network (an admin's operation). It fails while the
// network has children or holds IPs. See DeleteTx.
func (t *Tx) Delete(id string) (*Network, error) {
	if err := t.scope.adminOnly("deleting a network"); err != nil {
		return nil, err
	}
	n, err := DeleteTx(t.tx, id)
	return recorded(t, n, err, "network.delete", networkPath, map[string]string{"id": id})
}

// Get returns a network with its consumption.
func (t *Tx) Get(id string) (*Network, error) {
	n, err := t.visibleNetwork(id)
	if err != nil {
		return nil, err
	}
	return n, withConsumption(t.tx, n)
}

// List returns the networks matching f, ordered by id, with consumption.
func (t *Tx) List(f Filter) ([]*Network, error) {
	list, err := ListTx(t.tx, f)
	if err != nil || !t.scope.Scoped {
		return list, err
	}
	return slices.DeleteFunc(list, func(n *Network) bool { return !t.scope.seesNetwork(n) }), nil
}

// AllocateIP allocates an IP of a network. See AllocateIPTx.
func (t *Tx) AllocateIP(req AllocateIPRequest) (*IP, error) {
	if t.scope.Scoped {
		if err := t.scope.project("projectid", req.ProjectID); err != nil {
			return nil, err
		}
		n, err := t.visibleNetwork(req.NetworkID)
		if err != nil {
			return nil, err
		}
		if n.PrivateSuper {
			if err := t.scope.adminOnly("taking an IP directly from a private super network"); err != nil {
				return nil, err
			}
		}
	}
	if err := t.checkRefs("", req.ProjectID); err != nil {
		return nil, err
	}
	ip, err := AllocateIPTx(t.tx, t.Env(), req)
	return recorded(t, ip, err, "ip.allocate", ipPath, req)
}

// UpdateIP changes an IP's name, description, tags or type. See UpdateIPTx.
func (t *Tx) UpdateIP(req UpdateIPRequest) (*IP, error) {
	if _, err := t.GetIP(req.IPAddress); err != nil {
		return nil, err
	}
	ip, err := UpdateIPTx(t.tx, t.Env(), req)
	return recorded(t, ip, err, "ip.update", ipPath, req)
}

// FreeIP releases an IP that is not bound to a machine. See FreeIPTx.
func (t *Tx) FreeIP(addr netip.Addr) (*IP, error) {
	if t.scope.Scoped {
		if _, err := t.GetIP(addr); err != nil {
			return nil, err
		}
	}
	ip, err := FreeIPTx(t.tx, addr)
	return recorded(t, ip, err, "ip.free", ipPath, map[string]string{"ipaddress": addr.String()})
}

// GetIP returns the IP record of an address.
func (t *Tx) GetIP(addr netip.Addr) (*IP, error) {
	ip, err := GetIPTx(t.tx, addr)
	if err != nil {
		return nil, err
	}
	if !t.scope.seesIP(ip) {
		return nil, errdefs.Errorf(ErrNotFound, "network: ip %s is not allocated", addr)
	}
	return ip, nil
}

// ListIPs returns the IPs matching f in address order.
func (t *Tx) ListIPs(f IPFilter) ([]*IP, error) {
	list, err := ListIPsTx(t.tx, f)
	if err != nil || !t.scope.Scoped {
		return list, err
	}
	return slices.DeleteFunc(list, func(ip *IP) bool { return !t.scope.seesIP(ip) }), nil
}

// Create runs Tx.Create in its own transaction; the catalog hooks run
// before it opens.
func (s *Service) Create(ctx context.Context, req CreateRequest) (*Network, error) {
	if err := s.checkRefs(ctx, req.PartitionID, req.ProjectID); err != nil {
		return nil, err
	}
	if req.ID == "" {
		req.ID = s.ids() // one id, however often the transaction runs
	}
	return mutate(ctx, s, func(t *Tx) (*Network, error) { return t.Create(req) })
}

// Update runs Tx.Update in its own transaction.
func (s *Service) Update(ctx context.Context, req UpdateRequest) (*Network, error) {
	return mutate(ctx, s, func(t *Tx) (*Network, error) { return t.Update(req) })
}

// AllocateChild runs Tx.AllocateChild in its own transaction; the catalog
// hooks run before it opens.
func (s *Service) AllocateChild(ctx context.Context, req AllocateRequest) (*Network, error) {
	if err := s.checkRefs(ctx, req.PartitionID, req.ProjectID); err != nil {
		return nil, err
	}
	return mutate(ctx, s, func(t *Tx) (*Network, error) { return t.AllocateChild(req) })
}

// Free runs Tx.Free in its own transaction.
func (s *Service) Free(ctx context.Context, id string) (*Network, error) {
	return mutate(ctx, s, func(t *Tx) (*Network, error) { return t.Free(id) })
}

// Delete runs Tx.Delete in its own transaction.
func (s *Service) Delete(ctx context.Context, id string) (*Network, error) {
	return mutate(ctx, s, func(t *Tx) (*Network, error) { return t.Delete(id) })
}

// Get runs Tx.Get in its own read transaction.
func (s *Service) Get(ctx context.Context, id string) (*Network, error) {
	return read(ctx, s, func(t *Tx) (*Network, error) { return t.Get(id) })
}

// List runs Tx.List in its own read transaction.
func (s *Service) List(ctx context.Context, f Filter) ([]*Network, error) {
	return read(ctx, s, func(t *Tx) ([]*Network, error) { return t.List(f) })
}

// AllocateIP runs Tx.AllocateIP in its own transaction; the catalog hook
// runs before it opens.
func (s *Service) AllocateIP(ctx context.Context, req AllocateIPRequest) (*IP, error) {
	if err := s.checkRefs(ctx, "", req.ProjectID); err != nil {
		return nil, err
	}
	return mutate(ctx, s, func(t *Tx) (*IP, error) { return t.AllocateIP(req) })
}

// UpdateIP runs Tx.UpdateIP in its own transaction.
func (s *Service) UpdateIP(ctx context.Context, req UpdateIPRequest) (*IP, error) {
	return mutate(ctx, s, func(t *Tx) (*IP, error) { return t.UpdateIP(req) })
}

// FreeIP runs Tx.FreeIP in its own transaction.
func (s *Service) FreeIP(ctx context.Context, addr netip.Addr) (*IP, error) {
	return mutate(ctx, s, func(t *Tx) (*IP, error) { return t.FreeIP(addr) })
}

// GetIP runs Tx.GetIP in its own read transaction.
func (s *Service) GetIP(ctx context.Context, addr netip.Addr) (*IP, error) {
	return read(ctx, s, func(t *Tx) (*IP, error) { return t.GetIP(addr) })
}

// ListIPs runs Tx.ListIPs in its own read transaction.
func (s *Service) ListIPs(ctx context.Context, f IPFilter) ([]*IP, error) {
	return read(ctx, s, func(t *Tx) ([]*IP, error) { return t.ListIPs(f) })
}

// withUsage adds consumption to the network a transaction function
// returns.
func withUsage(tx backends.Tx, n *Network, err error) (*Network, error) {
	if err != nil {
		return nil, err
	}
	return n, withConsumption(tx, n)
}
