package switchstate

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
)

// Defaults of Options.
const (
	DefaultSyncInterval = 10 * time.Second
	DefaultStaleAfter   = 3
	DefaultBGPHistory   = 64
)

// Catalog answers whether a partition exists; partitions belong to the
// embedding program. Partition returns nil when the id is fine and an
// error wrapping errdefs.ErrNotFound when it is absent. A network.Catalog
// satisfies it.
//
// The service's own methods run the hook once, before their transaction
// opens, with the caller's ctx; the methods of a Tx run it inside the
// caller's transaction, so it runs again whenever the store retries the
// transaction: it must have no side effect.
type Catalog interface {
	Partition(ctx context.Context, id string) error
}

// Options configure a Service. The zero value (or nil) gives the defaults.
type Options struct {
	// Clock returns the current time; default time.Now in UTC.
	Clock func() time.Time

	// Catalog checks the partition of a registering switch; nil accepts
	// every id.
	Catalog Catalog

	// SyncInterval is how often switch agents report; default 10 s.
	SyncInterval time.Duration

	// StaleAfter is the number of sync intervals after which the BGP
	// states of a switch that stopped reporting are marked Stale; default
	// 3.
	StaleAfter int

	// BGPHistory is the number of transitions kept per port; default 64.
	BGPHistory int

	// PortsRenamed, when set, runs inside the transaction of Register (in
	// replace mode) and Migrate with every connection that moved to a new
	// switch port, so that the machines' LLDP neighbour entries can be
	// rewritten in the same transaction. An error rolls the operation back.
	// It may run more than once per call (see backends.Store.Update).
	PortsRenamed func(tx backends.Tx, renames []PortRename) error

	// Trail receives one audit event per committed change; nil records
	// nothing.
	Trail *audit.Trail

	// AuditNotify records Notify calls in the trail too. Notify is
	// high-rate telemetry and is not recorded by default.
	AuditNotify bool
}

// Service runs the switch operations, each in its own store transaction,
// with one audit event per committed change; Bind gives the same
// operations inside a transaction the caller holds. Switch ids are the
// agents' hostnames, so the service makes no ids of its own. It is safe for
// concurrent use; all state lives in the store.
type Service struct {
	store backends.Store
	opts  Options
}

// New returns a Service over store. opts may be nil.
func New(store backends.Store, opts *Options) *Service {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = func() time.Time { return time.Now().UTC() }
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.BGPHistory <= 0 {
		o.BGPHistory = DefaultBGPHistory
	}
	return &Service{store: store, opts: o}
}

// Tx is the Service bound to one transaction: every method runs its
// operation inside that transaction, and a change records its audit event
// through the transaction's Recorder, so that it commits, or not, together
// with everything else the transaction does. A Tx is valid only while its
// transaction runs.
type Tx struct {
	s       *Service
	ctx     context.Context
	tx      backends.Tx
	rec     *audit.Recorder
	checked bool // the service ran the catalog hook before the transaction
}

// Bind returns the Service bound to tx, a transaction of the service's
// store. ctx carries the caller and is passed to the catalog hook; rec
// records the events of the changes (nil records none).
func (s *Service) Bind(ctx context.Context, tx backends.Tx, rec *audit.Recorder) *Tx {
	return &Tx{s: s, ctx: ctx, tx: tx, rec: rec}
}

// Backend returns the transaction the Tx is bound to.
func (t *Tx) Backend() backends.Tx { return t.tx }

func (s *Service) viewer() viewer {
	return viewer{now: s.opts.Clock(), staleAfter: time.Duration(s.opts.StaleAfter) * s.opts.SyncInterval}
}

// mutate runs fn on a Tx bound to a new transaction, with the catalog hook
// already run by the caller.
func mutate[T any](ctx context.Context, s *Service, fn func(t *Tx) (T, error)) (T, error) {
	return audit.Do(ctx, s.opts.Trail, s.store, func(tx backends.Tx, rec *audit.Recorder) (T, error) {
		t := s.Bind(ctx, tx, rec)
		t.checked = true
		return fn(t)
	})
}

// read runs fn on a Tx bound to a new read-only transaction.
func read[T any](ctx context.Context, s *Service, fn func(t *Tx) (T, error)) (T, error) {
	return audit.View(ctx, s.store, func(tx backends.Tx) (T, error) { return fn(s.Bind(ctx, tx, nil)) })
}

