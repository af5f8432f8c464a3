package metalkit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/check"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

// Options configures Open. A nil *Options means the defaults of every
// service: the wall clock in UTC, random ids, no catalog checks, and an
// audit trail kept in the same store.
type Options struct {
	// Clock gives the time of every change and of the audit entries; nil
	// means time.Now in UTC. A service's own Clock option wins.
	Clock func() time.Time
	// IDs makes the ids of new entities (networks, IP allocations); nil
	// means random UUIDs. A service's own IDs option wins. Audit entry ids
	// are time-ordered UUIDs from audit.Options.IDs.
	IDs func() string
	// Catalog checks partitions, projects, images and quotas for every
	// service; nil accepts everything. Embed machine.AcceptAll to
	// implement only some. A service's own Catalog option wins.
	Catalog machine.Catalog
	// Audit configures the audit trail. Nil means audit's defaults.
	Audit *audit.Options
	// AuditStore keeps the trail in a store of its own; nil keeps it in the
	// kit's store, so every event entry commits in the same transaction as
	// its change.
	AuditStore backends.Store
	// NoAudit turns the trail off: no service records events and Kit.Trail
	// is nil.
	NoAudit bool
	// Network configures the network service; its Trail is set by Open.
	Network network.Options
	// Switch configures the switch service; its Trail is set by Open, and
	// its PortsRenamed to machine.PortsRenamed unless set.
	Switch switchstate.Options
	// Machine configures the machine service; its Trail, Networks and
	// Switches are set by Open.
	Machine machine.Options
}

// Kit composes every metalkit service over one backends.Store.
type Kit struct {
	// Store is the store every service reads and writes.
	Store backends.Store
	// Trail is the audit trail every service records its changes in; nil
	// with Options.NoAudit.
	Trail *audit.Trail
	// IPAM is the allocation engine under the networks: prefixes, child
	// prefixes, IPs and integer pools.
	IPAM *ipam.Service
	// Networks manages networks, child networks and IPs.
	Networks *network.Service
	// Switches manages switches, machine wiring, port and BGP state.
	Switches *switchstate.Service
	// Machines manages sizes, size reservations, machines and firewalls.
	Machines *machine.Service

	auditStore backends.Store
}

// Open composes the services over store. The Kit owns the store from then
// on: Kit.Close closes it (and AuditStore, when given).
func Open(store backends.Store, opts *Options) (*Kit, error) {
	if store == nil {
		return nil, errors.New("metalkit: Open: store is nil")
	}
	if opts == nil {
		opts = &Options{}
	}
	clock := opts.Clock
	if clock == nil {
		clock = func() time.Time { return time.Now().UTC() }
	}
	k := &Kit{Store: store}
	if !opts.NoAudit {
		trailStore := opts.AuditStore
		if trailStore == nil {
			trailStore = store
		}
		var auditOpts audit.Options
		if opts.Audit != nil {
			auditOpts = *opts.Audit
		}
		if auditOpts.Clock == nil {
			auditOpts.Clock = clock
		}
		trail, err := audit.New(trailStore, &auditOpts)
		if err != nil {
			return nil, fmt.Errorf("metalkit: Open: %w", err)
		}
		k.Trail = trail
		k.auditStore = opts.AuditStore
	}
	k.IPAM = ipam.New(store, &ipam.Options{Trail: k.Trail})

	netOpts := opts.Network
	netOpts.Trail = k.Trail
	if netOpts.Clock == nil {
		netOpts.Clock = clock
	}
	if netOpts.IDs == nil {
		netOpts.IDs = opts.IDs
	}
	if netOpts.Catalog == nil {
		netOpts.Catalog = opts.Catalog
	}
	k.Networks = network.New(store, &netOpts)

	swOpts := opts.Switch
	swOpts.Trail = k.Trail
	if swOpts.Clock == nil {
		swOpts.Clock = clock
	}
	if swOpts.Catalog == nil {
		swOpts.Catalog = opts.Catalog
	}
	if swOpts.PortsRenamed == nil {
		swOpts.PortsRenamed = machine.PortsRenamed
	}
	k.Switches = switchstate.New(store, &swOpts)

	mOpts := opts.Machine
	mOpts.Trail, mOpts.Networks, mOpts.Switches = k.Trail, k.Networks, k.Switches
	if mOpts.Clock == nil {
		mOpts.Clock = clock
	}
	if mOpts.IDs == nil {
		mOpts.IDs = opts.IDs
	}
	if mOpts.Catalog == nil {
		mOpts.Catalog = opts.Catalog
	}
	k.Machines = machine.New(store, &mOpts)
	return k, nil
}

