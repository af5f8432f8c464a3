package switchstate_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/switchstate"
)

func fixedClock() time.Time { return time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC) }

func ptr(s string) *string { return &s }

// A switch agent registers its switch, then reports after every
// reconfiguration cycle.
func ExampleService_Notify() {
	ctx := context.Background()
	store := memstore.New()
	defer store.Close()
	svc := switchstate.New(store, &switchstate.Options{Clock: fixedClock})

	_, created, err := svc.Register(ctx, switchstate.RegisterRequest{
		ID: "leaf01", Name: ptr("leaf01"), PartitionID: "fra-equ01", RackID: "rack01",
		OS: &switchstate.OS{Vendor: "sonic", Version: "202311"},
		Nics: []switchstate.RegisterNic{
			{Name: "Ethernet0", Identifier: "Eth1/1", MAC: "aa:00:00:00:00:01"},
			{Name: "Ethernet120", Identifier: "Eth31/1", MAC: "aa:00:00:00:00:1f"},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("created:", created)

	res, err := svc.Notify(ctx, "leaf01", switchstate.NotifyRequest{
		SyncDuration: 2 * time.Second,
		PortStates:   map[string]switchstate.PortState{"Ethernet0": "UP", "Ethernet120": "UP"},
		BGPPortStates: map[string]switchstate.BGPPortState{
			"Ethernet120": {Neighbor: "spine01", PeerGroup: "FABRIC", VrfName: "default", BgpState: "Established", SentPrefixCounter: 59},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("last sync:", res.LastSync.Time.Format(time.RFC3339), res.LastSync.Duration)

	sw, _ := svc.Get(ctx, "leaf01")
	fmt.Println("os:", sw.OS.Vendor)
	for _, n := range sw.Nics {
		bgp := switchstate.BGPState("-")
		if n.BGPPortState != nil {
			bgp = n.BGPPortState.BgpState
		}
		fmt.Println(n.Name, n.Actual, bgp)
	}
	// Output:
	// created: true
	// last sync: 2026-03-09T12:00:00Z 2s
	// os: SONiC
	// Ethernet0 UP -
	// Ethernet120 UP Established
}

// An admin takes a port down; the wish is kept apart from the observed
// state until the switch reports that the port is down.
func ExampleService_Toggle() {
	ctx := context.Background()
	store := memstore.New()
	defer store.Close()
	svc := switchstate.New(store, &switchstate.Options{Clock: fixedClock})
	_, _, _ = svc.Register(ctx, switchstate.RegisterRequest{
		ID: "leaf01", PartitionID: "fra-equ01", RackID: "rack01",
		OS:   &switchstate.OS{Vendor: "SONiC"},
		Nics: []switchstate.RegisterNic{{Name: "Ethernet4", MAC: "aa:00:00:00:00:05"}},
	})
	_, _ = svc.Notify(ctx, "leaf01", switchstate.NotifyRequest{PortStates: map[string]switchstate.PortState{"Ethernet4": "UP"}})

	sw, err := svc.Toggle(ctx, "leaf01", "Ethernet4", switchstate.PortDown)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("actual %s, desired %s\n", sw.Nics[0].Actual, sw.Nics[0].Desired)

	_, _ = svc.Notify(ctx, "leaf01", switchstate.NotifyRequest{PortStates: map[string]switchstate.PortState{"Ethernet4": "DOWN"}})
	sw, _ = svc.Get(ctx, "leaf01")
	fmt.Printf("actual %s, desired %q\n", sw.Nics[0].Actual, sw.Nics[0].Desired)

	_, err = svc.Toggle(ctx, "leaf01", "Ethernet4", switchstate.PortUnknown)
	fmt.Println(err)
	// Output:
	// actual UP, desired DOWN
	// actual DOWN, desired ""
	// switchstate: the status "UNKNOWN" must be concrete
}

func ExampleParseFRRNeighbors() {
	dump := []byte(`{
  "default": {
    "vrfId": 0,
    "vrfName": "default",
    "Ethernet120": {
      "hostname": "fra-equ01-spine02",
      "peerGroup": "FABRIC",
      "bgpState": "Established",
      "bgpTimerUpEstablishedEpoch": 1773056572,
      "addressFamilyInfo": {
        "ipv4Unicast": {"acceptedPrefixCounter": 95, "sentPrefixCounter": 59},
        "ipv6Unicast": {"acceptedPrefixCounter": 2, "sentPrefixCounter": 1},
        "l2VpnEvpn": {"acceptedPrefixCounter": 311, "sentPrefixCounter": 28}
      }
    }
  },
  "vrf20": {
    "vrfId": 38,
    "vrfName": "vrf20",
    "Ethernet4": {"peerGroup": "MACHINE", "bgpState": "Idle"}
  }
}`)
	states, err := switchstate.ParseFRRNeighbors(dump)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, port := range []string{"Ethernet120", "Ethernet4"} {
		s := states[port]
		fmt.Printf("%s: %q %s %s %s up=%d sent=%d accepted=%d\n", port, s.Neighbor, s.PeerGroup, s.VrfName, s.BgpState,
			s.BgpTimerUpEstablished, s.SentPrefixCounter, s.AcceptedPrefixCounter)
	}
	// Output:
	// Ethernet120: "fra-equ01-spine02" FABRIC default Established up=1773056572 sent=60 accepted=97
	// Ethernet4: "" MACHINE vrf20 Idle up=0 sent=0 accepted=0
}

func ExampleRenderConnectedMachines() {
	now := time.Unix(1773060000, 0)
	switches := []*switchstate.Switch{{
		ID: "leaf01", PartitionID: "fra-equ01", RackID: "rack01",
		Nics: []switchstate.Nic{
			{Name: "Ethernet2", Identifier: "Eth1/3", Actual: "UP", BGPPortState: &switchstate.BGPPortState{BgpState: "Established", BgpTimerUpEstablished: now.Unix() - 54}},
			{Name: "Ethernet10", Identifier: "Eth3/3", Actual: "DOWN", BGPPortState: &switchstate.BGPPortState{BgpState: "Idle"}},
		},
		Connections: []switchstate.Connection{
			{MachineID: "m1", Nic: switchstate.Nic{Name: "Ethernet10"}},
			{MachineID: "m2", Nic: switchstate.Nic{Name: "Ethernet2"}},
		},
	}}
	machines := map[string]switchstate.MachineInfo{
		"m1": {Partition: "fra-equ01", Rack: "rack01", Size: "c1-large-x86", Hostname: "web-1", ProductSerial: "PS1", ChassisSerial: "CS1"},
		"m2": {Partition: "fra-equ01", Rack: "rack01", Size: "c1-large-x86", Hostname: "web-2", ProductSerial: "PS2", ChassisSerial: "CS2"},
	}
	rows, err := switchstate.ConnectedMachines(switches, machines, switchstate.ViewOptions{Wide: true, Now: now})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = switchstate.RenderConnectedMachines(os.Stdout, rows, true)
	// Output:
	// ID       NIC NAME                           IDENTIFIER   PARTITION   RACK     SIZE           HOSTNAME   PRODUCT SERIAL   CHASSIS SERIAL
	// leaf01                                                   fra-equ01   rack01
	// ├─╴m2    Ethernet2 (BGP:Established(54s))   Eth1/3       fra-equ01   rack01   c1-large-x86   web-2      PS2              CS2
	// └─╴m1    Ethernet10 (DOWN) (BGP:Idle)       Eth3/3       fra-equ01   rack01   c1-large-x86   web-1      PS1              CS1
}
