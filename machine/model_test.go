package machine_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

// The model test's partition: three racks of two machines.
const (
	modelRacks, modelPorts = 3, 2
	modelSteps             = 400
)

// modelMachine is what the model expects of one machine.
type modelMachine struct {
	id      string
	rack    string
	project string       // "" while free
	role    machine.Role // of the allocation
	nets    []string     // the networks of the allocation, in request order
	waiting bool
	locked  bool
	// done delivers the outcome of the machine's Wait while it waits.
	done     <-chan error
	vrf      switchstate.PortVRF // of both its switch ports
	reclaims int                 // Machine Reclaim events recorded
}

// model runs random operations against a lab and checks after each that
// the store holds what the model expects.
type model struct {
	t        *testing.T
	l        *lab
	rnd      *rand.Rand
	machines []*modelMachine
	private  map[string]*network.Network // the private network of each project
	external []string                    // external networks an allocation may add
	// tinyIPv6 is how many IPv6 addresses the "tiny" network hands out.
	tinyIPv6 int
	start    backendtest.Snapshot
	// outcomes counts the steps by outcome, for the log.
	outcomes map[string]int
}

// Random sequences of allocations of machines and firewalls (by size and
// by id), install reports, reinstalls, frees, waits, locks and unlocks over
// six machines, two projects and three external networks (one of them with
// room for three machines only) keep the invariants after every step: each
// allocated machine has exactly one IP per family of each of its networks
// (a firewall's underlay too), exactly the IPs tagged with it, and its
// ports carry the VRF of its last install report, or none;
// each prefix's ipam usage equals its IP records plus the reserved
// addresses; the ASN pool holds one value per allocated machine; the free
// index and the candidate index agree with the machine records; a failed
// step changes nothing. Once everything is freed, the store holds what it
// held at the start, but for the Machine Reclaim events.
func TestAllocationModel(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("memstore/seed=%d", seed), func(t *testing.T) {
			runModel(t, storetest.New(t, "memstore"), seed)
		})
	}
	t.Run("boltstore/seed=5", func(t *testing.T) {
		runModel(t, storetest.New(t, "boltstore"), 5)
	})
}

func runModel(t *testing.T, s backends.Store, seed uint64) {
	l := newLab(t, s, &labOptions{seed: seed, racks: modelRacks, ports: modelPorts})
	l.size("small", 1, 4)
	m := &model{t: t, l: l, rnd: rand.New(rand.NewPCG(seed, 11)), private: map[string]*network.Network{}, outcomes: map[string]int{}}
	for r := 1; r <= modelRacks; r++ {
		for p := range modelPorts {
			id := fmt.Sprintf("m%d%d", r, p)
			l.register(id, r, p, 4)
			m.machines = append(m.machines, &modelMachine{id: id, rack: rackID(r), waiting: true, done: l.wait(id)})
		}
	}
	for _, p := range []string{"p1", "p2"} {
		m.private[p] = l.childNetwork(p)
	}
	_, err := l.nets.Create(l.ctx, network.CreateRequest{ID: "tiny",
		Prefixes: []netip.Prefix{netip.MustParsePrefix("185.1.3.0/29"), netip.MustParsePrefix("2a02:c00:30::/126")}})
	require.NoError(t, err)
	_, err = l.nets.Create(l.ctx, network.CreateRequest{ID: "v4only", Prefixes: []netip.Prefix{netip.MustParsePrefix("185.1.4.0/28")}})
	require.NoError(t, err)
	m.external = []string{"internet", "tiny", "v4only"}
	m.start = state(t, s)
	m.check("start")

	ops := []struct {
		weight int
		run    func() string
	}{
		{5, m.allocateBySize},
		{1, m.allocateByID},
		{2, m.report},
		{1, m.reinstall},
		{4, m.free},
		{4, m.wait},
		{1, m.lock},
	}
	total := 0
	for _, op := range ops {
		total += op.weight
	}
	for step := range modelSteps {
		n := m.rnd.IntN(total)
		for _, op := range ops {
			if n < op.weight {
				what := op.run()
				m.check(fmt.Sprintf("step %d: %s", step, what))
				break
			}
			n -= op.weight
		}
		if t.Failed() {
			return
		}
	}

	t.Logf("outcomes: %v", m.outcomes)
	for _, mm := range m.machines {
		if mm.locked {
			m.setLocked(mm, false)
		}
		if mm.project != "" {
			m.freeMachine(mm)
		}
		if !mm.waiting {
			m.waitFor(mm)
		}
	}
	m.check("all freed")
	end := state(t, s)
	assert.Empty(t, without(m.start, "machine/events").Diff(without(end, "machine/events"), 20),
		"after every machine is freed the store holds what it held at the start")
	for _, mm := range m.machines {
		c, err := l.svc.GetEvents(l.ctx, mm.id)
		require.NoError(t, err)
		assert.Len(t, c.Events, min(mm.reclaims, 100), mm.id)
		for _, e := range c.Events {
			assert.Equal(t, machine.EventMachineReclaim, e.Event, mm.id)
		}
	}
}

