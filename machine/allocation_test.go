package machine_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

// Scenario 10 through the service.
func TestAllocateValidation(t *testing.T) {
	l := newLab(t, nil, nil)
	before := backendtest.Dump(t, l.store)
	_, err := l.svc.Allocate(context.Background(), machine.AllocateRequest{})
	requireProblems(t, err, machine.ErrInvalidArgument, "networks", "projectid", "creator", "partitionid", "sizeid")
	_, err = l.svc.Allocate(l.ctx, machine.AllocateRequest{ProjectID: "p", PartitionID: partition, SizeID: "small", Networks: auto("x"), IPs: []string{"42"}})
	requireProblems(t, err, machine.ErrInvalidArgument, `"42"`)
	_, err = l.svc.Allocate(l.ctx, machine.AllocateRequest{ProjectID: "p", PartitionID: partition, SizeID: "small", Networks: auto("x"), SSHPubKeys: []string{"42"}})
	requireProblems(t, err, machine.ErrInvalidArgument, "ssh_pub_keys[0]")
	off := false
	_, err = l.svc.Allocate(l.ctx, machine.AllocateRequest{ProjectID: "p", PartitionID: partition, SizeID: "small", Role: machine.RoleFirewall,
		Networks: []machine.AllocationNetwork{{NetworkID: "x", AutoAcquire: &off}}})
	require.ErrorIs(t, err, machine.ErrInvalidArgument)
	backendtest.Unchanged(t, before, l.store)
}

// Scenario 11: the network rules, each refused without a write, and the
// two allowed shapes.
func TestAllocateNetworkRules(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("small", 1, 4)
	for i := range 4 {
		l.candidate(machineID(i), 1, i)
	}
	mine := l.childNetwork("p1")
	shared, err := l.nets.AllocateChild(l.ctx, network.AllocateRequest{PartitionID: partition, ProjectID: "p1", Shared: true})
	require.NoError(t, err)
	shared2, err := l.nets.AllocateChild(l.ctx, network.AllocateRequest{PartitionID: partition, ProjectID: "p2", Shared: true})
	require.NoError(t, err)
	cases := []struct {
		name string
		req  machine.AllocateRequest
	}{
		{"same network twice", allocation("p1", mine.ID, mine.ID)},
		{"machine in a private and a shared private network", allocation("p1", mine.ID, shared.ID)},
		{"underlay listed", allocation("p1", mine.ID, "underlay")},
		{"super listed", allocation("p1", mine.ID, "super")},
		{"no private network", allocation("p1", "internet")},
		{"primary of another project", allocation("p2", mine.ID)},
		{"firewall in two shared privates only", func() machine.AllocateRequest {
			r := allocation("p1", shared.ID, shared2.ID)
			r.Role = machine.RoleFirewall
			return r
		}()},
		{"unknown network", allocation("p1", mine.ID, "nope")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := state(t, l.store)
			_, err := l.svc.Allocate(l.ctx, c.req)
			require.Error(t, err)
			assert.Contains(t, []error{errdefs.ErrInvalidArgument, errdefs.ErrNotFound}, errdefs.Class(err), "%v", err)
			assert.Empty(t, state(t, l.store).Diff(before, 5))
		})
	}

	m, err := l.svc.Allocate(l.ctx, allocation("p1", shared.ID))
	require.NoError(t, err)
	assert.Equal(t, machine.PrivatePrimaryShared, m.Allocation.Networks[0].NetworkType, "only a shared private network: it becomes primary")

	ip, err := l.nets.AllocateIP(l.ctx, network.AllocateIPRequest{NetworkID: mine.ID, ProjectID: "p1", Type: network.IPTypeStatic})
	require.NoError(t, err)
	req := allocation("p1", mine.ID)
	req.IPs = []string{ip.IPAddress.String()}
	m, err = l.svc.Allocate(l.ctx, req)
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{ip.IPAddress}, m.Allocation.Networks[0].IPs, "a dual-stack network given one IPv4 address gets no IPv6")
	got, err := l.nets.GetIP(l.ctx, ip.IPAddress)
	require.NoError(t, err)
	assert.Contains(t, got.Tags, network.MachineTagPrefix+m.ID)
}

