package api_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metal-stack/metal-go/api/client/image"
	nwclient "github.com/metal-stack/metal-go/api/client/network"
	"github.com/metal-stack/metal-go/api/client/size"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/testclock"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/switchstate"
)

// Images of the machine lab.
const (
	machineImage  = "lab-ubuntu-24.04.20240501"
	firewallImage = "lab-firewall-3.0.20240101"
)

// machineLab is a partition p1 with project pr1, ready for machines: what
// metal-go can create is created through metal-go (partition, project,
// images, size c1-small of 1 to 8 cores, a dual-stack private super
// network, an underlay, an internet network, a child network of pr1), and
// what comes from agents (switches, machine registration, waiting) goes
// through the kit's Go API, as metal-core and metal-hammer would cause it.
type machineLab struct {
	t      *testing.T
	h      *harness
	clock  *testclock.Clock
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// child is the id of pr1's private network.
	child string
}

// newLabClock returns a clock at the current second.
func newLabClock() *testclock.Clock { return testclock.New(time.Now().UTC().Truncate(time.Second)) }

// newMachineLab serves a new harness over store with the lab set up; the
// kit's clock is the lab's.
func newMachineLab(t *testing.T, store backends.Store, o *harnessOptions) *machineLab {
	t.Helper()
	if o == nil {
		o = &harnessOptions{}
	}
	clock := newLabClock()
	o.clock = clock.Now
	return setupMachineLab(t, newHarness(t, store, o), clock)
}

// setupMachineLab sets the lab up in h, whose kit runs on clock. Its
// networks' prefixes are the lab's own (10.64.0.0/16, 2001:db8:64::/48,
// 10.254.0.0/22, 185.9.0.0/24, 2a02:c00:99::/64), so that it fits beside
// other tests' networks.
func setupMachineLab(t *testing.T, h *harness, clock *testclock.Clock) *machineLab {
	t.Helper()
	l := &machineLab{t: t, h: h, clock: clock}
	l.ctx, l.cancel = context.WithCancel(audit.NewContext(context.Background(), audit.Actor{User: "metal-hammer"}))
	// Runs before the harness closes the kit: the waits end first.
	t.Cleanup(func() {
		l.cancel()
		l.wg.Wait()
	})
	admin := h.admin()
	seedCatalog(t, admin, "p1", "pr1")
	for _, img := range []struct{ id, feature string }{{machineImage, "machine"}, {firewallImage, "firewall"}} {
		_, err := admin.Image().CreateImage(image.NewCreateImageParams().WithBody(&models.V1ImageCreateRequest{
			ID: ptr(img.id), URL: ptr("https://images.example.org/" + img.id), Features: []string{img.feature},
		}), nil)
		require.NoError(t, err)
	}
	_, err := admin.Size().CreateSize(size.NewCreateSizeParams().WithBody(&models.V1SizeCreateRequest{
		ID: ptr("c1-small"), Name: "small", Constraints: []*models.V1SizeConstraint{{Type: ptr("cores"), Min: 1, Max: 8}},
	}), nil)
	require.NoError(t, err)
	for _, n := range []*models.V1NetworkCreateRequest{
		{ID: ptr("lab-super"), Partitionid: "p1", Privatesuper: ptr(true), Prefixes: []string{"10.64.0.0/16", "2001:db8:64::/48"},
			Defaultchildprefixlength: map[string]int64{"IPv4": 22, "IPv6": 64}},
		{ID: ptr("lab-underlay"), Partitionid: "p1", Underlay: ptr(true), Prefixes: []string{"10.254.0.0/22"}},
		{ID: ptr("lab-internet"), Nat: ptr(true), Vrf: 104010, Prefixes: []string{"185.9.0.0/24", "2a02:c00:99::/64"}, Destinationprefixes: []string{"0.0.0.0/0"}},
	} {
		_, err := admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(n), nil)
		require.NoError(t, err)
	}
	child, err := h.edit().Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{
		Partitionid: "p1", Projectid: "pr1", Name: "pr1 network",
	}), nil)
	require.NoError(t, err)
	l.child = *child.Payload.ID
	for r := 1; r <= 2; r++ {
		for _, leaf := range []string{"a", "b"} {
			id := leafID(r, leaf)
			nics := make([]switchstate.RegisterNic, 4)
			for p := range nics {
				nics[p] = switchstate.RegisterNic{Name: portName(p), Identifier: id + "-" + portName(p)}
			}
			_, _, err := h.kit.Switches.Register(l.ctx, switchstate.RegisterRequest{ID: id, Name: &id, PartitionID: "p1",
				RackID: fmt.Sprintf("rack%02d", r), OS: &switchstate.OS{Vendor: switchstate.VendorSONiC}, Nics: nics})
			require.NoError(t, err)
		}
	}
	return l
}