// candidate reports whether an allocation by size may pick the machine.
func (mm *modelMachine) candidate() bool { return mm.project == "" && mm.waiting && !mm.locked }

func (m *model) pickMachine() *modelMachine { return m.machines[m.rnd.IntN(len(m.machines))] }

// request is an allocation request of a random project into its private
// network and a random choice of external networks, for a machine or now
// and then a firewall. It returns the networks the allocation gets: a
// firewall's underlay comes last.
func (m *model) request() (machine.AllocateRequest, []string) {
	project := []string{"p1", "p2"}[m.rnd.IntN(2)]
	nets := []string{m.private[project].ID}
	for _, n := range m.external {
		if m.rnd.IntN(2) == 0 {
			nets = append(nets, n)
		}
	}
	req := allocation(project, nets...)
	if m.rnd.IntN(4) == 0 {
		req.Role = machine.RoleFirewall
		nets = append(nets, "underlay")
	}
	return req, nets
}

// role is the request's role, machine when unset.
func role(req machine.AllocateRequest) machine.Role {
	if req.Role == "" {
		return machine.RoleMachine
	}
	return req.Role
}

// allocateBySize allocates by size; it must pick a candidate in one of
// the racks holding the fewest of the project's machines of the role, and
// fail when there is no candidate or when "tiny" is out of IPv6 addresses.
func (m *model) allocateBySize() string {
	req, nets := m.request()
	counts := map[string]int{}
	for _, mm := range m.machines {
		if mm.candidate() {
			counts[mm.rack] += 0
		}
	}
	for _, mm := range m.machines {
		if _, ok := counts[mm.rack]; ok && mm.project == req.ProjectID && mm.role == role(req) {
			counts[mm.rack]++
		}
	}
	fewest := -1
	for _, c := range counts {
		if fewest < 0 || c < fewest {
			fewest = c
		}
	}
	what := fmt.Sprintf("allocate a %s for %s into %v", role(req), req.ProjectID, nets)
	switch {
	case len(counts) == 0:
		m.failing(what, machine.ErrNoMachineAvailable, req)
	case slices.Contains(nets, "tiny") && m.tinyIPv6 == 3:
		m.failing(what, ipam.ErrExhausted, req)
	default:
		got, err := m.l.svc.Allocate(m.l.ctx, req)
		require.NoError(m.t, err, what)
		mm := m.machine(got.ID)
		require.True(m.t, mm.candidate(), "%s: picked %s, which is no candidate", what, got.ID)
		assert.Equal(m.t, fewest, counts[mm.rack], "%s: picked %s in %s, racks %v", what, got.ID, mm.rack, counts)
		m.allocated(mm, req, nets)
		what += ": " + got.ID
	}
	return what
}

// allocateByID allocates a random machine by id: free ones whether they
// wait or not, allocated ones never.
func (m *model) allocateByID() string {
	mm := m.pickMachine()
	req, nets := m.request()
	req.UUID, req.PartitionID, req.SizeID = mm.id, "", ""
	what := fmt.Sprintf("allocate %s as %s for %s into %v", mm.id, role(req), req.ProjectID, nets)
	switch {
	case mm.project != "":
		m.failing(what, machine.ErrConflict, req)
	case slices.Contains(nets, "tiny") && m.tinyIPv6 == 3:
		m.failing(what, ipam.ErrExhausted, req)
	default:
		_, err := m.l.svc.Allocate(m.l.ctx, req)
		require.NoError(m.t, err, what)
		m.allocated(mm, req, nets)
	}
	return what
}