func machineID(i int) string { return "m" + string(rune('a'+i)) }

// Scenario 12: the reservation check through real allocations.
func TestAllocateReservations(t *testing.T) {
	l := newLab(t, nil, &labOptions{ports: 5})
	l.size("small", 1, 4)
	for i := range 5 {
		l.candidate(machineID(i), 1, i)
	}
	for _, r := range []struct {
		project string
		amount  int
	}{{"p1", 1}, {"p2", 2}} {
		_, err := l.svc.CreateReservation(l.ctx, machine.SizeReservation{SizeID: "small", PartitionIDs: []string{partition}, ProjectID: r.project, Amount: r.amount})
		require.NoError(t, err)
	}
	nets := map[string]string{}
	for _, p := range []string{"p0", "p1", "p2"} {
		nets[p] = l.childNetwork(p).ID
	}
	for i, step := range []struct {
		project string
		ok      bool
	}{{"p0", true}, {"p2", true}, {"p0", true}, {"p0", false}, {"p2", true}, {"p0", false}, {"p2", false}, {"p1", true}} {
		_, err := l.svc.Allocate(l.ctx, allocation(step.project, nets[step.project]))
		if step.ok {
			require.NoError(t, err, "step %d: %s", i, step.project)
		} else {
			require.ErrorIs(t, err, machine.ErrNoMachineAvailable, "step %d: %s", i, step.project)
			assert.Contains(t, err.Error(), "reserved")
		}
	}
}

// Scenario 13: rack spreading by project and by placement tags.
func TestAllocateRackSpreading(t *testing.T) {
	l := newLab(t, nil, &labOptions{ports: 8})
	l.size("small", 1, 4)
	child := l.childNetwork("p1")
	slot := map[int]int{}
	byID := func(rack int, tags ...string) {
		p := slot[rack]
		slot[rack]++
		id := rackID(rack) + "-" + port(p)
		l.candidate(id, rack, p)
		req := allocation("p1", child.ID)
		req.UUID, req.SizeID, req.PartitionID, req.Tags = id, "", "", tags
		_, err := l.svc.Allocate(l.ctx, req)
		require.NoError(t, err)
	}
	for _, r := range []int{1, 1, 1, 2, 3, 3, 2} {
		byID(r)
	}
	for r := 1; r <= 3; r++ {
		for range 2 {
			p := slot[r]
			slot[r]++
			l.candidate(rackID(r)+"-"+port(p), r, p)
		}
	}
	for range 2 {
		m, err := l.svc.Allocate(l.ctx, allocation("p1", child.ID))
		require.NoError(t, err)
		assert.Contains(t, []string{"rack02", "rack03"}, m.RackID, "the racks with the fewest of the project's machines")
	}

	t2 := newLab(t, nil, &labOptions{ports: 8})
	l = t2
	l.size("small", 1, 4)
	child = l.childNetwork("p1")
	slot = map[int]int{}
	byID(1, "cluster1")
	byID(2, "cluster1")
	byID(3, "cluster1", "postgres")
	for r := 1; r <= 3; r++ {
		p := slot[r]
		slot[r]++
		l.candidate(rackID(r)+"-"+port(p), r, p)
	}
	req := allocation("p1", child.ID)
	req.PlacementTags = []string{"cluster1", "postgres"}
	m, err := l.svc.Allocate(l.ctx, req)
	require.NoError(t, err)
	assert.Contains(t, []string{"rack01", "rack02"}, m.RackID, "the tag set decides within the project set")
}

// Scenario 14: a seeded Rand gives the same pick on every store.
func TestAllocatePickRepeats(t *testing.T) {
	picked := map[string]string{}
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		l := newLab(t, s, &labOptions{seed: 1, ports: 6})
		l.size("small", 1, 4)
		for r := 1; r <= 3; r++ {
			for p := range 6 {
				l.candidate(rackID(r)+"-"+port(p), r, p)
			}
		}
		m, err := l.svc.Allocate(l.ctx, allocation("p1", l.childNetwork("p1").ID))
		require.NoError(t, err)
		picked[t.Name()] = m.ID
	})
	var ids []string
	for _, id := range picked {
		ids = append(ids, id)
	}
	require.NotEmpty(t, ids)
	for _, id := range ids {
		assert.Equal(t, ids[0], id, "picks: %v", picked)
	}
}

