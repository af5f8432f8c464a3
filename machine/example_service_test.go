package machine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

// example is the control plane the service examples run: one partition
// with a private super network and a rack of two leaves, and a size.
type example struct {
	ctx      context.Context
	machines *machine.Service
	networks *network.Service
	switches *switchstate.Service
}

// newExample sets up the partition over a memory store, with a fixed
// clock, sequential ids and a seeded random source, so that the examples
// print the same every time.
func newExample() (*example, error) {
	store := memstore.New()
	clock := func() time.Time { return time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC) }
	n := 0
	ids := func() string { n++; return fmt.Sprintf("id-%d", n) }
	x := &example{
		// The caller travels in the context: here an operator, as an API
		// server's middleware would put it there.
		ctx:      audit.NewContext(context.Background(), audit.Actor{User: "alice"}),
		networks: network.New(store, &network.Options{Clock: clock, IDs: ids}),
		switches: switchstate.New(store, &switchstate.Options{Clock: clock}),
	}
	x.machines = machine.New(store, &machine.Options{Clock: clock, IDs: ids, Networks: x.networks, Switches: x.switches,
		Rand: rand.New(rand.NewPCG(1, 2)), WaitPoll: time.Second})

	if _, err := x.networks.Create(x.ctx, network.CreateRequest{ID: "super-fra", PartitionID: "fra", PrivateSuper: true,
		Prefixes:                 []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("2001:db8:0:10::/64")},
		DefaultChildPrefixLength: network.ChildLengths{network.IPv4: 22, network.IPv6: 96}}); err != nil {
		return nil, err
	}
	for _, leaf := range []string{"leaf01", "leaf02"} {
		if _, _, err := x.switches.Register(x.ctx, switchstate.RegisterRequest{ID: leaf, Name: &leaf, PartitionID: "fra", RackID: "rack01",
			OS:   &switchstate.OS{Vendor: switchstate.VendorSONiC},
			Nics: []switchstate.RegisterNic{{Name: "Ethernet0", Identifier: leaf + "-Ethernet0"}, {Name: "Ethernet4", Identifier: leaf + "-Ethernet4"}},
		}); err != nil {
			return nil, err
		}
	}
	if _, err := x.machines.CreateSize(x.ctx, machine.Size{ID: "c1-small", Constraints: []machine.Constraint{
		{Type: machine.CoreConstraint, Min: 1, Max: 8}, {Type: machine.MemoryConstraint, Min: 16 << 30, Max: 64 << 30}}}); err != nil {
		return nil, err
	}
	return x, nil
}

// registration is what metal-hammer sends for machine id, wired to port of
// both leaves.
func registration(id, port string) machine.RegisterRequest {
	nic := func(name, leaf string) machine.NIC {
		return machine.NIC{Name: name, MacAddress: "aa:00:00:00:" + id[len(id)-2:] + ":0" + name[len(name)-1:],
			Neighbors: []machine.Neighbor{{Hostname: leaf, Name: port, Identifier: leaf + "-" + port}}}
	}
	return machine.RegisterRequest{
		ID: id, PartitionID: "fra", MetalHammerVersion: "v0.13.0",
		BIOS: &machine.BIOS{Vendor: "AMI", Version: "2.1"},
		Hardware: &machine.Hardware{
			Memory: 32 << 30,
			CPUs:   []machine.CPU{{Vendor: "AMD", Model: "EPYC 7402P", Cores: 8, Threads: 16}},
			Disks:  []machine.BlockDevice{{Name: "/dev/nvme0n1", Size: 960 << 30}},
			NICs:   []machine.NIC{nic("lan0", "leaf01"), nic("lan1", "leaf02")},
		},
	}
}

