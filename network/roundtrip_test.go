package network_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/network"
)

// TestRoundTrips pins what the network operations cost on Redis, where a
// round trip dominates: an allocation costs three (the network, the
// prefix's record with its first free range, the commit, which also checks
// that no record is under the address), and no list
// costs a round trip per item. Bytes are logged.
func TestRoundTrips(t *testing.T) {
	st := storetest.New(t, "redisstore")
	svc := network.New(st, nil)
	_, err := svc.Create(ctx, network.CreateRequest{PartitionID: "fra", PrivateSuper: true,
		Prefixes:                 pfx("10.0.0.0/16", "2001:db8::/56"),
		DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22, network.IPv6: 64}})
	require.NoError(t, err)
	child, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
	require.NoError(t, err)
	_, err = svc.ListIPs(ctx, network.IPFilter{NetworkID: child.ID}) // loads the read script
	require.NoError(t, err)

	cost := func(name string, fn func() error) int64 {
		t.Helper()
		before, _ := storetest.Wire(st)
		require.NoError(t, fn(), name)
		after, _ := storetest.Wire(st)
		d := after.Sub(before)
		t.Logf("%-34s %2d round trips %7d bytes", name, d.RoundTrips, d.Bytes)
		return d.RoundTrips
	}
	var ip *network.IP
	allocate := func() (err error) {
		ip, err = svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p"})
		return err
	}
	assert.EqualValues(t, 3, cost("AllocateIP", allocate))
	assert.EqualValues(t, 3, cost("AllocateIP, IPv6", func() error {
		_, err := svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", AddressFamily: network.IPv6})
		return err
	}))
	assert.EqualValues(t, 1, cost("GetIP", func() error { _, err := svc.GetIP(ctx, ip.IPAddress); return err }))
	assert.EqualValues(t, 3, cost("FreeIP", func() error { _, err := svc.FreeIP(ctx, ip.IPAddress); return err }))

	listIPs := func() error {
		_, err := svc.ListIPs(ctx, network.IPFilter{NetworkID: child.ID})
		return err
	}
	listNetworks := func() error {
		_, err := svc.List(ctx, network.Filter{})
		return err
	}
	ips, nets := cost("ListIPs of 1 IP", listIPs), cost("List of 2 networks", listNetworks)
	for range 40 {
		require.NoError(t, allocate())
	}
	for range 6 {
		_, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
		require.NoError(t, err)
	}
	assert.Equal(t, ips, cost("ListIPs of 41 IPs", listIPs), "ListIPs costs more round trips with more IPs")
	assert.Equal(t, nets, cost("List of 8 networks", listNetworks), "List costs more round trips with more networks")
	cost("AllocateChild", func() error {
		_, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
		return err
	})
}