// Scenario 15: system labels overlay user tags.
func TestAllocateTags(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("small", 1, 4)
	l.register("m1", 1, 0, 4)
	_, err := l.svc.SetIPMI(l.ctx, "m1", machine.IPMI{FRU: machine.FRU{ChassisPartSerial: "chassis123"}})
	require.NoError(t, err)
	l.wait("m1")
	req := allocation("p1", l.childNetwork("p1").ID)
	req.Tags = []string{"usertag=something", "machine.metal-stack.io/network.primary.asn=evil"}
	m, err := l.svc.Allocate(l.ctx, req)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"machine.metal-stack.io/chassis=chassis123",
		"machine.metal-stack.io/network.primary.asn=4210000001",
		"machine.metal-stack.io/rack=rack01",
		"usertag=something",
	}, m.Tags)
}

func ipsOf(m *machine.Machine) []netip.Addr {
	var out []netip.Addr
	for _, n := range m.Allocation.Networks {
		out = append(out, n.IPs...)
	}
	return out
}

// Scenario 16 on every store: a dual-stack private child and a dual-stack
// external network give four IPs and one ASN.
func TestAllocateDualStack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		l := newLab(t, s, nil)
		l.size("small", 1, 4)
		l.candidate("m1", 1, 0)
		child := l.childNetwork("p1")
		m, err := l.svc.Allocate(l.ctx, allocation("p1", child.ID, "internet"))
		require.NoError(t, err)
		require.Len(t, m.Allocation.Networks, 2)
		assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8:0:10::1"),
			netip.MustParseAddr("185.1.2.1"), netip.MustParseAddr("2a02:c00:20::1")}, ipsOf(m))
		for _, n := range m.Allocation.Networks {
			assert.GreaterOrEqual(t, n.ASN, uint32(4210000001))
			assert.Equal(t, m.Allocation.Networks[0].ASN, n.ASN, "one ASN on every machine network")
		}
		assert.Equal(t, machine.PrivatePrimaryUnshared, m.Allocation.Networks[0].NetworkType)
		assert.Equal(t, machine.External, m.Allocation.Networks[1].NetworkType)
		for _, a := range ipsOf(m) {
			ip, err := l.nets.GetIP(l.ctx, a)
			require.NoError(t, err)
			assert.Equal(t, network.IPTypeEphemeral, ip.Type)
			assert.Equal(t, "autoassigned", ip.Description)
			assert.Equal(t, "web", ip.Name)
			assert.Equal(t, "m1", ip.MachineID())
		}
	})
}

// Scenario 17 on every store: the external network's IPv6 prefix is full,
// the allocation fails with the exhaustion class and changes nothing.
func TestAllocateExhaustedChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		l := newLab(t, s, nil)
		l.size("small", 1, 4)
		l.candidate("m1", 1, 0)
		child := l.childNetwork("p1")
		_, err := l.nets.Create(l.ctx, network.CreateRequest{ID: "tiny", Prefixes: []netip.Prefix{netip.MustParsePrefix("185.1.3.0/28"), netip.MustParsePrefix("2a02:c00:30::/127")}})
		require.NoError(t, err)
		_, err = l.nets.AllocateIP(l.ctx, network.AllocateIPRequest{NetworkID: "tiny", ProjectID: "other", AddressFamily: network.IPv6})
		require.NoError(t, err)

		before := backendtest.Dump(t, s)
		_, err = l.svc.Allocate(l.ctx, allocation("p1", child.ID, "tiny"))
		require.Error(t, err)
		assert.ErrorIs(t, err, ipam.ErrExhausted)
		assert.ErrorIs(t, err, errdefs.ErrExhausted)
		backendtest.Unchanged(t, before, s)
		m, err := l.svc.Get(l.ctx, "m1")
		require.NoError(t, err)
		assert.False(t, m.Allocated())
		assert.True(t, m.Waiting, "still a candidate")
		_, err = l.svc.Allocate(l.ctx, allocation("p1", child.ID))
		require.NoError(t, err, "the machine is picked by the next allocation")
	})
}