// failing expects the allocation to fail with want and to change nothing.
func (m *model) failing(what string, want error, req machine.AllocateRequest) {
	m.refused(what, want, func() error {
		_, err := m.l.svc.Allocate(m.l.ctx, req)
		return err
	})
}

// refused expects op to fail with want and to change nothing.
func (m *model) refused(what string, want error, op func() error) {
	before := backendtest.Dump(m.t, m.l.store)
	require.ErrorIs(m.t, op(), want, what)
	m.outcomes[want.Error()]++
	if d := stateOf(before).Diff(state(m.t, m.l.store), 20); d != "" {
		m.t.Errorf("%s: the failed call changed the store:\n%s", what, d)
	}
}

// allocated records an allocation; the machine's Wait ends with it.
func (m *model) allocated(mm *modelMachine, req machine.AllocateRequest, nets []string) {
	if mm.waiting {
		select {
		case err := <-mm.done:
			require.NoError(m.t, err, "the wait of %s", mm.id)
		case <-time.After(10 * time.Second):
			m.t.Fatalf("the wait of %s did not end with its allocation", mm.id)
		}
	}
	m.outcomes["allocated as "+string(role(req))]++
	mm.project, mm.role, mm.nets, mm.waiting, mm.done = req.ProjectID, role(req), nets, false, nil
	if slices.Contains(nets, "tiny") {
		m.tinyIPv6++
	}
}

// report reports the installation of a random machine; a free one
// refuses.
func (m *model) report() string {
	mm := m.pickMachine()
	report := func() error {
		_, err := m.l.svc.Report(m.l.ctx, mm.id, machine.ReportRequest{ConsolePassword: "secret",
			BootInfo: machine.BootInfo{ImageID: "ubuntu-24.04", PrimaryDisk: "/dev/nvme0n1"}})
		return err
	}
	if mm.project == "" {
		m.refused("report of free "+mm.id, machine.ErrConflict, report)
		return "report of free " + mm.id
	}
	require.NoError(m.t, report(), "report of %s", mm.id)
	mm.vrf = switchstate.TenantVRF(m.private[mm.project].VRF)
	if mm.role == machine.RoleFirewall {
		mm.vrf = switchstate.VRFDefault
	}
	return "report of " + mm.id
}

// reinstall reinstalls a random machine; a free one refuses.
func (m *model) reinstall() string {
	mm := m.pickMachine()
	reinstall := func() error {
		_, err := m.l.svc.Reinstall(m.l.ctx, mm.id, "debian-12")
		return err
	}
	switch {
	case mm.project == "":
		m.refused("reinstall of free "+mm.id, machine.ErrConflict, reinstall)
		return "reinstall of free " + mm.id
	case mm.locked:
		m.refused("reinstall of locked "+mm.id, machine.ErrLocked, reinstall)
		return "reinstall of locked " + mm.id
	}
	require.NoError(m.t, reinstall(), "reinstall of %s", mm.id)
	mm.vrf = switchstate.VRFNone
	return "reinstall of " + mm.id
}

// free frees an allocated machine, now and then a free one (which only
// records the reclaim).
func (m *model) free() string {
	var allocated []*modelMachine
	for _, mm := range m.machines {
		if mm.project != "" {
			allocated = append(allocated, mm)
		}
	}
	mm := m.pickMachine()
	if len(allocated) > 0 && m.rnd.IntN(4) > 0 {
		mm = allocated[m.rnd.IntN(len(allocated))]
	}
	if mm.locked {
		m.refused("free locked "+mm.id, machine.ErrLocked, func() error {
			_, err := m.l.svc.Free(m.l.ctx, mm.id)
			return err
		})
		return "free locked " + mm.id
	}
	m.freeMachine(mm)
	return "free " + mm.id
}

// lock locks or unlocks a random machine, mostly unlocking one while
// some are locked.
func (m *model) lock() string {
	var locked []*modelMachine
	for _, mm := range m.machines {
		if mm.locked {
			locked = append(locked, mm)
		}
	}
	mm := m.pickMachine()
	if len(locked) > 0 && m.rnd.IntN(3) > 0 {
		mm = locked[m.rnd.IntN(len(locked))]
	}
	m.setLocked(mm, !mm.locked)
	return fmt.Sprintf("locked %s: %v", mm.id, mm.locked)
}

