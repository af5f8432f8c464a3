package machine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/internal/testclock"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

// lab is a partition "fra" with a private super network, an underlay, an
// internet network and racks of two SONiC leaves each, over one store.
type lab struct {
	t      testing.TB
	store  backends.Store
	clock  *testclock.Clock
	trail  *audit.Trail
	nets   *network.Service
	sws    *switchstate.Service
	svc    *machine.Service
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ids    int
	idsMu  sync.Mutex
}

type labOptions struct {
	catalog machine.Catalog
	seed    uint64
	racks   int
	ports   int
	// switchless registers no racks: the caller brings its own.
	switchless bool
}

func newLab(t testing.TB, store backends.Store, o *labOptions) *lab {
	t.Helper()
	if store == nil {
		store = memstore.New()
	}
	if o == nil {
		o = &labOptions{}
	}
	if o.racks == 0 {
		o.racks = 3
	}
	if o.ports == 0 {
		o.ports = 8
	}
	l := &lab{t: t, store: store, clock: testclock.New(now)}
	trail, err := audit.New(store, &audit.Options{Clock: l.clock.Now, Component: "test"})
	require.NoError(t, err)
	l.trail = trail
	ids := func() string {
		l.idsMu.Lock()
		defer l.idsMu.Unlock()
		l.ids++
		return fmt.Sprintf("id-%04d", l.ids)
	}
	var cat network.Catalog
	if o.catalog != nil {
		cat = o.catalog
	}
	l.nets = network.New(store, &network.Options{Clock: l.clock.Now, IDs: ids, Trail: trail, Catalog: cat})
	l.sws = switchstate.New(store, &switchstate.Options{Clock: l.clock.Now, Trail: trail, PortsRenamed: machine.PortsRenamed})
	l.svc = machine.New(store, &machine.Options{Clock: l.clock.Now, IDs: ids, Trail: trail, Networks: l.nets, Switches: l.sws,
		Catalog: o.catalog, Rand: rand.New(rand.NewPCG(o.seed, 1)), WaitPoll: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(audit.NewContext(context.Background(), audit.Actor{User: "alice", RequestID: "rq-test"}))
	l.ctx, l.cancel = ctx, cancel
	t.Cleanup(func() {
		cancel()
		l.wg.Wait()
	})
	l.setup(o.racks, o.ports, o.switchless)
	return l
}

const partition = "fra"

func (l *lab) setup(racks, ports int, switchless bool) {
	l.t.Helper()
	_, err := l.nets.Create(l.ctx, network.CreateRequest{ID: "super", PartitionID: partition, PrivateSuper: true,
		Prefixes:                 []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("2001:db8:0:10::/64")},
		DefaultChildPrefixLength: network.ChildLengths{network.IPv4: 22, network.IPv6: 96}})
	require.NoError(l.t, err)
	_, err = l.nets.Create(l.ctx, network.CreateRequest{ID: "underlay", PartitionID: partition, Underlay: true,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.255.0.0/22")}})
	require.NoError(l.t, err)
	_, err = l.nets.Create(l.ctx, network.CreateRequest{ID: "internet", NAT: true, VRF: 104009,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("185.1.2.0/24"), netip.MustParsePrefix("2a02:c00:20::/64")}})
	require.NoError(l.t, err)
	if switchless {
		return
	}
	for r := 1; r <= racks; r++ {
		l.rack(r, ports, partition)
	}
}

// rack registers the two SONiC leaves of rack r with ports ports each in
// partition p.
func (l *lab) rack(r, ports int, p string) {
	l.t.Helper()
	for _, leaf := range []string{"a", "b"} {
		id := leafID(r, leaf)
		nics := make([]switchstate.RegisterNic, ports)
		for p := range ports {
			nics[p] = switchstate.RegisterNic{Name: port(p), Identifier: id + "-" + port(p)}
		}
		_, _, err := l.sws.Register(l.ctx, switchstate.RegisterRequest{ID: id, Name: &id, PartitionID: p, RackID: rackID(r),
			OS: &switchstate.OS{Vendor: switchstate.VendorSONiC}, Nics: nics})
		require.NoError(l.t, err)
	}
}

func leafID(rack int, leaf string) string { return fmt.Sprintf("r%d-leaf-%s", rack, leaf) }
func rackID(rack int) string              { return fmt.Sprintf("rack%02d", rack) }
func port(p int) string                   { return fmt.Sprintf("Ethernet%d", p*4) }

// hardware of a machine with cores cores, wired to port p of rack's leaves.
func hardware(rack, p int, cores uint32) *machine.Hardware {
	return &machine.Hardware{
		Memory: 32 << 30,
		CPUs:   []machine.CPU{{Vendor: "AMD", Model: "EPYC 7402P", Cores: cores, Threads: cores * 2}},
		Disks:  []machine.BlockDevice{{Name: "/dev/nvme0n1", Size: 960 << 30}},
		NICs: []machine.NIC{
			{Name: "lan0", MacAddress: fmt.Sprintf("aa:00:00:%02x:%02x:00", rack, p), Neighbors: []machine.Neighbor{{Hostname: leafID(rack, "a"), Name: port(p), Identifier: leafID(rack, "a") + "-" + port(p)}}},
			{Name: "lan1", MacAddress: fmt.Sprintf("aa:00:00:%02x:%02x:01", rack, p), Neighbors: []machine.Neighbor{{Hostname: leafID(rack, "b"), Name: port(p), Identifier: leafID(rack, "b") + "-" + port(p)}}},
		},
	}
}

func (l *lab) size(id string, min, max uint64) {
	l.t.Helper()
	_, err := l.svc.CreateSize(l.ctx, machine.Size{ID: id, Constraints: []machine.Constraint{{Type: machine.CoreConstraint, Min: min, Max: max}}})
	require.NoError(l.t, err)
}

// register registers machine id in rack at port p with cores cores.
func (l *lab) register(id string, rack, p int, cores uint32) *machine.Machine {
	l.t.Helper()
	m, _, err := l.svc.Register(l.ctx, machine.RegisterRequest{ID: id, PartitionID: partition, Hardware: hardware(rack, p, cores),
		BIOS: &machine.BIOS{Vendor: "AMI", Version: "2.1"}, MetalHammerVersion: "v0.13.0"})
	require.NoError(l.t, err)
	return m
}

// wait starts a Wait of machine id and returns once its flag is set; the
// returned channel delivers the Wait's outcome.
func (l *lab) wait(id string) <-chan error {
	l.t.Helper()
	done := make(chan error, 1)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		_, err := l.svc.Wait(l.ctx, id)
		done <- err
	}()
	require.Eventually(l.t, func() bool {
		m, err := l.svc.Get(l.ctx, id)
		return err == nil && m.Waiting
	}, 5*time.Second, time.Millisecond)
	return done
}

// candidate registers a machine of size "small" (4 cores) that waits.
func (l *lab) candidate(id string, rack, p int) {
	l.t.Helper()
	l.register(id, rack, p, 4)
	l.wait(id)
}

// childNetwork allocates a child of the super network for project.
func (l *lab) childNetwork(project string) *network.Network {
	l.t.Helper()
	n, err := l.nets.AllocateChild(l.ctx, network.AllocateRequest{PartitionID: partition, ProjectID: project})
	require.NoError(l.t, err)
	return n
}

func auto(ids ...string) []machine.AllocationNetwork {
	out := make([]machine.AllocationNetwork, len(ids))
	for i, id := range ids {
		out[i] = machine.AllocationNetwork{NetworkID: id}
	}
	return out
}

// allocation is a request by size for project into networks.
func allocation(project string, networks ...string) machine.AllocateRequest {
	return machine.AllocateRequest{Name: "web", ProjectID: project, PartitionID: partition, SizeID: "small", ImageID: "ubuntu-24.04",
		Networks: auto(networks...)}
}

func contextWithCancel(l *lab) (context.Context, context.CancelFunc) {
	return context.WithCancel(l.ctx)
}

// state is the store's content without the audit trail, which grows with
// every change by design.
func state(t testing.TB, s backends.Store) backendtest.Snapshot {
	t.Helper()
	return stateOf(backendtest.Dump(t, s))
}

// stateOf drops the audit buckets of a snapshot.
func stateOf(snap backendtest.Snapshot) backendtest.Snapshot {
	out := backendtest.Snapshot{}
	for b, kv := range snap {
		if !strings.HasPrefix(b, "audit/") {
			out[b] = kv
		}
	}
	return out
}