// Scenario 18 on every store: two allocations race for the only
// candidate.
func TestAllocateRaceForTheOnlyCandidate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		l := newLab(t, s, nil)
		l.size("small", 1, 4)
		l.candidate("m1", 1, 0)
		child := l.childNetwork("p1")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() { _, errs[i] = l.svc.Allocate(l.ctx, allocation("p1", child.ID)) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			assert.ErrorIs(t, err, machine.ErrNoMachineAvailable)
		}
		assert.Equal(t, 1, ok)
		ips, err := l.nets.ListIPs(l.ctx, network.IPFilter{NetworkID: child.ID})
		require.NoError(t, err)
		assert.Len(t, ips, 2, "no IP leaked by the loser")
	})
}

// Scenario 19: by id.
func TestAllocateByID(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("small", 1, 4)
	l.register("m1", 1, 0, 4)
	child := l.childNetwork("p1")
	req := allocation("p1", child.ID)
	req.UUID, req.SizeID, req.PartitionID = "m1", "large", ""
	_, err := l.svc.Allocate(l.ctx, req)
	require.ErrorIs(t, err, machine.ErrInvalidArgument)
	assert.Contains(t, err.Error(), `"large"`)
	assert.Contains(t, err.Error(), `"small"`)
	_, err = l.svc.SetState(l.ctx, "m1", "RESERVED", "for the database")
	require.NoError(t, err)
	req.SizeID = ""
	m, err := l.svc.Allocate(l.ctx, req)
	require.NoError(t, err, "by id, a reserved machine that does not wait is allocated")
	assert.Equal(t, "p1", m.Allocation.Project)
	_, err = l.svc.Allocate(l.ctx, req)
	assert.ErrorIs(t, err, machine.ErrConflict, "already allocated")
	req.UUID = "nope"
	_, err = l.svc.Allocate(l.ctx, req)
	assert.ErrorIs(t, err, machine.ErrNotFound)
}

// quotaCatalog has a quota of one machine for every project and rejects
// images named "machine-only" for firewalls.
type quotaCatalog struct{ machine.AcceptAll }

func (quotaCatalog) Quota(_ context.Context, _, role string) (int, bool, error) {
	return 1, role == string(machine.RoleMachine), nil
}

func (quotaCatalog) Image(_ context.Context, image, role, _ string) error {
	if image == "machine-only" && role == string(machine.RoleFirewall) {
		return errdefs.Errorf(errdefs.ErrInvalidArgument, "image %q is not for firewalls", image)
	}
	return nil
}

func firewallRequest(project string, networks ...string) machine.AllocateRequest {
	r := allocation(project, networks...)
	r.Role = machine.RoleFirewall
	return r
}

// Scenarios 20 and 24: quota counted per role, and the image hook.
func TestAllocateQuotaAndImage(t *testing.T) {
	l := newLab(t, nil, &labOptions{catalog: quotaCatalog{}})
	l.size("small", 1, 4)
	for i := range 3 {
		l.candidate(machineID(i), 1, i)
	}
	child := l.childNetwork("p1")
	_, err := l.svc.Allocate(l.ctx, firewallRequest("p1", child.ID, "internet"))
	require.NoError(t, err)
	_, err = l.svc.Allocate(l.ctx, allocation("p1", child.ID))
	require.NoError(t, err, "the firewall does not count against the machine quota (fix)")
	before := backendtest.Dump(t, l.store)
	_, err = l.svc.Allocate(l.ctx, allocation("p1", child.ID))
	require.ErrorIs(t, err, machine.ErrQuota)
	backendtest.Unchanged(t, before, l.store)

	req := firewallRequest("p1", child.ID)
	req.ImageID = "machine-only"
	_, err = l.svc.Allocate(l.ctx, req)
	require.ErrorIs(t, err, machine.ErrInvalidArgument)
	backendtest.Unchanged(t, before, l.store)

	// Scenario 24: without a hook any project and image is fine.
	free := newLab(t, nil, nil)
	free.size("small", 1, 4)
	free.candidate("m1", 1, 0)
	req = allocation("any", free.childNetwork("any").ID)
	req.ImageID = "any"
	_, err = free.svc.Allocate(free.ctx, req)
	require.NoError(t, err)
}

