package switchstate

import (
	"fmt"
	"testing"
	"time"

	"github.com/metalkit/metalkit/internal/storetest"
)

// BenchmarkNotify measures one agent report of 64 ports with port states
// and BGP states: "unchanged" repeats the same report (only the status
// record is written), "counters" changes every BGP counter on every report
// (64 BGP keys and the status are written, never the switch record).
func BenchmarkNotify(b *testing.B) {
	const ports = 64
	for _, fac := range storetest.Factories() {
		b.Run(fmt.Sprintf("%s/ports=%d", fac.Name, ports), func(b *testing.B) {
			for _, mode := range []string{"unchanged", "counters"} {
				b.Run(mode, func(b *testing.B) {
					f := newFixture(b, fac.New(b), nil)
					lines := make([]int, ports)
					for i := range lines {
						lines[i] = i * 4
					}
					f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", lines...)))
					report := func(n int64) NotifyRequest {
						req := NotifyRequest{SyncDuration: time.Second, PortStates: map[string]PortState{}, BGPPortStates: map[string]BGPPortState{}}
						for _, l := range lines {
							name := fmt.Sprintf("Ethernet%d", l)
							req.PortStates[name] = PortUp
							req.BGPPortStates[name] = BGPPortState{
								Neighbor: "m-" + name, PeerGroup: "MACHINE", VrfName: "vrf20", BgpState: BGPEstablished,
								BgpTimerUpEstablished: 1773056572, SentPrefixCounter: 59 + n, AcceptedPrefixCounter: 95 + n,
							}
						}
						return req
					}
					same := report(0)
					if _, err := f.svc.Notify(ctx, "leaf01", same); err != nil {
						b.Fatal(err)
					}
					reports := []NotifyRequest{report(1), report(2)}
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						req := same
						if mode == "counters" {
							req = reports[i%2]
						}
						if _, err := f.svc.Notify(ctx, "leaf01", req); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkConnectedMachines builds the wide view of 100 switches with 48
// connections each.
func BenchmarkConnectedMachines(b *testing.B) {
	const switches, conns = 100, 48
	now := time.Unix(1773060000, 0)
	var sws []*Switch
	machines := map[string]MachineInfo{}
	for s := range switches {
		sw := &Switch{ID: fmt.Sprintf("leaf%03d", s), PartitionID: "fra-equ01", RackID: fmt.Sprintf("rack%02d", s/2)}
		for c := conns - 1; c >= 0; c-- {
			name := fmt.Sprintf("Ethernet%d", c*4)
			m := fmt.Sprintf("m-%02d-%02d", s/2, c)
			sw.Nics = append(sw.Nics, Nic{Name: name, Identifier: "id" + name, Actual: PortUp,
				BGPPortState: &BGPPortState{BgpState: BGPEstablished, BgpTimerUpEstablished: now.Unix() - int64(c*100)}})
			sw.Connections = append(sw.Connections, Connection{MachineID: m, Nic: Nic{Name: name}})
			machines[m] = MachineInfo{Partition: "fra-equ01", Rack: sw.RackID, Size: "c1-large-x86", Hostname: m}
		}
		sws = append(sws, sw)
	}
	b.Run(fmt.Sprintf("switches=%d", switches), func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			rows, err := ConnectedMachines(sws, machines, ViewOptions{Wide: true, Now: now})
			if err != nil || len(rows) != switches*(conns+1) {
				b.Fatal(err, len(rows))
			}
		}
	})
}