func leafID(rack int, leaf string) string { return fmt.Sprintf("r%d-leaf-%s", rack, leaf) }
func portName(p int) string               { return fmt.Sprintf("Ethernet%d", p*4) }

// register registers machine id with cores cores, wired to port p of
// rack's two leaves, with a BMC of its own.
func (l *machineLab) register(id string, rack, p int, cores uint32) *machine.Machine {
	l.t.Helper()
	nic := func(leaf string, n int) machine.NIC {
		sw := leafID(rack, leaf)
		return machine.NIC{Name: fmt.Sprintf("lan%d", n), MacAddress: fmt.Sprintf("aa:00:00:%02x:%02x:%02x", rack, p, n),
			Neighbors: []machine.Neighbor{{Hostname: sw, Name: portName(p), Identifier: sw + "-" + portName(p)}}}
	}
	m, _, err := l.h.kit.Machines.Register(l.ctx, machine.RegisterRequest{
		ID: id, PartitionID: "p1", MetalHammerVersion: "v0.13.0",
		Hardware: &machine.Hardware{
			Memory: 32 << 30,
			CPUs:   []machine.CPU{{Vendor: "AMD", Model: "EPYC 7402P", Cores: cores, Threads: 2 * cores}},
			Disks:  []machine.BlockDevice{{Name: "/dev/nvme0n1", Size: 960 << 30}},
			NICs:   []machine.NIC{nic("a", 0), nic("b", 1)},
		},
		BIOS: &machine.BIOS{Vendor: "AMI", Version: "2.1", Date: "01/01/2024"},
		IPMI: &machine.IPMI{Address: fmt.Sprintf("10.9.%d.%d:623", rack, p), MacAddress: fmt.Sprintf("bb:00:00:%02x:%02x:00", rack, p),
			User: "admin", Password: "secret", Interface: "lanplus", FRU: machine.FRU{ChassisPartSerial: "chassis-" + id}},
	})
	require.NoError(l.t, err)
	return m
}

// wait makes machine id wait for an allocation (as metal-hammer does) and
// returns once its flag is set.
func (l *machineLab) wait(id string) {
	l.t.Helper()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		_, _ = l.h.kit.Machines.Wait(l.ctx, id)
	}()
	require.Eventually(l.t, func() bool {
		m, err := l.h.kit.Machines.Get(l.ctx, id)
		return err == nil && m.Waiting
	}, 10*time.Second, time.Millisecond)
}

// candidate registers a waiting machine of size c1-small.
func (l *machineLab) candidate(id string, rack, p int) {
	l.t.Helper()
	l.register(id, rack, p, 4)
	l.wait(id)
}

// kill lets machine id die: an event now, then the clock moves 10 minutes
// and the liveliness pass marks it dead.
func (l *machineLab) kill(id string) {
	l.t.Helper()
	_, err := l.h.kit.Machines.Event(l.ctx, id, string(machine.EventPXEBooting), "")
	require.NoError(l.t, err)
	l.clock.Add(10 * time.Minute)
	_, err = l.h.kit.Machines.Liveliness(l.ctx)
	require.NoError(l.t, err)
}

// requireConsistent fails when the kit's check finds anything.
func (l *machineLab) requireConsistent() {
	l.t.Helper()
	rep, err := l.h.kit.Check(context.Background(), nil)
	require.NoError(l.t, err)
	require.Empty(l.t, rep.Findings, "the store is consistent")
}

// allocation is metal-go's allocation by size for pr1 into its private
// network and the internet.
func (l *machineLab) allocation(name string) *models.V1MachineAllocateRequest {
	return &models.V1MachineAllocateRequest{
		Name: name, Hostname: name, Projectid: ptr("pr1"), Partitionid: ptr("p1"), Sizeid: ptr("c1-small"),
		Imageid: ptr("lab-ubuntu-24.04"), Description: "a web server", Tags: []string{"app=web"},
		SSHPubKeys: []string{testSSHKey},
		Networks:   []*models.V1MachineAllocationNetwork{{Networkid: ptr(l.child)}, {Networkid: ptr("lab-internet")}},
	}
}

// testSSHKey is an authorized_keys line of a fixed ed25519 key.
var testSSHKey = func() string {
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public())
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}()