func (m *model) setLocked(mm *modelMachine, locked bool) {
	value, description := "", ""
	if locked {
		value, description = "locked", "under repair"
	}
	_, err := m.l.svc.SetState(m.l.ctx, mm.id, value, description)
	require.NoError(m.t, err, "lock %s: %v", mm.id, locked)
	mm.locked = locked
}

func (m *model) freeMachine(mm *modelMachine) {
	_, err := m.l.svc.Free(m.l.ctx, mm.id)
	require.NoError(m.t, err, "free %s", mm.id)
	if slices.Contains(mm.nets, "tiny") {
		m.tinyIPv6--
	}
	mm.project, mm.nets, mm.vrf = "", nil, switchstate.VRFNone
	mm.reclaims++
}

// wait makes a free machine that does not wait wait again, as it does
// after its reclaim.
func (m *model) wait() string {
	var idle []*modelMachine
	for _, mm := range m.machines {
		if mm.project == "" && !mm.waiting {
			idle = append(idle, mm)
		}
	}
	if len(idle) == 0 {
		return "nothing to wait for"
	}
	mm := idle[m.rnd.IntN(len(idle))]
	m.waitFor(mm)
	return "wait " + mm.id
}

func (m *model) waitFor(mm *modelMachine) {
	mm.done, mm.waiting = m.l.wait(mm.id), true
}

func (m *model) machine(id string) *modelMachine {
	for _, mm := range m.machines {
		if mm.id == id {
			return mm
		}
	}
	m.t.Fatalf("no machine %s in the model", id)
	return nil
}