// Check verifies the consistency of the whole store, package by package
// (ipam, network, machine, switchstate; the audit trail's hash chain when
// it keeps one), reading in transactions of bounded size so that it can run
// on a live store, and reports every finding with the keys involved. With
// opts.Repair the repairable findings (counters, orphaned addresses, index
// entries) are repaired, all in one transaction, and the report counts
// them; by default it is a dry run. A nil opts is a dry run with the
// default limits.
func (k *Kit) Check(ctx context.Context, opts *check.Options) (*check.Report, error) {
	var o check.Options
	if opts != nil {
		o = *opts
	}
	fs, err := CheckStore(ctx, k.Store, o)
	if err != nil {
		return nil, err
	}
	rep := &check.Report{Findings: fs, DryRun: !o.Repair}
	if k.Trail != nil {
		fs, err := k.Trail.Check(ctx)
		if err != nil {
			return nil, err
		}
		rep.Findings = append(rep.Findings, fs...)
	}
	if !o.Repair {
		return rep, nil
	}
	err = k.Store.Update(ctx, func(tx backends.Tx) error {
		n, err := check.RepairAll(tx, rep.Findings)
		if err != nil {
			return fmt.Errorf("metalkit: %w", err)
		}
		rep.Repaired = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// CheckStore runs the consistency checkers of every package (ipam,
// network, machine, switchstate) over store and returns their findings; it
// repairs nothing (see Kit.Check).
func CheckStore(ctx context.Context, store backends.Store, opts check.Options) ([]check.Finding, error) {
	out := []check.Finding{}
	for _, c := range []check.Checker{
		ipam.Check, network.Check, machine.Check, switchstate.Check,
	} {
		fs, err := c(ctx, store, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

// Close closes the store and, when the trail has its own, the trail's
// store.
func (k *Kit) Close() error {
	err := k.Store.Close()
	if k.auditStore != nil {
		err = errors.Join(err, k.auditStore.Close())
	}
	return err
}

// Tx is one transaction of a Kit with every service bound to it: the
// operations of the services (and the caller's own keys, through Backend)
// commit together or not at all. Each service operation records its audit
// event in the same transaction, so a transaction that fails records none.
// A Tx is valid only inside the function passed to Kit.Update or Kit.View.
type Tx struct {
	// IPAM is the allocation engine bound to the transaction.
	IPAM *ipam.Tx
	// Networks is the network service bound to the transaction.
	Networks *network.Tx
	// Switches is the switch service bound to the transaction.
	Switches *switchstate.Tx
	// Machines is the machine service bound to the transaction.
	Machines *machine.Tx

	tx  backends.Tx
	rec *audit.Recorder
}

// Backend returns the store transaction, for keys of the caller's own.
// The library's buckets start with "ipam/", "network/", "switchstate/",
// "machine/" and "audit/"; keep yours apart (e.g. "app/").
func (t *Tx) Backend() backends.Tx { return t.tx }

// Recorder returns the transaction's audit recorder, so that the caller
// can record an event of its own (Recorder.Record) or run a function once
// the transaction has committed (Recorder.AfterCommit). It is nil in a
// View.
func (t *Tx) Recorder() *audit.Recorder { return t.rec }

func (k *Kit) bind(ctx context.Context, tx backends.Tx, rec *audit.Recorder) *Tx {
	return &Tx{
		IPAM:     k.IPAM.Bind(ctx, tx, rec),
		Networks: k.Networks.Bind(ctx, tx, rec),
		Switches: k.Switches.Bind(ctx, tx, rec),
		Machines: k.Machines.Bind(ctx, tx, rec),
		tx:       tx,
		rec:      rec,
	}
}

// Update runs fn in one read-write transaction of the kit's store and
// commits everything fn did if and only if fn returns nil; otherwise
// nothing of it is written, no audit entry included, and Update returns
// fn's error. fn may run more than once (an optimistic store retries on
// conflict), and so may the catalog hooks the bound services call: fn must
// have no effect outside the Tx. The caller (audit.Actor) is taken from
// ctx.
func (k *Kit) Update(ctx context.Context, fn func(tx *Tx) error) error {
	return audit.Update(ctx, k.Trail, k.Store, func(tx backends.Tx, rec *audit.Recorder) error {
		return fn(k.bind(ctx, tx, rec))
	})
}

// View runs fn in one read-only transaction of the kit's store: every read
// of fn sees one consistent state. Changes fail with backends.ErrReadOnly.
func (k *Kit) View(ctx context.Context, fn func(tx *Tx) error) error {
	return k.Store.View(ctx, func(tx backends.Tx) error {
		return fn(k.bind(ctx, tx, nil))
	})
}
