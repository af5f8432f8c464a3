package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	mclient "github.com/metal-stack/metal-go/api/client/machine"
	swclient "github.com/metal-stack/metal-go/api/client/switch_operations"
	"github.com/metal-stack/metal-go/api/models"

	"github.com/metalkit/metalkit/switchstate"
)

// rackID is the rack of both leaves, and so of both machines.
const rackID = "test-rack"

// leaf is one of the lab's SONiC leaf switches.
type leaf struct {
	id string
	// n numbers the leaves from 1.
	n int
}

// leaves are the rack's two leaves; every machine is wired to both.
var leaves = []leaf{{id: "leaf01", n: 1}, {id: "leaf02", n: 2}}

// switchPort is a port of a leaf; both leaves have the same ports.
type switchPort struct {
	name, identifier string
	// line numbers the port for its MAC.
	line int
}

// switchPorts are the leaves' ports; machinePorts, the first two, go to
// the machines (machinePorts[i] to machine i+1), the others are unused.
var (
	switchPorts = []switchPort{
		{"Ethernet0", "Eth1/1", 0}, {"Ethernet1", "Eth1/2", 1}, {"Ethernet2", "Eth1/3", 2}, {"Ethernet3", "Eth1/4", 3},
	}
	machinePorts = switchPorts[:2]
)

// portMAC is the MAC of port p of l.
func portMAC(l leaf, p switchPort) string { return fmt.Sprintf("2a:00:00:00:%02x:%02x", l.n, p.line) }

// bgpUptime is how long the sessions of the installed machine have been up
// when the leaves report them, as in the announcement.
const bgpUptime = 54 * time.Second

// registerSwitch plays metal-core's start on lf: it registers the switch
// with its ports and reports them, the machines' ports up and the others
// down, with no BGP sessions yet.
func (l *lab) registerSwitch(ctx context.Context, lf leaf) error {
	nics := make([]*models.V1SwitchNic, len(switchPorts))
	for i, p := range switchPorts {
		nics[i] = &models.V1SwitchNic{Name: ptr(p.name), Identifier: ptr(p.identifier), Mac: ptr(portMAC(lf, p))}
	}
	_, _, err := l.edit.SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParamsWithContext(ctx).WithBody(&models.V1SwitchRegisterRequest{
		ID: ptr(lf.id), Name: lf.id, Description: "SONiC leaf " + lf.id + " of " + rackID,
		PartitionID: ptr(partitionID), RackID: ptr(rackID), Nics: nics,
		Os:           &models.V1SwitchOS{Vendor: string(switchstate.VendorSONiC), Version: "202311", MetalCoreVersion: "v0.13.0"},
		ManagementIP: fmt.Sprintf("10.255.0.%d", 10+lf.n), ManagementUser: "admin",
	}), nil)
	if err != nil {
		return fmt.Errorf("registering switch %s: %w", lf.id, err)
	}
	if err := l.notify(ctx, lf, time.Now(), nil); err != nil {
		return err
	}
	l.log.Info("lab: switch registered", "switch", lf.id, "rack", rackID)
	return nil
}

