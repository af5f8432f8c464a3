package metalkit_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

// TestNothingLeftBehind: after a super network exists, 1,000 rounds of
// allocating a child, two IPs in it, freeing them and freeing the child,
// then registering, notifying and deleting a switch, leave the raw store
// exactly as it was: every bucket and key (on Redis every key under the
// store's prefix; version counters are compared by existence, their values
// count commits).
func TestNothingLeftBehind(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		ctx := context.Background()
		kit, err := metalkit.Open(s, &metalkit.Options{NoAudit: true})
		require.NoError(t, err)
		_, err = kit.Networks.Create(ctx, network.CreateRequest{
			ID: "super", PartitionID: "fra-equ01", PrivateSuper: true,
			Prefixes:                 []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("2001:db8:0:10::/64")},
			DefaultChildPrefixLength: network.ChildLengths{network.IPv4: 22, network.IPv6: 96},
		})
		require.NoError(t, err)
		before := storetest.RawKeys(t, s)

		for i := range 1000 {
			child, err := kit.Networks.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "p"})
			require.NoError(t, err, "round %d", i)
			var ips []netip.Addr
			for _, f := range []network.AddressFamily{network.IPv4, network.IPv6} {
				ip, err := kit.Networks.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", AddressFamily: f})
				require.NoError(t, err)
				ips = append(ips, ip.IPAddress)
			}
			for _, a := range ips {
				_, err := kit.Networks.FreeIP(ctx, a)
				require.NoError(t, err)
			}
			_, err = kit.Networks.Free(ctx, child.ID)
			require.NoError(t, err)
		}

		_, _, err = kit.Switches.Register(ctx, switchstate.RegisterRequest{
			ID: "leaf01", PartitionID: "fra-equ01", RackID: "rack01",
			OS:   &switchstate.OS{Vendor: switchstate.VendorSONiC},
			Nics: []switchstate.RegisterNic{{Name: "Ethernet0", Identifier: "e0"}, {Name: "Ethernet4", Identifier: "e4"}},
		})
		require.NoError(t, err)
		for _, state := range []switchstate.BGPState{switchstate.BGPEstablished, switchstate.BGPIdle} {
			_, err = kit.Switches.Notify(ctx, "leaf01", switchstate.NotifyRequest{
				SyncDuration:  time.Second,
				PortStates:    map[string]switchstate.PortState{"Ethernet0": switchstate.PortUp},
				BGPPortStates: map[string]switchstate.BGPPortState{"Ethernet0": {BgpState: state}},
			})
			require.NoError(t, err)
		}
		_, err = kit.Switches.Delete(ctx, "leaf01", false)
		require.NoError(t, err)

		assert.Equal(t, before, storetest.RawKeys(t, s))
	})
}