func (s *Service) checkPartition(ctx context.Context, id string) error {
	if s.opts.Catalog == nil {
		return nil
	}
	if err := s.opts.Catalog.Partition(ctx, id); err != nil {
		var kind error
		if errdefs.Class(err) == errdefs.ErrNotFound {
			kind = ErrNotFound
		}
		return errdefs.Errorf(kind, "switchstate: partition_id %s: %w", errdefs.Quote(id), err)
	}
	return nil
}

func (t *Tx) checkPartition(id string) error {
	if t.checked {
		return nil
	}
	return t.s.checkPartition(t.ctx, id)
}

// adminOnly refuses a change to a caller scoped to projects.
func (t *Tx) adminOnly(op string) error {
	if err := audit.ScopeOf(t.ctx).AdminOnly(op); err != nil {
		return errdefs.Errorf(ErrForbidden, "switchstate: %w", err)
	}
	return nil
}

// invalid wraps an error of a limits check as this package's
// ErrInvalidArgument.
func invalid(err error) error {
	return errdefs.Errorf(ErrInvalidArgument, "switchstate: %w", err)
}

func switchPath(id string) string { return "switch/" + id }

// Get returns the switch with its status, port states and BGP states, or
// an error wrapping ErrNotFound.
func (t *Tx) Get(id string) (*Switch, error) {
	if err := limits.ID("switch id", id); err != nil {
		return nil, invalid(err)
	}
	return t.s.viewer().read(t.tx, id)
}

// ListFilter selects switches; every given field must match, empty fields
// match everything.
type ListFilter struct {
	ID          string `json:"id,omitempty"`
	Name        string `json:"name,omitempty"`
	PartitionID string `json:"partition_id,omitempty"`
	RackID      string `json:"rack_id,omitempty"`
	// OSVendor matches case-insensitively.
	OSVendor  string `json:"os_vendor,omitempty"`
	OSVersion string `json:"os_version,omitempty"`
}

// List returns the matching switches sorted by partition, rack and id. A
// partition filter reads the partition index instead of every switch. The
// records, statuses and BGP states of all switches are read in batches, not
// one switch at a time.
func (t *Tx) List(f ListFilter) ([]*Switch, error) {
	v := t.s.viewer()
	var ids []string
	if f.PartitionID != "" {
		var err error
		if ids, err = partitionSwitches(t.tx, f.PartitionID, f.RackID, f.RackID == ""); err != nil {
			return nil, err
		}
	} else {
		var err error
		if ids, err = bucketIDs(t.tx, bucketSwitch); err != nil {
			return nil, err
		}
	}
	all, err := loadSwitches(t.tx, ids)
	if err != nil {
		return nil, err
	}
	var match []*Switch
	for _, sw := range all {
		if f.RackID != "" && sw.RackID != f.RackID {
			continue
		}
		if f.OSVendor != "" && !strings.EqualFold(string(sw.OS.Vendor), f.OSVendor) {
			continue
		}
		if (f.ID != "" && sw.ID != f.ID) || (f.Name != "" && sw.Name != f.Name) || (f.OSVersion != "" && sw.OS.Version != f.OSVersion) {
			continue
		}
		match = append(match, sw)
	}
	out, err := v.completeAll(t.tx, match)
	if err != nil {
		return nil, err
	}
	sortSwitches(out)
	return out, nil
}

// History returns the BGP state transitions of a switch port, newest
// first. An unknown switch is ErrNotFound; a port without history gives an
// empty list.
func (t *Tx) History(switchID, port string) ([]BGPTransition, error) {
	if _, err := loadSwitch(t.tx, switchID); err != nil {
		return nil, err
	}
	return loadHistory(t.tx, switchID, port)
}

// Flaps counts the transitions of a port's session that left Established
// (a re-establishment, Established to Established, included) at or after
// since.
func (t *Tx) Flaps(switchID, port string, since time.Time) (int, error) {
	h, err := t.History(switchID, port)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, tr := range h {
		if tr.From == BGPEstablished && !tr.Time.Before(since) {
			n++
		}
	}
	return n, nil
}

