package ipam

import (
	"context"
	"math/big"
	"net/netip"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
)

// Options configures a Service. A nil *Options means defaults.
type Options struct {
	// Trail records one event entry per committed change (detail
	// "ipam.<operation>", path the prefix or pool); nil records nothing.
	Trail *audit.Trail
}

// Service runs each transaction function of this package in its own
// store transaction: Store.Update for changes, Store.View for reads. It is
// safe for concurrent use; concurrency control is the store's. Callers that
// need several operations to commit together call the transaction functions
// inside their own Store.Update instead.
//
// Every changing method takes an optional audit.Actor: who asked for the
// change, recorded in the event entry.
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

// update runs fn in one Update that also records the change's event.
func (s *Service) update(ctx context.Context, actor []audit.Actor, detail, path string, body any, fn func(tx backends.Tx) error) error {
	ev := &audit.Event{Detail: detail, Path: path, Body: body}
	if len(actor) > 0 {
		ev.Actor = actor[0]
	}
	return s.trail.Update(ctx, s.store, ev, fn)
}

// CreatePrefix runs CreatePrefix in one Update.
func (s *Service) CreatePrefix(ctx context.Context, p netip.Prefix, actor ...audit.Actor) error {
	return s.update(ctx, actor, "ipam.createprefix", "prefix/"+p.String(), map[string]any{"prefix": p}, func(tx backends.Tx) error { return CreatePrefix(tx, p) })
}

// DeletePrefix runs DeletePrefix in one Update.
func (s *Service) DeletePrefix(ctx context.Context, p netip.Prefix, actor ...audit.Actor) error {
	return s.update(ctx, actor, "ipam.deleteprefix", "prefix/"+p.String(), map[string]any{"prefix": p}, func(tx backends.Tx) error { return DeletePrefix(tx, p) })
}

// GetPrefix runs GetPrefix in one View.
func (s *Service) GetPrefix(ctx context.Context, p netip.Prefix) (Prefix, error) {
	var out Prefix
	err := s.store.View(ctx, func(tx backends.Tx) (err error) {
		out, err = GetPrefix(tx, p)
		return err
	})
	return out, err
}

// Prefixes runs Prefixes in one View.
func (s *Service) Prefixes(ctx context.Context) ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := s.store.View(ctx, func(tx backends.Tx) (err error) {
		out, err = Prefixes(tx)
		return err
	})
	return out, err
}

// Children runs Children in one View.
func (s *Service) Children(ctx context.Context, p netip.Prefix) ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := s.store.View(ctx, func(tx backends.Tx) (err error) {
		out, err = Children(tx, p)
		return err
	})
	return out, err
}

// AcquireChild runs AcquireChild in one Update.
func (s *Service) AcquireChild(ctx context.Context, parent netip.Prefix, bits int, actor ...audit.Actor) (netip.Prefix, error) {
	var out netip.Prefix
	err := s.update(ctx, actor, "ipam.acquirechild", "prefix/"+parent.String(), map[string]any{"parent": parent, "length": bits}, func(tx backends.Tx) (err error) {
		out, err = AcquireChild(tx, parent, bits)
		return err
	})
	return out, err
}

// AcquireSpecificChild runs AcquireSpecificChild in one Update.
func (s *Service) AcquireSpecificChild(ctx context.Context, parent, child netip.Prefix, actor ...audit.Actor) error {
	return s.update(ctx, actor, "ipam.acquirechild", "prefix/"+parent.String(), map[string]any{"parent": parent, "child": child}, func(tx backends.Tx) error { return AcquireSpecificChild(tx, parent, child) })
}

// ReleaseChild runs ReleaseChild in one Update.
func (s *Service) ReleaseChild(ctx context.Context, parent, child netip.Prefix, actor ...audit.Actor) error {
	return s.update(ctx, actor, "ipam.releasechild", "prefix/"+parent.String(), map[string]any{"parent": parent, "child": child}, func(tx backends.Tx) error { return ReleaseChild(tx, parent, child) })
}

// AcquireIP runs AcquireIP in one Update.
func (s *Service) AcquireIP(ctx context.Context, p netip.Prefix, actor ...audit.Actor) (netip.Addr, error) {
	var out netip.Addr
	err := s.update(ctx, actor, "ipam.acquireip", "prefix/"+p.String(), map[string]any{"prefix": p}, func(tx backends.Tx) (err error) {
		out, err = AcquireIP(tx, p)
		return err
	})
	return out, err
}