// metal-hammer registers a machine: its size is identified from the
// hardware, its rack and partition come from the two leaves its NICs see,
// and the leaves record the connections.
func ExampleService_Register() {
	x, err := newExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	m, created, err := x.machines.Register(x.ctx, registration("m-01", "Ethernet0"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("created:", created, "size:", m.SizeID, "partition:", m.PartitionID, "rack:", m.RackID)
	fmt.Println("state:", m.LEDState.Value, m.LEDState.Description)
	for _, leaf := range []string{"leaf01", "leaf02"} {
		sw, err := x.switches.Get(x.ctx, leaf)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, c := range sw.Connections {
			fmt.Println(leaf, c.Nic.Name, "->", c.MachineID)
		}
	}

	// A machine seen by one leaf only is refused, and nothing is stored.
	req := registration("m-02", "Ethernet4")
	req.Hardware.NICs = req.Hardware.NICs[:1]
	_, _, err = x.machines.Register(x.ctx, req)
	fmt.Println(err)
	_, err = x.machines.Get(x.ctx, "m-02")
	fmt.Println(err)
	// Output:
	// created: true size: c1-small partition: fra rack: rack01
	// state: LED-OFF Machine registered
	// leaf01 Ethernet0 -> m-01
	// leaf02 Ethernet0 -> m-01
	// machine: register "m-02": switchstate: machine m-02 is not connected to exactly two switches, found connections to 1 switches
	// machine: machine "m-02" does not exist
}

// A registered machine waits for an allocation; an allocation by size
// picks it, acquires an IP of each family of the project's network and an
// ASN, and wakes the wait. Freeing the machine gives everything back.
func ExampleService_Allocate() {
	x, err := newExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, _, err := x.machines.Register(x.ctx, registration("m-01", "Ethernet0")); err != nil {
		fmt.Println(err)
		return
	}
	waited := make(chan *machine.Machine)
	go func() {
		m, err := x.machines.Wait(x.ctx, "m-01")
		if err != nil {
			fmt.Println(err)
		}
		waited <- m
	}()
	for {
		m, err := x.machines.Get(x.ctx, "m-01")
		if err != nil {
			fmt.Println(err)
			return
		}
		if m.Waiting {
			break
		}
		time.Sleep(time.Millisecond)
	}

	private, err := x.networks.AllocateChild(x.ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "project-a"})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := x.machines.Allocate(x.ctx, machine.AllocateRequest{
		Name: "web01", ProjectID: "project-a", PartitionID: "fra", SizeID: "c1-small", ImageID: "ubuntu-24.04",
		Networks: []machine.AllocationNetwork{{NetworkID: private.ID}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("allocated:", m.ID, "to", m.Allocation.Project, "by", m.Allocation.Creator)
	for _, n := range m.Allocation.Networks {
		fmt.Println(n.NetworkID, n.NetworkType, n.IPs, n.ASN)
	}
	fmt.Println("tags:", m.Tags)
	fmt.Println("the wait returns:", (<-waited).Allocation.Name)

	freed, err := x.machines.Free(x.ctx, m.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	ips, err := x.networks.ListIPs(x.ctx, network.IPFilter{NetworkID: private.ID})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("freed:", freed.Allocation == nil, "IPs left:", len(ips))
	// Output:
	// allocated: m-01 to project-a by alice
	// id-1 privateprimaryunshared [10.0.0.1 2001:db8:0:10::1] 4210000001
	// tags: [machine.metal-stack.io/network.primary.asn=4210000001 machine.metal-stack.io/rack=rack01]
	// the wait returns: web01
	// freed: true IPs left: 0
}

// metal-hammer and the installed machine report provisioning events in
// batches; each machine's events commit together, and a machine whose
// events fail is named in the result without holding up the others.
func ExampleService_SendEvents() {
	x, err := newExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, _, err := x.machines.Register(x.ctx, registration("m-01", "Ethernet0")); err != nil {
		fmt.Println(err)
		return
	}
	res, err := x.machines.SendEvents(x.ctx, []machine.Event{
		{MachineID: "m-01", Event: "PXE Booting"},
		{MachineID: "m-01", Event: "Preparing"},
		{MachineID: "m-02", Event: "PXE Booting"},
		{MachineID: "m-02", Event: "Rebooting"},
		{MachineID: "m-01", Event: "Registering"},
		{MachineID: "m-01", Event: "Alive", Message: "sending alive"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("events:", res.Events)
	for _, f := range res.Failed {
		fmt.Println("failed:", f.MachineID, f.Message)
	}
	c, err := x.machines.GetEvents(x.ctx, "m-01")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range c.Events {
		fmt.Println(e.Time.Format(time.RFC3339), e.Event)
	}
	fmt.Println("liveliness:", c.Liveliness, "last event:", c.LastEventTime.Format(time.RFC3339))
	_, err = x.machines.Get(x.ctx, "m-02")
	fmt.Println(err)
	// Output:
	// events: 4
	// failed: m-02 machine: event "Rebooting" is not a provisioning event type
	// 2024-05-10T12:00:00Z Registering
	// 2024-05-10T12:00:00Z Preparing
	// 2024-05-10T12:00:00Z PXE Booting
	// liveliness: Alive last event: 2024-05-10T12:00:00Z
	// machine: machine "m-02" does not exist
}