func portVRFs(t *testing.T, l *lab, machineID string) []switchstate.PortVRF {
	t.Helper()
	var out []switchstate.PortVRF
	for _, leaf := range []string{leafID(1, "a"), leafID(1, "b")} {
		sw, err := l.sws.Get(l.ctx, leaf)
		require.NoError(t, err)
		for _, c := range sw.Connections {
			if c.MachineID == machineID {
				out = append(out, c.Nic.Vrf)
			}
		}
	}
	return out
}

// Scenario 21, reinstall and abort.
func TestReportReinstallAbort(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("small", 1, 4)
	l.candidate("m1", 1, 0)
	l.candidate("fw", 1, 1)
	child := l.childNetwork("p1")
	req := allocation("p1", child.ID)
	req.UUID = "m1"
	_, err := l.svc.Allocate(l.ctx, req)
	require.NoError(t, err)
	fw := firewallRequest("p1", child.ID, "internet")
	fw.UUID = "fw"
	_, err = l.svc.Allocate(l.ctx, fw)
	require.NoError(t, err)

	bi := machine.BootInfo{ImageID: "ubuntu-24.04", PrimaryDisk: "/dev/nvme0n1", Kernel: "/boot/vmlinuz"}
	m, err := l.svc.Report(l.ctx, "m1", machine.ReportRequest{ConsolePassword: "secret", BootInfo: bi})
	require.NoError(t, err)
	assert.True(t, m.Allocation.Succeeded, "succeeded is set (fix)")
	want := switchstate.TenantVRF(child.VRF)
	assert.Equal(t, []switchstate.PortVRF{want, want}, portVRFs(t, l, "m1"))
	_, err = l.svc.Report(l.ctx, "fw", machine.ReportRequest{BootInfo: bi})
	require.NoError(t, err)
	assert.Equal(t, []switchstate.PortVRF{switchstate.VRFDefault, switchstate.VRFDefault}, portVRFs(t, l, "fw"))

	m, err = l.svc.Reinstall(l.ctx, "m1", "debian-12")
	require.NoError(t, err)
	assert.True(t, m.Allocation.Reinstall)
	assert.Equal(t, "debian-12", m.Allocation.ImageID)
	assert.Equal(t, []switchstate.PortVRF{"", ""}, portVRFs(t, l, "m1"), "a reinstall boots into PXE")
	old, err := l.svc.AbortReinstall(l.ctx, "m1", false)
	require.NoError(t, err)
	assert.Equal(t, &bi, old)
	m, err = l.svc.Get(l.ctx, "m1")
	require.NoError(t, err)
	assert.False(t, m.Allocation.Reinstall)
	assert.Equal(t, "ubuntu-24.04", m.Allocation.ImageID)

	desc := "web server"
	m, err = l.svc.Update(l.ctx, machine.UpdateRequest{ID: "m1", Description: &desc, Tags: []string{"team=web"}})
	require.NoError(t, err)
	assert.Equal(t, "web server", m.Allocation.Description)
	assert.Contains(t, m.Tags, "team=web")
	assert.Contains(t, m.Tags, "machine.metal-stack.io/rack=rack01")

	_, err = l.svc.Report(l.ctx, "nope", machine.ReportRequest{})
	assert.ErrorIs(t, err, machine.ErrNotFound)
}

