package switchstate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
)

// Defaults of Options.
const (
	DefaultSyncInterval = 10 * time.Second
	DefaultStaleAfter   = 3
	DefaultBGPHistory   = 64
)

// Options configure a Service. The zero value (or nil) gives the defaults.
type Options struct {
	// Clock returns the current time; default time.Now.
	Clock func() time.Time

	// Partition, when set, checks a partition id before Register opens its
	// transaction (it may run once per call, never inside the
	// transaction). An error is returned wrapped and nothing is written.
	// Nil accepts every id.
	Partition func(ctx context.Context, id string) error

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

// Service runs the switch operations in a store. It is safe for concurrent
// use; all state lives in the store.
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
		o.Clock = time.Now
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

func (s *Service) viewer(now time.Time) viewer {
	return viewer{now: now, staleAfter: time.Duration(s.opts.StaleAfter) * s.opts.SyncInterval}
}

// update runs fn in one transaction and, when audited is true, records one
// event for it through the trail. fn returning errUnchanged rolls back
// (no event) and counts as success.
func (s *Service) update(ctx context.Context, audited bool, detail, path string, body any, actor []audit.Actor, fn func(tx backends.Tx) error) error {
	var err error
	if audited && s.opts.Trail != nil {
		ev := &audit.Event{Detail: detail, Path: path, Body: body}
		if len(actor) > 0 {
			ev.Actor = actor[0]
		}
		err = s.opts.Trail.Update(ctx, s.store, ev, fn)
	} else {
		err = s.store.Update(ctx, fn)
	}
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

func switchPath(id string) string { return "switch/" + id }

// Get returns the switch with its status, port states and BGP states, or
// an error wrapping ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Switch, error) {
	var out Switch
	err := s.store.View(ctx, func(tx backends.Tx) error {
		var err error
		out, err = s.viewer(s.opts.Clock()).read(tx, id)
		return err
	})
	return out, err
}

// ListFilter selects switches; every given field must match, empty fields
// match everything.
type ListFilter struct {
	Partition string
	Rack      string
	// OSVendor matches case-insensitively.
	OSVendor string
}

// List returns the matching switches sorted by partition, rack and id. A
// partition filter reads the partition index instead of every switch.
func (s *Service) List(ctx context.Context, f ListFilter) ([]Switch, error) {
	var out []Switch
	err := s.store.View(ctx, func(tx backends.Tx) error {
		out = nil
		v := s.viewer(s.opts.Clock())
		var recs []*Switch
		if f.Partition != "" {
			ids, err := partitionSwitches(tx, f.Partition, f.Rack, f.Rack == "")
			if err != nil {
				return err
			}
			for _, id := range ids {
				sw, err := loadSwitch(tx, id)
				if err != nil {
					return err
				}
				recs = append(recs, sw)
			}
		} else {
			keys, err := scanKeys(tx, bucketSwitch, nil)
			if err != nil {
				return err
			}
			for _, k := range keys {
				sw, err := loadSwitch(tx, string(k))
				if err != nil {
					return err
				}
				recs = append(recs, sw)
			}
		}
		for _, sw := range recs {
			if f.Rack != "" && sw.RackID != f.Rack {
				continue
			}
			if f.OSVendor != "" && !strings.EqualFold(string(sw.OS.Vendor), f.OSVendor) {
				continue
			}
			full, err := v.complete(tx, sw)
			if err != nil {
				return err
			}
			out = append(out, full)
		}
		return nil
	})
	sortSwitches(out)
	return out, err
}

// History returns the BGP state transitions of a switch port, newest
// first. An unknown switch is ErrNotFound; a port without history gives an
// empty list.
func (s *Service) History(ctx context.Context, switchID, port string) ([]BGPTransition, error) {
	var out []BGPTransition
	err := s.store.View(ctx, func(tx backends.Tx) error {
		if _, err := loadSwitch(tx, switchID); err != nil {
			return err
		}
		var err error
		out, err = loadHistory(tx, switchID, port)
		return err
	})
	return out, err
}

// Flaps counts the transitions of a port's session that left Established
// (a re-establishment, Established to Established, included) at or after
// since.
func (s *Service) Flaps(ctx context.Context, switchID, port string, since time.Time) (int, error) {
	h, err := s.History(ctx, switchID, port)
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

func sortSwitches(sw []Switch) {
	slices.SortFunc(sw, func(a, b Switch) int { return compareSwitches(&a, &b) })
}

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
	return fmt.Errorf("%w: switch %q has no port %q", ErrNotFound, switchID, port)
}
