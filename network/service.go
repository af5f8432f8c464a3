package network

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
)

// Catalog answers whether partitions and projects exist; they belong to the
// embedding program. A method returns nil when the id is fine, an error
// wrapping ErrNotFound when it is absent. Hooks run before the transaction
// opens, with the caller's ctx.
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
// clock, random UUIDs, no catalog checks and no audit trail.
type Options struct {
	// Clock returns the time of a change; default time.Now (UTC).
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

// Service runs the network transaction functions in a store. It is safe
// for concurrent use.
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
		s.ids = func() string { return uuid.NewString() }
	}
	if s.catalog == nil {
		s.catalog = AcceptAll{}
	}
	return s
}

func (s *Service) env() Env { return Env{Now: s.clock(), NewID: s.ids} }

func firstActor(actor []audit.Actor) audit.Actor {
	if len(actor) > 0 {
		return actor[0]
	}
	return audit.Actor{}
}

// mutate runs fn in one Update that also records the change's event (when
// the service has a trail) and returns fn's result once committed. fn may
// set the event's path once the entity is known.
func mutate[T any](ctx context.Context, s *Service, actor []audit.Actor, detail, path string, body any, fn func(tx backends.Tx, ev *audit.Event) (T, error)) (T, error) {
	ev := &audit.Event{Actor: firstActor(actor), Detail: detail, Path: path, Body: body}
	var out T
	err := s.trail.Update(ctx, s.store, ev, func(tx backends.Tx) error {
		var err error
		out, err = fn(tx, ev)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// view runs fn in one View and returns its result.
func view[T any](ctx context.Context, s *Service, fn func(tx backends.Tx) (T, error)) (T, error) {
	var out T
	err := s.store.View(ctx, func(tx backends.Tx) error {
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

// withUsage adds consumption to the network a transaction function
// returns.
func withUsage(tx backends.Tx, n *Network, err error) (*Network, error) {
	if err != nil {
		return nil, err
	}
	return n, withConsumption(tx, n)
}

func (s *Service) checkPartition(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if err := s.catalog.Partition(ctx, id); err != nil {
		return fmt.Errorf("network: partitionid %q: %w", id, err)
	}
	return nil
}

func (s *Service) checkProject(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if err := s.catalog.Project(ctx, id); err != nil {
		return fmt.Errorf("network: projectid %q: %w", id, err)
	}
	return nil
}

// Create creates a super, underlay or external network (an admin's
// operation) and returns it with its consumption.
func (s *Service) Create(ctx context.Context, req CreateRequest, actor ...audit.Actor) (*Network, error) {
	if err := s.checkPartition(ctx, req.PartitionID); err != nil {
		return nil, err
	}
	if err := s.checkProject(ctx, req.ProjectID); err != nil {
		return nil, err
	}
	env := s.env()
	if req.ID == "" {
		req.ID = env.NewID()
	}
	return mutate(ctx, s, actor, "network.create", "network/"+req.ID, req, func(tx backends.Tx, _ *audit.Event) (*Network, error) {
		n, err := CreateTx(tx, env, req)
		return withUsage(tx, n, err)
	})
}

// Update changes a network (an admin's operation).
func (s *Service) Update(ctx context.Context, req UpdateRequest, actor ...audit.Actor) (*Network, error) {
	env := s.env()
	return mutate(ctx, s, actor, "network.update", "network/"+req.ID, req, func(tx backends.Tx, _ *audit.Event) (*Network, error) {
		n, err := UpdateTx(tx, env, req)
		return withUsage(tx, n, err)
	})
}

// AllocateChild allocates a child network of the partition's super network
// for a project.
func (s *Service) AllocateChild(ctx context.Context, req AllocateRequest, actor ...audit.Actor) (*Network, error) {
	if err := s.checkPartition(ctx, req.PartitionID); err != nil {
		return nil, err
	}
	if err := s.checkProject(ctx, req.ProjectID); err != nil {
		return nil, err
	}
	env := s.env()
	id := env.NewID()
	env.NewID = func() string { return id }
	return mutate(ctx, s, actor, "network.allocatechild", "network/"+id, req, func(tx backends.Tx, _ *audit.Event) (*Network, error) {
		n, err := AllocateChildTx(tx, env, req)
		return withUsage(tx, n, err)
	})
}

// Free frees a child network (a user's operation): its blocks and its VRF
// return, in one step. It fails while the child holds IPs.
func (s *Service) Free(ctx context.Context, id string, actor ...audit.Actor) (*Network, error) {
	return mutate(ctx, s, actor, "network.free", "network/"+id, map[string]string{"id": id}, func(tx backends.Tx, _ *audit.Event) (*Network, error) {
		return FreeTx(tx, id)
	})
}

// Delete deletes a network (an admin's operation). It fails while the
// network has children or holds IPs.
func (s *Service) Delete(ctx context.Context, id string, actor ...audit.Actor) (*Network, error) {
	return mutate(ctx, s, actor, "network.delete", "network/"+id, map[string]string{"id": id}, func(tx backends.Tx, _ *audit.Event) (*Network, error) {
		return DeleteTx(tx, id)
	})
}

// Get returns a network with its consumption.
func (s *Service) Get(ctx context.Context, id string) (*Network, error) {
	return view(ctx, s, func(tx backends.Tx) (*Network, error) { return GetWithConsumptionTx(tx, id) })
}

// List returns the networks matching f, ordered by id, with consumption.
func (s *Service) List(ctx context.Context, f Filter) ([]*Network, error) {
	return view(ctx, s, func(tx backends.Tx) ([]*Network, error) { return ListTx(tx, f) })
}

// AllocateIP allocates an IP of a network.
func (s *Service) AllocateIP(ctx context.Context, req AllocateIPRequest, actor ...audit.Actor) (*IP, error) {
	if err := s.checkProject(ctx, req.ProjectID); err != nil {
		return nil, err
	}
	env := s.env()
	return mutate(ctx, s, actor, "ip.allocate", "ip/", req, func(tx backends.Tx, ev *audit.Event) (*IP, error) {
		ip, err := AllocateIPTx(tx, env, req)
		if err != nil {
			return nil, err
		}
		ev.Path = "ip/" + ip.IPAddress.String()
		return ip, nil
	})
}

// UpdateIP changes an IP's name, description, tags or type.
func (s *Service) UpdateIP(ctx context.Context, req UpdateIPRequest, actor ...audit.Actor) (*IP, error) {
	env := s.env()
	return mutate(ctx, s, actor, "ip.update", "ip/"+req.IPAddress.String(), req, func(tx backends.Tx, _ *audit.Event) (*IP, error) {
		return UpdateIPTx(tx, env, req)
	})
}

// FreeIP releases an IP that is not bound to a machine.
func (s *Service) FreeIP(ctx context.Context, addr netip.Addr, actor ...audit.Actor) (*IP, error) {
	return mutate(ctx, s, actor, "ip.free", "ip/"+addr.String(), map[string]string{"ipaddress": addr.String()}, func(tx backends.Tx, _ *audit.Event) (*IP, error) {
		return FreeIPTx(tx, addr)
	})
}

// GetIP returns the IP record of an address.
func (s *Service) GetIP(ctx context.Context, addr netip.Addr) (*IP, error) {
	return view(ctx, s, func(tx backends.Tx) (*IP, error) { return GetIPTx(tx, addr) })
}

// ListIPs returns the IPs matching f in address order.
func (s *Service) ListIPs(ctx context.Context, f IPFilter) ([]*IP, error) {
	return view(ctx, s, func(tx backends.Tx) ([]*IP, error) { return ListIPsTx(tx, f) })
}
