package switchstate

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/internal/storetest"
)

// TestListRoundTrips: listing switches on Redis costs the same number of
// round trips for 10 switches as for 30 (scans grow their batches, so the
// count grows with the logarithm at most); records, statuses and BGP
// states are read in batches, not per switch.
func TestListRoundTrips(t *testing.T) {
	st := storetest.New(t, "redisstore")
	f := newFixture(t, st, nil)
	add := func(from, to int) {
		for i := from; i < to; i++ {
			id := fmt.Sprintf("leaf%02d", i)
			f.register(switchReq(id, "SONiC", fmt.Sprintf("rack%d", i%2), sonicPorts(id, 0, 4, 8)))
			_, err := f.svc.Notify(ctx, id, NotifyRequest{BGPPortStates: map[string]BGPPortState{
				"Ethernet0": {Neighbor: "m", PeerGroup: "MACHINE", VrfName: "vrf20", BgpState: BGPEstablished},
			}})
			require.NoError(t, err)
		}
	}
	cost := func(fl ListFilter, want int) int64 {
		t.Helper()
		before, _ := storetest.Wire(st)
		sws, err := f.svc.List(ctx, fl)
		require.NoError(t, err)
		require.Len(t, sws, want)
		after, _ := storetest.Wire(st)
		return after.Sub(before).RoundTrips
	}
	add(0, 10)
	cost(ListFilter{}, 10) // loads the read script
	all, part := cost(ListFilter{}, 10), cost(ListFilter{PartitionID: "fra-equ01"}, 10)
	add(10, 30)
	assert.Equal(t, all, cost(ListFilter{}, 30), "List of every switch")
	assert.Equal(t, part, cost(ListFilter{PartitionID: "fra-equ01"}, 30), "List of a partition")
	t.Logf("List: %d round trips, of a partition: %d", all, part)
}