// ConnectMachine runs the transaction function ConnectMachine in t's
// transaction.
func (t *Tx) ConnectMachine(machineID, partition string, nics []MachineNic) (rack, partitionID string, err error) {
	return ConnectMachine(t.tx, machineID, partition, nics)
}

// SetMachineVRF runs the transaction function SetMachineVRF in t's
// transaction.
func (t *Tx) SetMachineVRF(machineID string, vrf PortVRF) error {
	return SetMachineVRF(t.tx, machineID, vrf)
}

// DisconnectMachine runs the transaction function DisconnectMachine in t's
// transaction.
func (t *Tx) DisconnectMachine(machineID string) error { return DisconnectMachine(t.tx, machineID) }

type registered struct {
	sw      *Switch
	created bool
}

// Register runs Tx.Register in its own transaction; the request is
// validated and the catalog hook runs before it opens.
func (s *Service) Register(ctx context.Context, req RegisterRequest) (*Switch, bool, error) {
	vendor, err := req.validate()
	if err != nil {
		return nil, false, err
	}
	if err := s.checkPartition(ctx, req.PartitionID); err != nil {
		return nil, false, err
	}
	r, err := mutate(ctx, s, func(t *Tx) (registered, error) {
		if err := t.adminOnly("registering a switch"); err != nil {
			return registered{}, err
		}
		sw, created, err := t.register(req, vendor)
		return registered{sw, created}, err
	})
	return r.sw, r.created, err
}

// Update runs Tx.Update in its own transaction.
func (s *Service) Update(ctx context.Context, req UpdateRequest) (*Switch, error) {
	return mutate(ctx, s, func(t *Tx) (*Switch, error) { return t.Update(req) })
}

// Delete runs Tx.Delete in its own transaction.
func (s *Service) Delete(ctx context.Context, id string, force bool) (*Switch, error) {
	return mutate(ctx, s, func(t *Tx) (*Switch, error) { return t.Delete(id, force) })
}

// Notify runs Tx.Notify in its own transaction.
func (s *Service) Notify(ctx context.Context, id string, req NotifyRequest) (*NotifyResponse, error) {
	return mutate(ctx, s, func(t *Tx) (*NotifyResponse, error) { return t.Notify(id, req) })
}

// Toggle runs Tx.Toggle in its own transaction.
func (s *Service) Toggle(ctx context.Context, id, nic string, status PortState) (*Switch, error) {
	return mutate(ctx, s, func(t *Tx) (*Switch, error) { return t.Toggle(id, nic, status) })
}

// Migrate runs Tx.Migrate in its own transaction.
func (s *Service) Migrate(ctx context.Context, oldID, newID string) (*Switch, error) {
	return mutate(ctx, s, func(t *Tx) (*Switch, error) { return t.Migrate(oldID, newID) })
}

// Get runs Tx.Get in its own read transaction.
func (s *Service) Get(ctx context.Context, id string) (*Switch, error) {
	return read(ctx, s, func(t *Tx) (*Switch, error) { return t.Get(id) })
}

// List runs Tx.List in its own read transaction.
func (s *Service) List(ctx context.Context, f ListFilter) ([]*Switch, error) {
	return read(ctx, s, func(t *Tx) ([]*Switch, error) { return t.List(f) })
}

// History runs Tx.History in its own read transaction.
func (s *Service) History(ctx context.Context, switchID, port string) ([]BGPTransition, error) {
	return read(ctx, s, func(t *Tx) ([]BGPTransition, error) { return t.History(switchID, port) })
}

// Flaps runs Tx.Flaps in its own read transaction.
func (s *Service) Flaps(ctx context.Context, switchID, port string, since time.Time) (int, error) {
	return read(ctx, s, func(t *Tx) (int, error) { return t.Flaps(switchID, port, since) })
}

func sortSwitches(sw []*Switch) { slices.SortFunc(sw, compareSwitches) }

// compareSwitches orders switches by partition, rack and id.
func compareSwitches(a, b *Switch) int {
	if c := strings.Compare(a.PartitionID, b.PartitionID); c != 0 {
		return c
	}
	if c := strings.Compare(a.RackID, b.RackID); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// notFoundPort is the error for a port name a switch does not have.
func notFoundPort(switchID, port string) error {
	return errdefs.Errorf(ErrNotFound, "switchstate: switch %q has no port %q", switchID, port)
}
