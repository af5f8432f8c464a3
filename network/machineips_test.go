package network_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/network"
)

// TestListIPsOfMachine: the IPs of a machine, asked for by MachineID or by
// its machine tag, follow allocations, tag updates and frees, on every
// store (the final check of each store verifies the machine index).
func TestListIPsOfMachine(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		f := newFixtureOn(t, s)
		f.super("fra")
		child, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
		require.NoError(t, err)
		alloc := func(machine string, fam network.AddressFamily) netip.Addr {
			t.Helper()
			ip, err := f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", MachineID: machine, AddressFamily: fam})
			require.NoError(t, err)
			return ip.IPAddress
		}
		m1v4, _, m1v6 := alloc("m1", network.IPv4), alloc("m2", network.IPv4), alloc("m1", network.IPv6)
		plain := alloc("", network.IPv4)
		m2b := alloc("m2", network.IPv4)
		of := func(fl network.IPFilter) []netip.Addr {
			t.Helper()
			ips, err := f.svc.ListIPs(ctx, fl)
			require.NoError(t, err)
			out := []netip.Addr{}
			for _, ip := range ips {
				out = append(out, ip.IPAddress)
			}
			return out
		}
		tag := func(id string) []string { return []string{network.MachineTagPrefix + id} }
		assert.Equal(t, []netip.Addr{m1v4, m1v6}, of(network.IPFilter{MachineID: "m1"}), "IPv4 first")
		assert.Equal(t, []netip.Addr{m1v4, m1v6}, of(network.IPFilter{Tags: tag("m1")}))
		assert.Equal(t, []netip.Addr{m1v6}, of(network.IPFilter{MachineID: "m1", AddressFamily: network.IPv6}), "the other fields still filter")
		assert.Empty(t, of(network.IPFilter{MachineID: "m3"}))

		// Rebinding m2's second IP to m1 moves it; a project IP stays out.
		_, err = f.svc.UpdateIP(ctx, network.UpdateIPRequest{IPAddress: m2b, Tags: tag("m1")})
		require.NoError(t, err)
		assert.Equal(t, []netip.Addr{m1v4, m2b, m1v6}, of(network.IPFilter{MachineID: "m1"}))
		assert.Len(t, of(network.IPFilter{MachineID: "m2"}), 1)
		assert.NotContains(t, of(network.IPFilter{Tags: tag("m1")}), plain)

		// Released IPs leave the machine's list.
		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
			ip, err := network.GetIPTx(tx, m1v4)
			if err != nil {
				return err
			}
			return network.ReleaseIPTx(tx, ip)
		}))
		assert.Equal(t, []netip.Addr{m2b, m1v6}, of(network.IPFilter{MachineID: "m1"}))
	})
}