// reportBGP plays one of metal-core's cycles on lf after the installed
// machine phoned home: it reads the switch from the API, as metal-core
// does to configure the switch, makes the output of FRR's `show bgp vrf
// all neighbors json` that the configuration gives (a session on every
// machine port in a tenant VRF), parses it as metal-core does, and
// reports the port and BGP states.
func (l *lab) reportBGP(ctx context.Context, lf leaf, hostnames map[string]string) error {
	start := time.Now()
	sw, err := l.edit.SwitchOperations().FindSwitch(swclient.NewFindSwitchParamsWithContext(ctx).WithID(lf.id), nil)
	if err != nil {
		return fmt.Errorf("reading switch %s: %w", lf.id, err)
	}
	dump, err := frrNeighbors(sw.Payload, hostnames, l.now().Add(-bgpUptime))
	if err != nil {
		return fmt.Errorf("switch %s: %w", lf.id, err)
	}
	states, err := switchstate.ParseFRRNeighbors(dump)
	if err != nil {
		return fmt.Errorf("switch %s: %w", lf.id, err)
	}
	bgp := make(map[string]models.V1SwitchBGPPortState, len(states))
	for port, s := range states {
		bgp[port] = models.V1SwitchBGPPortState{
			Neighbor: ptr(s.Neighbor), PeerGroup: ptr(s.PeerGroup), VrfName: ptr(s.VrfName), BgpState: ptr(string(s.BgpState)),
			BgpTimerUpEstablished: ptr(s.BgpTimerUpEstablished), SentPrefixCounter: ptr(s.SentPrefixCounter), AcceptedPrefixCounter: ptr(s.AcceptedPrefixCounter),
		}
	}
	if err := l.notify(ctx, lf, start, bgp); err != nil {
		return err
	}
	l.log.Info("lab: switch reported its BGP sessions", "switch", lf.id, "sessions", len(bgp))
	return nil
}

// notify reports lf's ports (the machines' up, the others down) and, when
// bgp is not nil, its BGP sessions; the sync took from start until now.
func (l *lab) notify(ctx context.Context, lf leaf, start time.Time, bgp map[string]models.V1SwitchBGPPortState) error {
	ports := make(map[string]string, len(switchPorts))
	for _, p := range switchPorts {
		ports[p.name] = string(switchstate.PortDown)
	}
	for _, p := range machinePorts {
		ports[p.name] = string(switchstate.PortUp)
	}
	_, err := l.edit.SwitchOperations().NotifySwitch(swclient.NewNotifySwitchParamsWithContext(ctx).WithID(lf.id).WithBody(&models.V1SwitchNotifyRequest{
		SyncDuration: ptr(int64(time.Since(start))), PortStates: ports, BgpPortStates: bgp,
	}), nil)
	if err != nil {
		return fmt.Errorf("notifying for switch %s: %w", lf.id, err)
	}
	return nil
}

// frrNeighbors returns what FRR's `show bgp vrf all neighbors json` prints
// on a SONiC leaf configured as sw says: the default VRF, and one VRF per
// tenant VRF of a connected port with a BGP-unnumbered session on that
// port, established at up, to the machine (hostnames[machine id], peer
// group MACHINE), which announces one prefix per address family.
func frrNeighbors(sw *models.V1SwitchResponse, hostnames map[string]string, up time.Time) ([]byte, error) {
	vrfOf := map[string]string{}
	for _, n := range sw.Nics {
		if n != nil && n.Name != nil {
			vrfOf[*n.Name] = n.Vrf
		}
	}
	vrfs := map[string]map[string]any{"default": {"vrfId": 0, "vrfName": "default"}}
	for _, c := range sw.Connections {
		if c == nil || c.Nic == nil || c.Nic.Name == nil {
			continue
		}
		port := *c.Nic.Name
		vrf := vrfOf[port]
		if !strings.HasPrefix(vrf, "vrf") {
			continue // unprovisioned (PXE) or firewall port: no session
		}
		v, ok := vrfs[vrf]
		if !ok {
			// FRR's vrfId is the kernel's index of the VRF device.
			v = map[string]any{"vrfId": len(vrfs) + 40, "vrfName": vrf}
			vrfs[vrf] = v
		}
		counters := map[string]int{"sentPrefixCounter": 2, "acceptedPrefixCounter": 1}
		v[port] = map[string]any{
			"hostname":                   hostnames[c.MachineID],
			"peerGroup":                  "MACHINE",
			"bgpState":                   string(switchstate.BGPEstablished),
			"bgpTimerUpEstablishedEpoch": up.Round(time.Second).Unix(),
			"addressFamilyInfo":          map[string]any{"ipv4Unicast": counters, "ipv6Unicast": counters},
		}
	}
	return json.MarshalIndent(vrfs, "", "  ")
}