// AcquireSpecificIP runs AcquireSpecificIP in one Update.
func (s *Service) AcquireSpecificIP(ctx context.Context, p netip.Prefix, a netip.Addr, actor ...audit.Actor) error {
	return s.update(ctx, actor, "ipam.acquireip", "prefix/"+p.String(), map[string]any{"prefix": p, "ip": a}, func(tx backends.Tx) error { return AcquireSpecificIP(tx, p, a) })
}

// ReleaseIP runs ReleaseIP in one Update.
func (s *Service) ReleaseIP(ctx context.Context, p netip.Prefix, a netip.Addr, actor ...audit.Actor) error {
	return s.update(ctx, actor, "ipam.releaseip", "prefix/"+p.String(), map[string]any{"prefix": p, "ip": a}, func(tx backends.Tx) error { return ReleaseIP(tx, p, a) })
}

// Usage runs GetUsage in one View.
func (s *Service) Usage(ctx context.Context, p netip.Prefix) (Usage, error) {
	var out Usage
	err := s.store.View(ctx, func(tx backends.Tx) (err error) {
		out, err = GetUsage(tx, p)
		return err
	})
	return out, err
}

// FreeBlocks runs FreeBlocks in one View.
func (s *Service) FreeBlocks(ctx context.Context, p netip.Prefix, bits int) (*big.Int, error) {
	var out *big.Int
	err := s.store.View(ctx, func(tx backends.Tx) (err error) {
		out, err = FreeBlocks(tx, p, bits)
		return err
	})
	return out, err
}

// CreatePool runs CreatePool in one Update.
func (s *Service) CreatePool(ctx context.Context, name string, min, max uint64, actor ...audit.Actor) error {
	return s.update(ctx, actor, "ipam.createpool", "pool/"+name, map[string]any{"name": name, "min": min, "max": max}, func(tx backends.Tx) error { return CreatePool(tx, name, min, max) })
}

// DeletePool runs DeletePool in one Update.
func (s *Service) DeletePool(ctx context.Context, name string, actor ...audit.Actor) error {
	return s.update(ctx, actor, "ipam.deletepool", "pool/"+name, map[string]any{"name": name}, func(tx backends.Tx) error { return DeletePool(tx, name) })
}

// GetPool runs GetPool in one View.
func (s *Service) GetPool(ctx context.Context, name string) (Pool, error) {
	var out Pool
	err := s.store.View(ctx, func(tx backends.Tx) (err error) {
		out, err = GetPool(tx, name)
		return err
	})
	return out, err
}

// AcquireInt runs AcquireInt in one Update.
func (s *Service) AcquireInt(ctx context.Context, name string, actor ...audit.Actor) (uint64, error) {
	var out uint64
	err := s.update(ctx, actor, "ipam.acquireint", "pool/"+name, map[string]any{"name": name}, func(tx backends.Tx) (err error) {
		out, err = AcquireInt(tx, name)
		return err
	})
	return out, err
}

// AcquireSpecificInt runs AcquireSpecificInt in one Update.
func (s *Service) AcquireSpecificInt(ctx context.Context, name string, v uint64, actor ...audit.Actor) error {
	return s.update(ctx, actor, "ipam.acquireint", "pool/"+name, map[string]any{"name": name, "value": v}, func(tx backends.Tx) error { return AcquireSpecificInt(tx, name, v) })
}

// ReleaseInt runs ReleaseInt in one Update.
func (s *Service) ReleaseInt(ctx context.Context, name string, v uint64, actor ...audit.Actor) error {
	return s.update(ctx, actor, "ipam.releaseint", "pool/"+name, map[string]any{"name": name, "value": v}, func(tx backends.Tx) error { return ReleaseInt(tx, name, v) })
}

// ImportGoIPAM runs ImportGoIPAM in one Update, so an invalid dump imports
// nothing.
func (s *Service) ImportGoIPAM(ctx context.Context, dump []byte, actor ...audit.Actor) (ImportStats, error) {
	var out ImportStats
	err := s.update(ctx, actor, "ipam.importgoipam", "prefix/", map[string]any{"bytes": len(dump)}, func(tx backends.Tx) (err error) {
		out, err = ImportGoIPAM(tx, dump)
		return err
	})
	return out, err
}