// Scenario 22 on every store: free releases what the allocation took.
func TestFree(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		l := newLab(t, s, nil)
		l.size("small", 1, 4)
		l.candidate("m1", 1, 0)
		child := l.childNetwork("p1")
		static, err := l.nets.AllocateIP(l.ctx, network.AllocateIPRequest{NetworkID: "internet", ProjectID: "p1", Type: network.IPTypeStatic})
		require.NoError(t, err)
		shared, err := l.nets.AllocateIP(l.ctx, network.AllocateIPRequest{NetworkID: "internet", ProjectID: "p1", MachineID: "other"})
		require.NoError(t, err)
		_, err = l.nets.UpdateIP(l.ctx, network.UpdateIPRequest{IPAddress: shared.IPAddress, Tags: []string{network.MachineTagPrefix + "other", network.MachineTagPrefix + "m1"}})
		require.NoError(t, err)
		req := allocation("p1", child.ID, "internet")
		req.IPs = []string{static.IPAddress.String()}
		m, err := l.svc.Allocate(l.ctx, req)
		require.NoError(t, err)
		_, err = l.svc.Report(l.ctx, "m1", machine.ReportRequest{})
		require.NoError(t, err)

		freed, err := l.svc.Free(l.ctx, "m1")
		require.NoError(t, err)
		assert.Nil(t, freed.Allocation)
		assert.Nil(t, freed.Tags)
		for _, a := range m.Allocation.Networks[0].IPs {
			_, err := l.nets.GetIP(l.ctx, a)
			assert.ErrorIs(t, err, network.ErrNotFound, "ephemeral %s released", a)
		}
		ip, err := l.nets.GetIP(l.ctx, static.IPAddress)
		require.NoError(t, err, "a static IP is kept")
		assert.NotContains(t, ip.Tags, network.MachineTagPrefix+"m1")
		ip, err = l.nets.GetIP(l.ctx, shared.IPAddress)
		require.NoError(t, err, "an IP tagged by another machine is kept")
		assert.Equal(t, []string{network.MachineTagPrefix + "other"}, ip.Tags)
		assert.Equal(t, []switchstate.PortVRF{"", ""}, portVRFs(t, l, "m1"))
		c, err := l.svc.GetEvents(l.ctx, "m1")
		require.NoError(t, err)
		assert.Equal(t, machine.EventMachineReclaim, c.Events[0].Event)
		_, err = ipamPool(t, l)
		assert.ErrorIs(t, err, ipam.ErrNotFound, "the ASN went back and the pool with it")

		again, err := l.svc.Free(l.ctx, "m1")
		require.NoError(t, err, "freeing a free machine is allowed")
		assert.Nil(t, again.Allocation)
	})
}

func ipamPool(t *testing.T, l *lab) (ipam.Pool, error) {
	t.Helper()
	return ipam.New(l.store, nil).GetPool(l.ctx, "machine/asn")
}

// Scenario 23: a LOCKED machine is neither freed nor reinstalled.
func TestLockedMachine(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("small", 1, 4)
	l.candidate("m1", 1, 0)
	_, err := l.svc.Allocate(l.ctx, allocation("p1", l.childNetwork("p1").ID))
	require.NoError(t, err)
	_, err = l.svc.SetState(l.ctx, "m1", "locked", "in use by the database team")
	require.NoError(t, err)
	before := backendtest.Dump(t, l.store)
	_, err = l.svc.Free(l.ctx, "m1")
	require.ErrorIs(t, err, machine.ErrLocked)
	assert.ErrorIs(t, err, errdefs.ErrConflict)
	_, err = l.svc.Reinstall(l.ctx, "m1", "debian-12")
	require.ErrorIs(t, err, machine.ErrLocked)
	backendtest.Unchanged(t, before, l.store)
}

// Through the kit's cross-package transaction: an allocation and a caller
// key commit together, and the allocation's event is recorded once.
func TestAllocateInsideAnotherTransaction(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("small", 1, 4)
	l.candidate("m1", 1, 0)
	child := l.childNetwork("p1")
	ctx := audit.NewContext(l.ctx, audit.Actor{User: "alice", RequestID: "rq-x"})
	before := backendtest.Dump(t, l.store)
	err := audit.Update(ctx, l.trail, l.store, func(tx backends.Tx, rec *audit.Recorder) error {
		if _, err := l.svc.Bind(ctx, tx, rec).Allocate(allocation("p1", child.ID)); err != nil {
			return err
		}
		return errdefs.Errorf(errdefs.ErrConflict, "the caller changed its mind")
	})
	require.ErrorIs(t, err, errdefs.ErrConflict)
	backendtest.Unchanged(t, before, l.store)
	require.NoError(t, audit.Update(ctx, l.trail, l.store, func(tx backends.Tx, rec *audit.Recorder) error {
		_, err := l.svc.Bind(ctx, tx, rec).Allocate(allocation("p1", child.ID))
		return err
	}))
	res, err := l.trail.Search(ctx, audit.Filter{RequestID: "rq-x"})
	require.NoError(t, err)
	require.Len(t, res.Entries, 1)
	assert.Equal(t, "machine.allocate", res.Entries[0].Detail)
}
