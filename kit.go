package metalkit

import (
	"errors"
	"fmt"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

// Options configures Open. A nil *Options means the defaults of every
// service: the wall clock, random ids, no catalog checks, and an audit trail
// kept in the same store.
type Options struct {
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
	// Switch configures the switch service; its Trail is set by Open.
	Switch switchstate.Options
}

// Kit composes every metalkit service over one backends.Store.
type Kit struct {
	// Store is the store every service reads and writes.
	Store backends.Store
	// Trail is the audit trail every service records its changes in; nil
	// with Options.NoAudit.
	Trail *audit.Trail
	// Networks manages networks, child networks and IPs.
	Networks *network.Service
	// Switches manages switches, machine wiring, port and BGP state.
	Switches *switchstate.Service

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
	k := &Kit{Store: store}
	if !opts.NoAudit {
		trailStore := opts.AuditStore
		if trailStore == nil {
			trailStore = store
		}
		trail, err := audit.New(trailStore, opts.Audit)
		if err != nil {
			return nil, fmt.Errorf("metalkit: Open: %w", err)
		}
		k.Trail = trail
		k.auditStore = opts.AuditStore
	}
	netOpts := opts.Network
	netOpts.Trail = k.Trail
	k.Networks = network.New(store, &netOpts)
	swOpts := opts.Switch
	swOpts.Trail = k.Trail
	k.Switches = switchstate.New(store, &swOpts)
	return k, nil
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
