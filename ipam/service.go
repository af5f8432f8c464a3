package ipam

import (
	"context"
	"math/big"
	"net/netip"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// Options configures a Service. A nil *Options means defaults.
type Options struct {
	// Trail records one event entry per committed change (detail
	// "ipam.<operation>", path the prefix or pool); nil records nothing.
	Trail *audit.Trail
}

// Service runs the transaction functions of this package, each in its own
// store transaction: Store.Update for changes, Store.View for reads, with
// one audit event per committed change. Bind gives the same operations
// inside a transaction the caller already holds. The caller (for the audit
// entry) is the audit.Actor in ctx. The engine stamps no times and makes no
// ids, so a Service needs neither a clock nor an id source.
//
// Service is safe for concurrent use; concurrency control is the store's.
type Service struct {
	store backends.Store
	trail *audit.Trail
}

// New returns a Service over store.
func New(store backends.Store, opts *Options) *Service {
	s := &Service{store: store}
	if opts != nil {
		s.trail = opts.Trail
	}
	return s
}

// Tx is the Service bound to one transaction: each method runs its
// operation in that transaction, and a change records its audit event
// through the transaction's Recorder, so it commits (or not) with
// everything else the transaction does. A Tx is valid only while its
// transaction runs.
type Tx struct {
	ctx context.Context
	tx  backends.Tx
	rec *audit.Recorder
}

// Bind returns the Service bound to tx. ctx carries the caller: one scoped
// to projects (audit.Actor.Scoped) may read but not change the engine,
// which knows no projects (ErrForbidden). rec records the events of the
// changes; a nil rec records none (an operation composed into another one
// that records the change itself).
func (s *Service) Bind(ctx context.Context, tx backends.Tx, rec *audit.Recorder) *Tx {
	return &Tx{ctx: ctx, tx: tx, rec: rec}
}

// allowed refuses a change to a caller scoped to projects.
func (t *Tx) allowed(op string) error {
	if err := audit.ScopeOf(t.ctx).AdminOnly(op); err != nil {
		return errdefs.Errorf(ErrForbidden, "ipam: %w", err)
	}
	return nil
}

// Backend returns the transaction the Tx is bound to.
func (t *Tx) Backend() backends.Tx { return t.tx }

// runUpdate runs fn on a Tx bound to a new transaction of s's store.
func runUpdate[T any](ctx context.Context, s *Service, fn func(t *Tx) (T, error)) (T, error) {
	return audit.Do(ctx, s.trail, s.store, func(tx backends.Tx, rec *audit.Recorder) (T, error) {
		return fn(s.Bind(ctx, tx, rec))
	})
}

// runView runs fn on a Tx bound to a new read-only transaction of s's store.
func runView[T any](ctx context.Context, s *Service, fn func(t *Tx) (T, error)) (T, error) {
	return audit.View(ctx, s.store, func(tx backends.Tx) (T, error) { return fn(s.Bind(ctx, tx, nil)) })
}

// runChange runs fn, a change without a result, on a Tx bound to a new
// transaction of s's store.
func runChange(ctx context.Context, s *Service, fn func(t *Tx) error) error {
	return audit.Update(ctx, s.trail, s.store, func(tx backends.Tx, rec *audit.Recorder) error {
		return fn(s.Bind(ctx, tx, rec))
	})
}

// record records the event of a change that succeeded.
func (t *Tx) record(err error, op, path string, body any) error {
	if err != nil {
		return err
	}
	return t.rec.Record("ipam."+op, path, body)
}

func prefixPath(p netip.Prefix) string { return "prefix/" + p.String() }
func poolPath(name string) string      { return "pool/" + name }

// CreatePrefix registers a top-level prefix (see the function CreatePrefix).
func (t *Tx) CreatePrefix(p netip.Prefix) error {
	if err := t.allowed("create prefix"); err != nil {
		return err
	}
	return t.record(CreatePrefix(t.tx, p), "createprefix", prefixPath(p), map[string]any{"prefix": p})
}

// DeletePrefix deletes a prefix that holds nothing (see DeletePrefix).
func (t *Tx) DeletePrefix(p netip.Prefix) error {
	if err := t.allowed("delete prefix"); err != nil {
		return err
	}
	return t.record(DeletePrefix(t.tx, p), "deleteprefix", prefixPath(p), map[string]any{"prefix": p})
}

// GetPrefix returns a registered prefix with its usage.
func (t *Tx) GetPrefix(p netip.Prefix) (Prefix, error) { return GetPrefix(t.tx, p) }

// Prefixes lists the registered prefixes.
func (t *Tx) Prefixes() ([]netip.Prefix, error) { return Prefixes(t.tx) }

// Children lists the child prefixes taken from p.
func (t *Tx) Children(p netip.Prefix) ([]netip.Prefix, error) { return Children(t.tx, p) }

// AcquireChild takes the best-fitting free /bits child of parent.
func (t *Tx) AcquireChild(parent netip.Prefix, bits int) (netip.Prefix, error) {
	if err := t.allowed("acquire child"); err != nil {
		return netip.Prefix{}, err
	}
	c, err := AcquireChild(t.tx, parent, bits)
	return c, t.record(err, "acquirechild", prefixPath(parent), map[string]any{"parent": parent, "length": bits})
}

// AcquireSpecificChild takes the given child of parent.
func (t *Tx) AcquireSpecificChild(parent, child netip.Prefix) error {
	if err := t.allowed("acquire specific child"); err != nil {
		return err
	}
	return t.record(AcquireSpecificChild(t.tx, parent, child), "acquirechild", prefixPath(parent), map[string]any{"parent": parent, "child": child})
}

// ReleaseChild gives a child back to parent.
func (t *Tx) ReleaseChild(parent, child netip.Prefix) error {
	if err := t.allowed("release child"); err != nil {
		return err
	}
	return t.record(ReleaseChild(t.tx, parent, child), "releasechild", prefixPath(parent), map[string]any{"parent": parent, "child": child})
}

// AcquireIP takes the lowest free address of p.
func (t *Tx) AcquireIP(p netip.Prefix) (netip.Addr, error) {
	if err := t.allowed("acquire ip"); err != nil {
		return netip.Addr{}, err
	}
	a, err := AcquireIP(t.tx, p)
	return a, t.record(err, "acquireip", prefixPath(p), map[string]any{"prefix": p})
}

// AcquireSpecificIP takes address a of p.
func (t *Tx) AcquireSpecificIP(p netip.Prefix, a netip.Addr) error {
	if err := t.allowed("acquire specific ip"); err != nil {
		return err
	}
	return t.record(AcquireSpecificIP(t.tx, p, a), "acquireip", prefixPath(p), map[string]any{"prefix": p, "ip": a})
}

// ReleaseIP gives address a of p back.
func (t *Tx) ReleaseIP(p netip.Prefix, a netip.Addr) error {
	if err := t.allowed("release ip"); err != nil {
		return err
	}
	return t.record(ReleaseIP(t.tx, p, a), "releaseip", prefixPath(p), map[string]any{"prefix": p, "ip": a})
}

// Usage returns the exact usage of p.
func (t *Tx) Usage(p netip.Prefix) (Usage, error) { return GetUsage(t.tx, p) }

// FreeBlocks counts the free /bits blocks of p.
func (t *Tx) FreeBlocks(p netip.Prefix, bits int) (*big.Int, error) { return FreeBlocks(t.tx, p, bits) }

// CreatePool creates the integer pool name over min..max.
func (t *Tx) CreatePool(name string, min, max uint64) error {
	if err := t.allowed("create pool"); err != nil {
		return err
	}
	return t.record(CreatePool(t.tx, name, min, max), "createpool", poolPath(name), map[string]any{"name": name, "min": min, "max": max})
}

// DeletePool deletes a pool that holds no value.
func (t *Tx) DeletePool(name string) error {
	if err := t.allowed("delete pool"); err != nil {
		return err
	}
	return t.record(DeletePool(t.tx, name), "deletepool", poolPath(name), map[string]any{"name": name})
}

// GetPool returns a pool's bounds and use.
func (t *Tx) GetPool(name string) (Pool, error) { return GetPool(t.tx, name) }

// AcquireInt takes the lowest free value of a pool.
func (t *Tx) AcquireInt(name string) (uint64, error) {
	if err := t.allowed("acquire int"); err != nil {
		return 0, err
	}
	v, err := AcquireInt(t.tx, name)
	return v, t.record(err, "acquireint", poolPath(name), map[string]any{"name": name})
}

// AcquireSpecificInt takes value v of a pool.
func (t *Tx) AcquireSpecificInt(name string, v uint64) error {
	if err := t.allowed("acquire specific int"); err != nil {
		return err
	}
	return t.record(AcquireSpecificInt(t.tx, name, v), "acquireint", poolPath(name), map[string]any{"name": name, "value": v})
}

// ReleaseInt gives value v back to a pool.
func (t *Tx) ReleaseInt(name string, v uint64) error {
	if err := t.allowed("release int"); err != nil {
		return err
	}
	return t.record(ReleaseInt(t.tx, name, v), "releaseint", poolPath(name), map[string]any{"name": name, "value": v})
}

// ImportGoIPAM imports a go-ipam dump (see the function ImportGoIPAM).
func (t *Tx) ImportGoIPAM(dump []byte) (ImportStats, error) {
	if err := t.allowed("import go ipam"); err != nil {
		return ImportStats{}, err
	}
	st, err := ImportGoIPAM(t.tx, dump)
	return st, t.record(err, "importgoipam", "prefix/", map[string]any{"bytes": len(dump)})
}

// ExportGoIPAM writes every prefix in go-ipam's dump format (see the
// function ExportGoIPAM).
func (t *Tx) ExportGoIPAM() ([]byte, error) { return ExportGoIPAM(t.tx) }

// ExportGoIPAM runs Tx.ExportGoIPAM in its own read transaction, so the
// export is one consistent state.
func (s *Service) ExportGoIPAM(ctx context.Context) ([]byte, error) {
	return runView(ctx, s, func(t *Tx) ([]byte, error) { return t.ExportGoIPAM() })
}

// CreatePrefix runs Tx.CreatePrefix in its own transaction.
func (s *Service) CreatePrefix(ctx context.Context, p netip.Prefix) error {
	return runChange(ctx, s, func(t *Tx) error { return t.CreatePrefix(p) })
}

// DeletePrefix runs Tx.DeletePrefix in its own transaction.
func (s *Service) DeletePrefix(ctx context.Context, p netip.Prefix) error {
	return runChange(ctx, s, func(t *Tx) error { return t.DeletePrefix(p) })
}

// GetPrefix runs Tx.GetPrefix in its own read transaction.
func (s *Service) GetPrefix(ctx context.Context, p netip.Prefix) (Prefix, error) {
	return runView(ctx, s, func(t *Tx) (Prefix, error) { return t.GetPrefix(p) })
}

// Prefixes runs Tx.Prefixes in its own read transaction.
func (s *Service) Prefixes(ctx context.Context) ([]netip.Prefix, error) {
	return runView(ctx, s, func(t *Tx) ([]netip.Prefix, error) { return t.Prefixes() })
}

// Children runs Tx.Children in its own read transaction.
func (s *Service) Children(ctx context.Context, p netip.Prefix) ([]netip.Prefix, error) {
	return runView(ctx, s, func(t *Tx) ([]netip.Prefix, error) { return t.Children(p) })
}

// AcquireChild runs Tx.AcquireChild in its own transaction.
func (s *Service) AcquireChild(ctx context.Context, parent netip.Prefix, bits int) (netip.Prefix, error) {
	return runUpdate(ctx, s, func(t *Tx) (netip.Prefix, error) { return t.AcquireChild(parent, bits) })
}

// AcquireSpecificChild runs Tx.AcquireSpecificChild in its own transaction.
func (s *Service) AcquireSpecificChild(ctx context.Context, parent, child netip.Prefix) error {
	return runChange(ctx, s, func(t *Tx) error { return t.AcquireSpecificChild(parent, child) })
}

// ReleaseChild runs Tx.ReleaseChild in its own transaction.
func (s *Service) ReleaseChild(ctx context.Context, parent, child netip.Prefix) error {
	return runChange(ctx, s, func(t *Tx) error { return t.ReleaseChild(parent, child) })
}

// AcquireIP runs Tx.AcquireIP in its own transaction.
func (s *Service) AcquireIP(ctx context.Context, p netip.Prefix) (netip.Addr, error) {
	return runUpdate(ctx, s, func(t *Tx) (netip.Addr, error) { return t.AcquireIP(p) })
}

// AcquireSpecificIP runs Tx.AcquireSpecificIP in its own transaction.
func (s *Service) AcquireSpecificIP(ctx context.Context, p netip.Prefix, a netip.Addr) error {
	return runChange(ctx, s, func(t *Tx) error { return t.AcquireSpecificIP(p, a) })
}

// ReleaseIP runs Tx.ReleaseIP in its own transaction.
func (s *Service) ReleaseIP(ctx context.Context, p netip.Prefix, a netip.Addr) error {
	return runChange(ctx, s, func(t *Tx) error { return t.ReleaseIP(p, a) })
}

// Usage runs Tx.Usage in its own read transaction.
func (s *Service) Usage(ctx context.Context, p netip.Prefix) (Usage, error) {
	return runView(ctx, s, func(t *Tx) (Usage, error) { return t.Usage(p) })
}

// FreeBlocks runs Tx.FreeBlocks in its own read transaction.
func (s *Service) FreeBlocks(ctx context.Context, p netip.Prefix, bits int) (*big.Int, error) {
	return runView(ctx, s, func(t *Tx) (*big.Int, error) { return t.FreeBlocks(p, bits) })
}

// CreatePool runs Tx.CreatePool in its own transaction.
func (s *Service) CreatePool(ctx context.Context, name string, min, max uint64) error {
	return runChange(ctx, s, func(t *Tx) error { return t.CreatePool(name, min, max) })
}

// DeletePool runs Tx.DeletePool in its own transaction.
func (s *Service) DeletePool(ctx context.Context, name string) error {
	return runChange(ctx, s, func(t *Tx) error { return t.DeletePool(name) })
}

// GetPool runs Tx.GetPool in its own read transaction.
func (s *Service) GetPool(ctx context.Context, name string) (Pool, error) {
	return runView(ctx, s, func(t *Tx) (Pool, error) { return t.GetPool(name) })
}

// AcquireInt runs Tx.AcquireInt in its own transaction.
func (s *Service) AcquireInt(ctx context.Context, name string) (uint64, error) {
	return runUpdate(ctx, s, func(t *Tx) (uint64, error) { return t.AcquireInt(name) })
}

// AcquireSpecificInt runs Tx.AcquireSpecificInt in its own transaction.
func (s *Service) AcquireSpecificInt(ctx context.Context, name string, v uint64) error {
	return runChange(ctx, s, func(t *Tx) error { return t.AcquireSpecificInt(name, v) })
}

// ReleaseInt runs Tx.ReleaseInt in its own transaction.
func (s *Service) ReleaseInt(ctx context.Context, name string, v uint64) error {
	return runChange(ctx, s, func(t *Tx) error { return t.ReleaseInt(name, v) })
}

// ImportGoIPAM runs Tx.ImportGoIPAM in its own transaction, so an invalid
// dump imports nothing.
func (s *Service) ImportGoIPAM(ctx context.Context, dump []byte) (ImportStats, error) {
	return runUpdate(ctx, s, func(t *Tx) (ImportStats, error) { return t.ImportGoIPAM(dump) })
}