// check compares the store with the model.
func (m *model) check(step string) {
	t, l := m.t, m.l
	t.Helper()
	nets := map[string]*network.Network{}
	for _, n := range m.private {
		nets[n.ID] = n
	}
	for _, id := range append(slices.Clone(m.external), "underlay") {
		n, err := l.nets.Get(l.ctx, id)
		require.NoError(t, err)
		nets[id] = n
	}

	all, err := l.nets.ListIPs(l.ctx, network.IPFilter{})
	require.NoError(t, err)
	vrfs := m.portVRFs()
	owned := 0
	asns := map[uint32]string{}
	for _, mm := range m.machines {
		got, err := l.svc.Get(l.ctx, mm.id)
		require.NoError(t, err, step)
		assert.Equal(t, mm.waiting, got.Waiting, "%s: %s waiting", step, mm.id)
		assert.Equal(t, mm.locked, got.State.Value == machine.StateLocked, "%s: %s locked", step, mm.id)
		var tagged []*network.IP
		for _, ip := range all {
			if (network.IPFilter{MachineID: mm.id}).Match(ip) {
				tagged = append(tagged, ip)
			}
		}
		if mm.project == "" {
			assert.Nil(t, got.Allocation, "%s: %s is free", step, mm.id)
			assert.Empty(t, tagged, "%s: no IP is tagged with free %s", step, mm.id)
			assert.Equal(t, []switchstate.PortVRF{switchstate.VRFNone, switchstate.VRFNone}, vrfs[mm.id], "%s: %s", step, mm.id)
			continue
		}
		require.NotNil(t, got.Allocation, "%s: %s is allocated", step, mm.id)
		assert.Equal(t, mm.project, got.Allocation.Project, "%s: %s", step, mm.id)
		assert.Equal(t, mm.role, got.Allocation.Role, "%s: %s", step, mm.id)
		require.Len(t, got.Allocation.Networks, len(mm.nets), "%s: %s", step, mm.id)
		var ips []netip.Addr
		asn := got.Allocation.Networks[0].ASN
		for i, mn := range got.Allocation.Networks {
			n := nets[mm.nets[i]]
			assert.Equal(t, n.ID, mn.NetworkID, "%s: %s", step, mm.id)
			assert.Equal(t, asn, mn.ASN, "%s: %s has one ASN", step, mm.id)
			var want []bool // one IP per family of the network, IPv4 first
			for _, p := range n.Prefixes {
				if !slices.Contains(want, p.Addr().Is4()) {
					want = append(want, p.Addr().Is4())
				}
			}
			var families []bool
			for _, a := range mn.IPs {
				families = append(families, a.Is4())
				assert.True(t, slices.ContainsFunc(n.Prefixes, func(p netip.Prefix) bool { return p.Contains(a) }),
					"%s: %s's IP %s lies in network %s", step, mm.id, a, n.ID)
			}
			assert.Equal(t, want, families, "%s: %s has one IP per family of %s", step, mm.id, n.ID)
			ips = append(ips, mn.IPs...)
		}
		other, dup := asns[asn]
		assert.False(t, dup, "%s: ASN %d of %s and %s", step, asn, mm.id, other)
		asns[asn] = mm.id
		var taggedIPs []netip.Addr
		for _, ip := range tagged {
			taggedIPs = append(taggedIPs, ip.IPAddress)
			assert.Equal(t, network.IPTypeEphemeral, ip.Type, "%s: %s", step, ip.IPAddress)
		}
		assert.ElementsMatch(t, ips, taggedIPs, "%s: the IPs tagged with %s are its allocation's", step, mm.id)
		owned += len(ips)
		assert.Equal(t, []switchstate.PortVRF{mm.vrf, mm.vrf}, vrfs[mm.id], "%s: %s", step, mm.id)
	}
	assert.Equal(t, owned, len(all), "%s: every IP belongs to an allocated machine", step)

	// The counters equal a recount.
	require.NoError(t, l.store.View(l.ctx, func(tx backends.Tx) error {
		for _, n := range nets {
			for _, p := range n.Prefixes {
				u, err := ipam.GetUsage(tx, p)
				if err != nil {
					return err
				}
				records := 0
				for _, ip := range all {
					if p.Contains(ip.IPAddress) {
						records++
					}
				}
				assert.Equal(t, int64(records+reserved(p)), u.UsedIPs.Int64(), "%s: usage of %s", step, p)
			}
		}
		pool, err := ipam.GetPool(tx, "machine/asn")
		if len(asns) == 0 {
			assert.ErrorIs(t, err, ipam.ErrNotFound, "%s: the ASN pool goes with its last value", step)
			return nil
		}
		if err != nil {
			return err
		}
		assert.Equal(t, uint64(len(asns)), pool.Used, "%s: ASNs taken", step)
		return nil
	}))

	// The free index and the candidate index agree with the machines.
	no := false
	free, err := l.svc.List(l.ctx, machine.Filter{PartitionID: partition, SizeID: "small", Allocated: &no})
	require.NoError(t, err)
	scanned, err := l.svc.List(l.ctx, machine.Filter{PartitionID: partition, SizeID: "small"})
	require.NoError(t, err)
	var wantFree, gotFree []string
	wantCand := map[string]string{}
	wantCount := map[string]int{}
	for _, mm := range scanned {
		if !mm.Allocated() {
			wantFree = append(wantFree, mm.ID)
			if mm.Waiting && mm.State.Value == machine.StateAvailable {
				wantCand[mm.ID] = mm.RackID
				wantCount[mm.RackID]++
			}
		}
	}
	for _, mm := range free {
		gotFree = append(gotFree, mm.ID)
	}
	assert.Equal(t, wantFree, gotFree, "%s: the free index lists the free machines", step)
	require.NoError(t, l.store.View(l.ctx, func(tx backends.Tx) error {
		cand, counts, err := machine.CandidateIndex(tx, partition, "small")
		assert.Equal(t, wantCand, cand, "%s: candidates", step)
		assert.Equal(t, wantCount, counts, "%s: candidates per rack", step)
		return err
	}))
}

// reserved is the number of addresses ipam reserves in p: the first, and
// the last of an IPv4 prefix.
func reserved(p netip.Prefix) int {
	if p.Addr().Is4() && p.Bits() < 32 {
		return 2
	}
	return 1
}

// portVRFs returns the VRFs of every machine's ports on the leaves.
func (m *model) portVRFs() map[string][]switchstate.PortVRF {
	out := map[string][]switchstate.PortVRF{}
	for r := 1; r <= modelRacks; r++ {
		for _, leaf := range []string{leafID(r, "a"), leafID(r, "b")} {
			sw, err := m.l.sws.Get(m.l.ctx, leaf)
			require.NoError(m.t, err)
			for _, c := range sw.Connections {
				out[c.MachineID] = append(out[c.MachineID], c.Nic.Vrf)
			}
		}
	}
	return out
}