// connectedMachines prints the partition's switches with the machines
// connected to them as `metalctl switch connected-machines -o wide` does:
// it finds the partition's switches and, with their IPMI data (for the
// serials), its machines through metal-go, and shapes them into the
// inputs of switchstate.ConnectedMachines.
func (l *lab) connectedMachines(ctx context.Context, w io.Writer) error {
	sws, err := l.edit.SwitchOperations().FindSwitches(swclient.NewFindSwitchesParamsWithContext(ctx).WithBody(&models.V1SwitchFindRequest{
		Partitionid: partitionID,
	}), nil)
	if err != nil {
		return fmt.Errorf("finding the switches: %w", err)
	}
	ms, err := l.edit.Machine().FindIPMIMachines(mclient.NewFindIPMIMachinesParamsWithContext(ctx).WithBody(&models.V1MachineFindRequest{
		PartitionID: partitionID,
	}), nil)
	if err != nil {
		return fmt.Errorf("finding the machines: %w", err)
	}
	switches := make([]*switchstate.Switch, len(sws.Payload))
	for i, sw := range sws.Payload {
		switches[i] = viewSwitch(sw)
	}
	infos := make(map[string]switchstate.MachineInfo, len(ms.Payload))
	for _, m := range ms.Payload {
		infos[deref(m.ID)] = machineInfo(m)
	}
	rows, err := switchstate.ConnectedMachines(switches, infos, switchstate.ViewOptions{Wide: true, Now: l.now()})
	if err != nil {
		return err
	}
	return switchstate.RenderConnectedMachines(w, rows, true)
}

// viewSwitch is what the connected-machines view reads of a switch: its
// partition and rack, its ports with their states and BGP sessions, and
// its connections.
func viewSwitch(sw *models.V1SwitchResponse) *switchstate.Switch {
	out := &switchstate.Switch{ID: deref(sw.ID), RackID: deref(sw.RackID)}
	if sw.Partition != nil {
		out.PartitionID = deref(sw.Partition.ID)
	}
	for _, n := range sw.Nics {
		if n != nil {
			out.Nics = append(out.Nics, viewNic(n))
		}
	}
	for _, c := range sw.Connections {
		if c != nil && c.Nic != nil {
			out.Connections = append(out.Connections, switchstate.Connection{Nic: viewNic(c.Nic), MachineID: c.MachineID})
		}
	}
	return out
}

func viewNic(n *models.V1SwitchNic) switchstate.Nic {
	out := switchstate.Nic{
		MAC: deref(n.Mac), Name: deref(n.Name), Identifier: deref(n.Identifier),
		Vrf: switchstate.PortVRF(n.Vrf), Actual: switchstate.PortState(deref(n.Actual)),
	}
	if b := n.BgpPortState; b != nil {
		out.BGPPortState = &switchstate.BGPPortState{
			Neighbor: deref(b.Neighbor), PeerGroup: deref(b.PeerGroup), VrfName: deref(b.VrfName),
			BgpState: switchstate.BGPState(deref(b.BgpState)), BgpTimerUpEstablished: deref(b.BgpTimerUpEstablished),
			SentPrefixCounter: deref(b.SentPrefixCounter), AcceptedPrefixCounter: deref(b.AcceptedPrefixCounter),
		}
	}
	return out
}

// machineInfo is what the connected-machines view shows of a machine.
func machineInfo(m *models.V1MachineIPMIResponse) switchstate.MachineInfo {
	out := switchstate.MachineInfo{Rack: m.Rackid}
	if m.Partition != nil {
		out.Partition = deref(m.Partition.ID)
	}
	if m.Size != nil {
		out.Size = deref(m.Size.ID)
	}
	if m.Allocation != nil {
		out.Hostname = deref(m.Allocation.Hostname)
	}
	if m.Ipmi != nil && m.Ipmi.Fru != nil {
		out.ProductSerial, out.ChassisSerial = m.Ipmi.Fru.ProductSerial, m.Ipmi.Fru.ChassisPartSerial
	}
	return out
}
