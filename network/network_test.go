package network_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/network"
)

var ctx = context.Background()

func pfx(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

type fixture struct {
	t     *testing.T
	store backends.Store
	svc   *network.Service
}

func newFixture(t *testing.T) *fixture {
	return newFixtureOn(t, memstore.New())
}

func newFixtureOn(t *testing.T, s backends.Store) *fixture {
	return &fixture{t: t, store: s, svc: network.New(s, &network.Options{Clock: fixedClock, IDs: sequentialIDs("id")})}
}

// super creates the partition's super network with the worked example's
// prefixes unless others are given.
func (f *fixture) super(partition string, prefixes ...string) *network.Network {
	f.t.Helper()
	if len(prefixes) == 0 {
		prefixes = []string{"10.0.0.0/16", "2001:db8:0:10::/64"}
	}
	defaults := map[network.AddressFamily]int{}
	for _, p := range pfx(prefixes...) {
		if p.Addr().Is4() {
			defaults[network.IPv4] = max(defaults[network.IPv4], 22, p.Bits()+1)
		} else {
			defaults[network.IPv6] = max(defaults[network.IPv6], 96, p.Bits()+1)
		}
	}
	n, err := f.svc.Create(ctx, network.CreateRequest{
		ID: "super-" + partition, PartitionID: partition, Prefixes: pfx(prefixes...),
		DefaultChildPrefixLength: defaults, PrivateSuper: true,
	})
	require.NoError(f.t, err)
	return n
}

// unchanged runs op, which must fail with want, and checks that the store
// is exactly as before.
func (f *fixture) unchanged(want error, op func() error) {
	f.t.Helper()
	before := backendtest.Dump(f.t, f.store)
	err := op()
	require.Error(f.t, err)
	require.ErrorIs(f.t, err, want)
	assert.Equal(f.t, before, backendtest.Dump(f.t, f.store), "a failed operation changed the store")
}

func TestParseAddressFamily(t *testing.T) {
	for in, want := range map[string]network.AddressFamily{"ipv4": network.IPv4, "IPV4": network.IPv4, "IPv6": network.IPv6, "ipv6": network.IPv6, "IpV6": network.IPv6} {
		got, err := network.ParseAddressFamily(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := network.ParseAddressFamily("ipv5")
	require.ErrorIs(t, err, network.ErrInvalidArgument)
	assert.Contains(t, err.Error(), `"ipv5"`)

	var req network.AllocateIPRequest
	require.NoError(t, json.Unmarshal([]byte(`{"addressfamily":"ipv6"}`), &req))
	assert.Equal(t, network.IPv6, req.AddressFamily, "JSON input is normalised")
}

func TestParsePrefix(t *testing.T) {
	p, err := network.ParsePrefix("10.0.0.0/16")
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.0/16", p.String())
	for in, msg := range map[string]string{
		"10.0.0.1/16":         "canonical form is 10.0.0.0/16",
		"2001:db8::1/64":      "canonical form is 2001:db8::/64",
		"::ffff:10.0.0.0/104": "IPv4-mapped",
		"fe80::%eth0/64":      "fe80::%eth0/64",
		"10.0.0.0":            `"10.0.0.0"`,
	} {
		_, err := network.ParsePrefix(in)
		require.ErrorIs(t, err, network.ErrInvalidArgument, in)
		assert.Contains(t, err.Error(), msg, in)
	}
}

func TestCreateRules(t *testing.T) {
	v4v6 := map[network.AddressFamily]int{network.IPv4: 22, network.IPv6: 96}
	tests := []struct {
		name string
		req  network.CreateRequest
		want error
		msg  string
	}{
		{"no prefix", network.CreateRequest{PartitionID: "p"}, network.ErrInvalidArgument, "at least one prefix"},
		{"host bits", network.CreateRequest{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.9.0.1/16")}}, network.ErrInvalidArgument, "10.9.0.0/16"},
		{"destination family missing", network.CreateRequest{Prefixes: pfx("10.9.0.0/16"), DestinationPrefixes: pfx("::/0")}, network.ErrInvalidArgument, "no IPv6 prefix"},
		{"defaults on external", network.CreateRequest{Prefixes: pfx("10.9.0.0/16"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22}}, network.ErrInvalidArgument, "only a super network"},
		{"super lacks a family default", network.CreateRequest{PartitionID: "p", PrivateSuper: true, Prefixes: pfx("10.9.0.0/16", "2001:db8:9::/48"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22}}, network.ErrInvalidArgument, "needs a default child prefix length for IPv6"},
		{"super default for absent family", network.CreateRequest{PartitionID: "p", PrivateSuper: true, Prefixes: pfx("10.9.0.0/16"), DefaultChildPrefixLength: v4v6}, network.ErrInvalidArgument, "has no IPv6 prefix"},
		{"default not longer than prefix", network.CreateRequest{PartitionID: "p", PrivateSuper: true, Prefixes: pfx("10.9.0.0/16"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 16}}, network.ErrInvalidArgument, "longer than the prefix 10.9.0.0/16"},
		{"default beyond 32", network.CreateRequest{PartitionID: "p", PrivateSuper: true, Prefixes: pfx("10.9.0.0/16"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 33}}, network.ErrInvalidArgument, "1..32"},
		{"announcable on external", network.CreateRequest{Prefixes: pfx("10.9.0.0/16"), AdditionalAnnouncableCIDRs: pfx("10.240.0.0/12")}, network.ErrInvalidArgument, "additionalAnnouncableCIDRs"},
		{"overlap in request", network.CreateRequest{Prefixes: pfx("10.9.0.0/16", "10.9.1.0/24")}, network.ErrInvalidArgument, "overlaps"},
		{"overlap with a network", network.CreateRequest{Prefixes: pfx("10.0.4.0/24")}, network.ErrConflict, "10.0.4.0/24"},
		{"second super", network.CreateRequest{PartitionID: "fra", PrivateSuper: true, Prefixes: pfx("10.9.0.0/16"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22}}, network.ErrConflict, "already has a super network"},
		{"super with nat", network.CreateRequest{PartitionID: "p", PrivateSuper: true, NAT: true, Prefixes: pfx("10.9.0.0/16"), DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22}}, network.ErrInvalidArgument, "do not NAT"},
		{"underlay with nat", network.CreateRequest{PartitionID: "p", Underlay: true, NAT: true, Prefixes: pfx("10.9.0.0/16")}, network.ErrInvalidArgument, "do not NAT"},
		{"vrf out of pool", network.CreateRequest{VRF: 131073, Prefixes: pfx("10.9.0.0/16")}, network.ErrInvalidArgument, "131073"},
		{"vrf taken", network.CreateRequest{VRF: 42, Prefixes: pfx("10.9.0.0/16")}, network.ErrConflict, "vrf 42 is already used"},
		{"id taken", network.CreateRequest{ID: "super-fra", Prefixes: pfx("10.9.0.0/16")}, network.ErrConflict, "already exists"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.super("fra")
			_, err := f.svc.Create(ctx, network.CreateRequest{ID: "vrf42", Prefixes: pfx("192.0.2.0/24"), VRF: 42})
			require.NoError(t, err)
			f.unchanged(tc.want, func() error {
				_, err := f.svc.Create(ctx, tc.req)
				if err != nil {
					assert.Contains(t, err.Error(), tc.msg)
				}
				return err
			})
		})
	}
}

func TestCreateCollectsEveryProblem(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Create(ctx, network.CreateRequest{
		PartitionID: "p", PrivateSuper: true, NAT: true,
		Prefixes:                 []netip.Prefix{netip.MustParsePrefix("10.0.0.1/16")},
		DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv6: 64},
	})
	require.ErrorIs(t, err, network.ErrInvalidArgument)
	for _, want := range []string{"canonical form is 10.0.0.0/16", "default child prefix length for IPv4", "has no IPv6 prefix", "do not NAT"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestUnderlayOnePerPartition(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Create(ctx, network.CreateRequest{PartitionID: "fra", Underlay: true, Prefixes: pfx("10.1.0.0/24")})
	require.NoError(t, err)
	f.unchanged(network.ErrConflict, func() error {
		_, err := f.svc.Create(ctx, network.CreateRequest{PartitionID: "fra", Underlay: true, Prefixes: pfx("10.2.0.0/24")})
		return err
	})
	n, err := f.svc.Create(ctx, network.CreateRequest{PartitionID: "ams", Underlay: true, Prefixes: pfx("10.2.0.0/24")})
	require.NoError(t, err)
	assert.Equal(t, network.KindUnderlay, n.NetworkType)
}

// A shared VRF returns to the pool only when its last network is gone.
func TestSharedVRFIsCounted(t *testing.T) {
	f := newFixture(t)
	a, err := f.svc.Create(ctx, network.CreateRequest{ID: "a", VRF: 7, Prefixes: pfx("192.0.2.0/24")})
	require.NoError(t, err)
	b, err := f.svc.Create(ctx, network.CreateRequest{ID: "b", VRF: 7, VRFShared: true, Prefixes: pfx("198.51.100.0/24")})
	require.NoError(t, err)
	_, err = f.svc.Delete(ctx, a.ID)
	require.NoError(t, err)
	_, err = f.svc.Create(ctx, network.CreateRequest{ID: "c", VRF: 7, Prefixes: pfx("203.0.113.0/24")})
	require.ErrorIs(t, err, network.ErrConflict, "b still uses vrf 7")
	_, err = f.svc.Delete(ctx, b.ID)
	require.NoError(t, err)
	_, err = f.svc.Create(ctx, network.CreateRequest{ID: "c", VRF: 7, Prefixes: pfx("203.0.113.0/24")})
	require.NoError(t, err, "vrf 7 is back in the pool")
}

func TestUpdateRules(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Create(ctx, network.CreateRequest{
		ID: "super", PartitionID: "fra", PrivateSuper: true, Prefixes: pfx("10.0.0.0/16"),
		DefaultChildPrefixLength:   map[network.AddressFamily]int{network.IPv4: 22},
		AdditionalAnnouncableCIDRs: pfx("10.240.0.0/12"),
	})
	require.NoError(t, err)

	// A family is added with its prefix and its default length in one update.
	n, err := f.svc.Update(ctx, network.UpdateRequest{
		ID: "super", Prefixes: pfx("10.0.0.0/16", "2001:db8::/48"),
		DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22, network.IPv6: 64},
	})
	require.NoError(t, err)
	assert.Equal(t, []network.AddressFamily{network.IPv4, network.IPv6}, n.Families())
	require.NotNil(t, n.Consumption.IPv6)

	f.unchanged(network.ErrInvalidArgument, func() error {
		_, err := f.svc.Update(ctx, network.UpdateRequest{ID: "super", Prefixes: pfx("10.0.0.0/16", "2001:db8::/48", "fd00::/64")})
		return err // fd00::/64 is not shorter than the IPv6 default length 64
	})
	f.unchanged(network.ErrInvalidArgument, func() error {
		_, err := f.svc.Update(ctx, network.UpdateRequest{ID: "super", Prefixes: pfx("10.0.0.0/16", "2001:db8::/48", "10.0.1.0/24")})
		return err
	})
	f.unchanged(network.ErrInvalidArgument, func() error {
		_, err := f.svc.Update(ctx, network.UpdateRequest{ID: "super", Prefixes: pfx("10.0.0.0/16")})
		return err // the IPv6 default length remains without an IPv6 prefix
	})
	f.unchanged(network.ErrInvalidArgument, func() error {
		_, err := f.svc.Update(ctx, network.UpdateRequest{ID: "super", AdditionalAnnouncableCIDRs: []netip.Prefix{}})
		return err
	})
	n, err = f.svc.Update(ctx, network.UpdateRequest{ID: "super", AdditionalAnnouncableCIDRs: []netip.Prefix{}, Force: true})
	require.NoError(t, err)
	assert.Empty(t, n.AdditionalAnnouncableCIDRs)

	ext, err := f.svc.Create(ctx, network.CreateRequest{ID: "ext", Prefixes: pfx("192.0.2.0/24", "198.51.100.0/24")})
	require.NoError(t, err)
	yes, no := true, false
	_, err = f.svc.Update(ctx, network.UpdateRequest{ID: ext.ID, Shared: &yes})
	require.NoError(t, err)
	f.unchanged(network.ErrInvalidArgument, func() error {
		_, err := f.svc.Update(ctx, network.UpdateRequest{ID: ext.ID, Shared: &no})
		return err
	})
	_, err = f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: ext.ID, ProjectID: "p", Address: netip.MustParseAddr("198.51.100.7")})
	require.NoError(t, err)
	f.unchanged(network.ErrConflict, func() error {
		_, err := f.svc.Update(ctx, network.UpdateRequest{ID: ext.ID, Prefixes: pfx("192.0.2.0/24")})
		return err
	})
	n, err = f.svc.Update(ctx, network.UpdateRequest{ID: ext.ID, Prefixes: pfx("198.51.100.0/24")})
	require.NoError(t, err, "a prefix without IPs can be removed")
	assert.Equal(t, pfx("198.51.100.0/24"), n.Prefixes)
	_, err = f.svc.Create(ctx, network.CreateRequest{ID: "again", Prefixes: pfx("192.0.2.0/24")})
	require.NoError(t, err, "the removed prefix is free again")
	name := "renamed"
	n, err = f.svc.Update(ctx, network.UpdateRequest{ID: ext.ID, Name: &name})
	require.NoError(t, err)
	assert.Equal(t, "renamed", n.Name)
	assert.True(t, n.Shared)
}

func TestAllocateChildPlacement(t *testing.T) {
	t.Run("best fit in order", func(t *testing.T) {
		f := newFixture(t)
		f.super("fra", "10.0.0.0/16")
		var got []string
		for _, bits := range []int{22, 22, 24, 22} {
			n, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv4: bits}})
			require.NoError(t, err)
			got = append(got, n.Prefixes[0].String())
		}
		assert.Equal(t, []string{"10.0.0.0/22", "10.0.4.0/22", "10.0.8.0/24", "10.0.12.0/22"}, got)
	})
	t.Run("no room names the free block", func(t *testing.T) {
		f := newFixture(t)
		f.super("fra", "192.168.0.0/24")
		var got []string
		for _, bits := range []int{25, 26} {
			n, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv4: bits}})
			require.NoError(t, err)
			got = append(got, n.Prefixes[0].String())
		}
		assert.Equal(t, []string{"192.168.0.0/25", "192.168.0.128/26"}, got)
		f.unchanged(ipam.ErrExhausted, func() error {
			_, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv4: 25}})
			if err != nil {
				assert.Contains(t, err.Error(), "192.168.0.192/26")
			}
			return err
		})
	})
	t.Run("released space is reused best fit", func(t *testing.T) {
		f := newFixture(t)
		f.super("fra", "192.168.0.0/24")
		a, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv4: 25}})
		require.NoError(t, err)
		_, err = f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv4: 26}})
		require.NoError(t, err)
		_, err = f.svc.Free(ctx, a.ID)
		require.NoError(t, err)
		c, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv4: 26}})
		require.NoError(t, err)
		assert.Equal(t, "192.168.0.192/26", c.Prefixes[0].String())
	})
	t.Run("first parent prefix with room", func(t *testing.T) {
		f := newFixture(t)
		f.super("fra", "10.1.0.0/21", "10.2.0.0/16")
		var got []string
		for i := 0; i < 3; i++ {
			n, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
			require.NoError(t, err)
			got = append(got, n.Prefixes[0].String())
		}
		assert.Equal(t, []string{"10.1.0.0/22", "10.1.4.0/22", "10.2.0.0/22"}, got)
	})
}

func TestAllocateChildRules(t *testing.T) {
	f := newFixture(t)
	f.super("fra")
	n, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", AddressFamily: "ipv6"})
	require.NoError(t, err)
	assert.Equal(t, pfx("2001:db8:0:10::/96"), n.Prefixes, "addressfamily restricts the child to IPv6")
	n, err = f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv4: 24, network.IPv6: 112}, Shared: true, NAT: true, Labels: map[string]string{"a": "b"}})
	require.NoError(t, err)
	assert.Equal(t, pfx("10.0.0.0/24", "2001:db8:0:10:0:1::/112"), n.Prefixes, "length overrides both families, IPv4 first")
	assert.Equal(t, network.KindChildShared, n.NetworkType)
	assert.True(t, n.NAT)
	assert.Equal(t, "super-fra", n.ParentNetworkID)
	assert.Equal(t, "fra", n.PartitionID)
	assert.Equal(t, "p", n.ProjectID)
	assert.NotZero(t, n.VRF)

	for name, tc := range map[string]struct {
		req  network.AllocateRequest
		want error
	}{
		"no super":           {network.AllocateRequest{PartitionID: "ams", ProjectID: "p"}, network.ErrNotFound},
		"no project":         {network.AllocateRequest{PartitionID: "fra"}, network.ErrInvalidArgument},
		"no partition":       {network.AllocateRequest{ProjectID: "p"}, network.ErrInvalidArgument},
		"length too short":   {network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv4: 16}}, network.ErrInvalidArgument},
		"length too long":    {network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv6: 129}}, network.ErrInvalidArgument},
		"unknown family":     {network.AllocateRequest{PartitionID: "fra", ProjectID: "p", AddressFamily: "ipv5"}, network.ErrInvalidArgument},
		"family not present": {network.AllocateRequest{PartitionID: "ipv4only", ProjectID: "p", AddressFamily: network.IPv6}, network.ErrInvalidArgument},
		"length for absent":  {network.AllocateRequest{PartitionID: "ipv4only", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv6: 64}}, network.ErrInvalidArgument},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "family not present" || name == "length for absent" {
				if _, err := f.svc.Get(ctx, "super-ipv4only"); err != nil {
					f.super("ipv4only", "172.16.0.0/16")
				}
			}
			f.unchanged(tc.want, func() error {
				_, err := f.svc.AllocateChild(ctx, tc.req)
				return err
			})
		})
	}
}

// A failure in the second family leaves nothing behind: no VRF, no IPv4
// block.
func TestAllocateChildFailsHalfway(t *testing.T) {
	f := newFixture(t)
	f.super("fra", "10.0.0.0/16", "2001:db8:0:10::/120")
	_, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv6: 121}})
	require.NoError(t, err)
	_, err = f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv6: 121}})
	require.NoError(t, err)
	f.unchanged(ipam.ErrExhausted, func() error {
		_, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: map[network.AddressFamily]int{network.IPv6: 121}})
		return err
	})
	list, err := f.svc.List(ctx, network.Filter{ParentNetworkID: "super-fra"})
	require.NoError(t, err)
	assert.Len(t, list, 2)
}

func TestFreeAndDelete(t *testing.T) {
	f := newFixture(t)
	f.super("fra")
	empty := backendtest.Dump(t, f.store)
	child, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
	require.NoError(t, err)
	ip, err := f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", AddressFamily: network.IPv6})
	require.NoError(t, err)

	// An IPv6 child holding exactly one IP cannot be freed.
	f.unchanged(network.ErrConflict, func() error { _, err := f.svc.Free(ctx, child.ID); return err })
	f.unchanged(network.ErrConflict, func() error { _, err := f.svc.Delete(ctx, "super-fra"); return err })
	f.unchanged(network.ErrInvalidArgument, func() error { _, err := f.svc.Free(ctx, "super-fra"); return err })
	f.unchanged(network.ErrNotFound, func() error { _, err := f.svc.Free(ctx, "nope"); return err })

	_, err = f.svc.FreeIP(ctx, ip.IPAddress)
	require.NoError(t, err)
	_, err = f.svc.Free(ctx, child.ID)
	require.NoError(t, err)
	assert.Equal(t, empty, backendtest.Dump(t, f.store), "freeing returns the blocks and the VRF")

	// Deleting a child (an admin's operation) releases its blocks as well.
	child, err = f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
	require.NoError(t, err)
	assert.Equal(t, pfx("10.0.0.0/22", "2001:db8:0:10::/96"), child.Prefixes)
	_, err = f.svc.Delete(ctx, child.ID)
	require.NoError(t, err)
	assert.Equal(t, empty, backendtest.Dump(t, f.store))

	_, err = f.svc.Delete(ctx, "super-fra")
	require.NoError(t, err)
	_, err = f.svc.Create(ctx, network.CreateRequest{ID: "reuse", Prefixes: pfx("10.0.0.0/16")})
	require.NoError(t, err, "the deleted super network's prefix is free")
	f.super("fra", "172.16.0.0/16")
}

func TestAllocateIPRules(t *testing.T) {
	f := newFixture(t)
	f.super("fra")
	child, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
	require.NoError(t, err)
	v6only, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", AddressFamily: network.IPv6})
	require.NoError(t, err)
	shared, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Shared: true, AddressFamily: network.IPv4})
	require.NoError(t, err)
	ext, err := f.svc.Create(ctx, network.CreateRequest{ID: "ext", Prefixes: pfx("192.0.2.0/30", "198.51.100.0/29")})
	require.NoError(t, err)

	alloc := func(req network.AllocateIPRequest) (*network.IP, error) { return f.svc.AllocateIP(ctx, req) }

	ip, err := alloc(network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p"})
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.1", ip.IPAddress.String(), "dual-stack defaults to IPv4")
	ip, err = alloc(network.AllocateIPRequest{NetworkID: v6only.ID, ProjectID: "p"})
	require.NoError(t, err)
	assert.True(t, ip.IPAddress.Is6(), "an IPv6-only network hands out IPv6")
	ip, err = alloc(network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", AddressFamily: "IPV6"})
	require.NoError(t, err)
	assert.Equal(t, "2001:db8:0:10::1", ip.IPAddress.String(), "the family is parsed case-insensitively")

	// The exhausted first prefix is skipped.
	for _, want := range []string{"192.0.2.1", "192.0.2.2", "198.51.100.1"} {
		ip, err = alloc(network.AllocateIPRequest{NetworkID: ext.ID, ProjectID: "other"})
		require.NoError(t, err)
		assert.Equal(t, want, ip.IPAddress.String())
	}
	// Released addresses are reused lowest first.
	_, err = f.svc.FreeIP(ctx, netip.MustParseAddr("192.0.2.1"))
	require.NoError(t, err)
	ip, err = alloc(network.AllocateIPRequest{NetworkID: ext.ID, ProjectID: "other"})
	require.NoError(t, err)
	assert.Equal(t, "192.0.2.1", ip.IPAddress.String())

	ip, err = alloc(network.AllocateIPRequest{NetworkID: shared.ID, ProjectID: "someone-else", Type: network.IPTypeStatic, MachineID: "m1", Tags: []string{"b", "a", "b"}})
	require.NoError(t, err, "a shared child gives IPs to any project")
	assert.Equal(t, []string{"a", "b", network.MachineTagPrefix + "m1"}, ip.Tags)
	assert.Equal(t, network.ScopeMachine, ip.Scope())
	assert.Equal(t, network.IPTypeStatic, ip.Type)

	for name, tc := range map[string]struct {
		req  network.AllocateIPRequest
		want error
	}{
		"other project on unshared child": {network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "q"}, network.ErrForbidden},
		"unknown type":                    {network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", Type: "floating"}, network.ErrInvalidArgument},
		"family the network lacks":        {network.AllocateIPRequest{NetworkID: v6only.ID, ProjectID: "p", AddressFamily: network.IPv4}, network.ErrInvalidArgument},
		"address and family":              {network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", AddressFamily: network.IPv4, Address: netip.MustParseAddr("10.0.0.9")}, network.ErrInvalidArgument},
		"address outside":                 {network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", Address: netip.MustParseAddr("10.0.9.9")}, network.ErrInvalidArgument},
		"reserved address":                {network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", Address: netip.MustParseAddr("10.0.3.255")}, ipam.ErrAlreadyAllocated},
		"taken address":                   {network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", Address: netip.MustParseAddr("10.0.0.1")}, ipam.ErrAlreadyAllocated},
		"super with children":             {network.AllocateIPRequest{NetworkID: "super-fra", ProjectID: "p"}, ipam.ErrInUse},
		"in use is a conflict":            {network.AllocateIPRequest{NetworkID: "super-fra", ProjectID: "p"}, network.ErrConflict},
		"reserved is a conflict":          {network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", Address: netip.MustParseAddr("10.0.0.0")}, network.ErrConflict},
		"broadcast address":               {network.AllocateIPRequest{NetworkID: ext.ID, ProjectID: "p", Address: netip.MustParseAddr("192.0.2.3")}, ipam.ErrReserved},
		"no network":                      {network.AllocateIPRequest{NetworkID: "nope", ProjectID: "p"}, network.ErrNotFound},
		"no project":                      {network.AllocateIPRequest{NetworkID: child.ID}, network.ErrInvalidArgument},
	} {
		t.Run(name, func(t *testing.T) {
			f.unchanged(tc.want, func() error { _, err := alloc(tc.req); return err })
		})
	}

	// Fill the external network: every prefix exhausted gives ipam.ErrExhausted.
	for {
		_, err := alloc(network.AllocateIPRequest{NetworkID: ext.ID, ProjectID: "p"})
		if err != nil {
			require.ErrorIs(t, err, ipam.ErrExhausted)
			break
		}
	}
}

func TestUpdateAndFreeIPRules(t *testing.T) {
	f := newFixture(t)
	ext, err := f.svc.Create(ctx, network.CreateRequest{ID: "ext", Prefixes: pfx("192.0.2.0/24")})
	require.NoError(t, err)
	ip, err := f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: ext.ID, ProjectID: "p", Type: network.IPTypeStatic})
	require.NoError(t, err)
	eph := network.IPTypeEphemeral
	f.unchanged(network.ErrForbidden, func() error {
		_, err := f.svc.UpdateIP(ctx, network.UpdateIPRequest{IPAddress: ip.IPAddress, Type: &eph})
		return err
	})
	bad := network.IPType("elastic")
	f.unchanged(network.ErrInvalidArgument, func() error {
		_, err := f.svc.UpdateIP(ctx, network.UpdateIPRequest{IPAddress: ip.IPAddress, Type: &bad})
		return err
	})
	ip2, err := f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: ext.ID, ProjectID: "p"})
	require.NoError(t, err)
	static := network.IPTypeStatic
	name := "web"
	ip2, err = f.svc.UpdateIP(ctx, network.UpdateIPRequest{IPAddress: ip2.IPAddress, Type: &static, Name: &name})
	require.NoError(t, err, "ephemeral to static is allowed")
	assert.Equal(t, network.IPTypeStatic, ip2.Type)
	assert.Equal(t, "web", ip2.Name)

	// project -> machine -> project
	ip2, err = f.svc.UpdateIP(ctx, network.UpdateIPRequest{IPAddress: ip2.IPAddress, Tags: []string{network.MachineTagPrefix + "m1"}})
	require.NoError(t, err)
	assert.Equal(t, network.ScopeMachine, ip2.Scope())
	f.unchanged(network.ErrForbidden, func() error { _, err := f.svc.FreeIP(ctx, ip2.IPAddress); return err })
	ip2, err = f.svc.UpdateIP(ctx, network.UpdateIPRequest{IPAddress: ip2.IPAddress, Tags: []string{}})
	require.NoError(t, err)
	assert.Equal(t, network.ScopeProject, ip2.Scope())
	_, err = f.svc.FreeIP(ctx, ip2.IPAddress)
	require.NoError(t, err)
	_, err = f.svc.GetIP(ctx, ip2.IPAddress)
	require.ErrorIs(t, err, network.ErrNotFound)
	f.unchanged(network.ErrNotFound, func() error { _, err := f.svc.FreeIP(ctx, ip2.IPAddress); return err })
}

func TestScope(t *testing.T) {
	assert.Equal(t, network.ScopeEmpty, (&network.IP{Tags: []string{network.MachineTagPrefix + "m"}}).Scope())
	assert.Equal(t, network.ScopeProject, (&network.IP{ProjectID: "p"}).Scope())
	assert.Equal(t, network.ScopeMachine, (&network.IP{ProjectID: "p", Tags: []string{network.MachineTagPrefix + "m"}}).Scope())
}

func TestListFilters(t *testing.T) {
	f := newFixture(t)
	f.super("fra")
	f.super("ams", "172.16.0.0/16")
	a, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Labels: map[string]string{"env": "prod"}})
	require.NoError(t, err)
	b, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "ams", ProjectID: "q"})
	require.NoError(t, err)
	_, err = f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: a.ID, ProjectID: "p", MachineID: "m1"})
	require.NoError(t, err)
	_, err = f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: a.ID, ProjectID: "p", AddressFamily: network.IPv6, Tags: []string{"x"}})
	require.NoError(t, err)
	_, err = f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: b.ID, ProjectID: "q", Type: network.IPTypeStatic})
	require.NoError(t, err)

	for name, tc := range map[string]struct {
		filter network.Filter
		want   []string
	}{
		"all":       {network.Filter{}, []string{a.ID, b.ID, "super-ams", "super-fra"}},
		"partition": {network.Filter{PartitionID: "fra"}, []string{a.ID, "super-fra"}},
		"project":   {network.Filter{ProjectID: "q"}, []string{b.ID}},
		"parent":    {network.Filter{ParentNetworkID: "super-ams"}, []string{b.ID}},
		"kind":      {network.Filter{Kind: network.KindSuper}, []string{"super-ams", "super-fra"}},
		"family":    {network.Filter{AddressFamily: "ipv6"}, []string{a.ID, "super-fra"}},
		"labels":    {network.Filter{Labels: map[string]string{"env": "prod"}}, []string{a.ID}},
		"prefix":    {network.Filter{Prefix: netip.MustParsePrefix("172.16.0.0/22")}, []string{b.ID}},
		"contains":  {network.Filter{Contains: netip.MustParseAddr("10.0.0.7")}, []string{a.ID, "super-fra"}},
	} {
		l, err := f.svc.List(ctx, tc.filter)
		require.NoError(t, err, name)
		var got []string
		for _, n := range l {
			got = append(got, n.ID)
			require.NotNil(t, n.Consumption, name)
		}
		assert.Equal(t, tc.want, got, name)
	}
	for name, tc := range map[string]struct {
		filter network.IPFilter
		want   int
	}{
		"all":     {network.IPFilter{}, 3},
		"network": {network.IPFilter{NetworkID: a.ID}, 2},
		"project": {network.IPFilter{ProjectID: "q"}, 1},
		"machine": {network.IPFilter{MachineID: "m1"}, 1},
		"type":    {network.IPFilter{Type: network.IPTypeStatic}, 1},
		"family":  {network.IPFilter{AddressFamily: "IPv6"}, 1},
		"tags":    {network.IPFilter{Tags: []string{"x"}}, 1},
		"none":    {network.IPFilter{NetworkID: a.ID, Type: network.IPTypeStatic}, 0},
	} {
		l, err := f.svc.ListIPs(ctx, tc.filter)
		require.NoError(t, err, name)
		assert.Len(t, l, tc.want, name)
	}
}

func TestConsumptionCapAndExact(t *testing.T) {
	f := newFixture(t)
	n, err := f.svc.Create(ctx, network.CreateRequest{ID: "v6", Prefixes: pfx("2001:db8::/48")})
	require.NoError(t, err)
	c := n.Consumption.IPv6
	assert.Nil(t, n.Consumption.IPv4)
	assert.Equal(t, uint64(network.ConsumptionCap), c.AvailableIPs)
	assert.Equal(t, uint64(network.ConsumptionCap), c.AvailablePrefixes, "an empty /48 has free prefixes, not 0")
	assert.Equal(t, "1208925819614629174706176", c.ExactCapacity) // 2^80
	assert.Equal(t, "1", c.ExactUsedIPs)
	assert.Equal(t, "1208925819614629174706175", c.ExactFreeIPs)
	assert.Equal(t, "302231454903657293676544", c.ExactAvailablePrefixes) // 2^78

	// Exactly 31 host bits reports the cap, not 2^31.
	n, err = f.svc.Create(ctx, network.CreateRequest{ID: "v6-97", Prefixes: pfx("2001:db8:1::/97")})
	require.NoError(t, err)
	assert.Equal(t, uint64(network.ConsumptionCap), n.Consumption.IPv6.AvailableIPs)
	assert.Equal(t, "2147483648", n.Consumption.IPv6.ExactCapacity)

	raw, err := json.Marshal(n.Consumption)
	require.NoError(t, err)
	for _, field := range []string{`"ipv4":null`, `"available_ips":2147483647`, `"used_ips":1`, `"available_prefixes":`, `"used_prefixes":0`, `"exact_capacity":"2147483648"`} {
		assert.Contains(t, string(raw), field)
	}
}

func TestJSONFieldNames(t *testing.T) {
	f := newFixture(t)
	super := f.super("fra")
	raw, err := json.Marshal(super)
	require.NoError(t, err)
	for _, field := range []string{`"id":"super-fra"`, `"partitionid":"fra"`, `"prefixes":["10.0.0.0/16","2001:db8:0:10::/64"]`, `"defaultchildprefixlength":{"IPv4":22,"IPv6":96}`, `"privatesuper":true`, `"networktype":"super"`, `"consumption":{"ipv4":{`, `"destinationprefixes":[]`} {
		assert.Contains(t, string(raw), field)
	}
	var back network.Network
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, super.Prefixes, back.Prefixes)
	assert.Equal(t, super.DefaultChildPrefixLength, back.DefaultChildPrefixLength)
}

func TestPrintYAMLLooksLikeTheCLI(t *testing.T) {
	f := newFixture(t)
	super := f.super("fra")
	var b strings.Builder
	require.NoError(t, network.PrintYAML(&b, super))
	out := b.String()
	for _, line := range []string{"consumption:\n  ipv4:\n    available_ips: 65536\n", "defaultchildprefixlength:\n  IPv4: 22\n  IPv6: 96\n", "prefixes:\n- 10.0.0.0/16\n- 2001:db8:0:10::/64\n", "networktype: super\n", "privatesuper: true\n"} {
		assert.Contains(t, out, line)
	}
}

// TestWorkedExampleOnEveryStore runs the spec's worked example on every
// adapter.
func TestWorkedExampleOnEveryStore(t *testing.T) {
	storetest.Each(t, workedExample)
}

// workedExample is the spec's worked example, then the IPs and the child
// freed again.
func workedExample(t *testing.T, s backends.Store) {
	f := newFixtureOn(t, s)
	f.super("fra")
	child, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
	require.NoError(t, err)
	assert.Equal(t, pfx("10.0.0.0/22", "2001:db8:0:10::/96"), child.Prefixes)
	assert.Equal(t, network.FamilyConsumption{AvailableIPs: 1024, UsedIPs: 2, AvailablePrefixes: 256,
		ExactCapacity: "1024", ExactUsedIPs: "2", ExactFreeIPs: "1022", ExactAvailablePrefixes: "256"}, *child.Consumption.IPv4)
	assert.Equal(t, uint64(1073741824), child.Consumption.IPv6.AvailablePrefixes)
	super, err := f.svc.Get(ctx, "super-fra")
	require.NoError(t, err)
	assert.Equal(t, uint64(1), super.Consumption.IPv4.UsedPrefixes)
	assert.Equal(t, uint64(16128), super.Consumption.IPv4.AvailablePrefixes)
	ip4, err := f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p"})
	require.NoError(t, err)
	ip6, err := f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p", AddressFamily: "ipv6"})
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.1", ip4.IPAddress.String())
	assert.Equal(t, "2001:db8:0:10::1", ip6.IPAddress.String())
	second, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
	require.NoError(t, err)
	assert.Equal(t, pfx("10.0.4.0/22", "2001:db8:0:10:0:1::/96"), second.Prefixes)
	f.unchanged(network.ErrConflict, func() error { _, err := f.svc.Free(ctx, child.ID); return err })
	for _, ip := range []*network.IP{ip4, ip6} {
		_, err := f.svc.FreeIP(ctx, ip.IPAddress)
		require.NoError(t, err)
	}
	_, err = f.svc.Free(ctx, child.ID)
	require.NoError(t, err)
	third, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
	require.NoError(t, err)
	assert.Equal(t, child.Prefixes, third.Prefixes, "freed blocks are reused")
}

func TestFamiliesInOrderOfFirstAppearance(t *testing.T) {
	assert.Equal(t, []network.AddressFamily{network.IPv6, network.IPv4}, network.PrefixFamilies(pfx("2001:db8::/48", "10.0.0.0/8", "fd00::/8")))
	assert.Empty(t, network.PrefixFamilies(nil))
}

// A prefix that holds IPs gives no children, and a prefix with children no
// IPs.
func TestIPsAndChildrenExcludeEachOther(t *testing.T) {
	f := newFixture(t)
	f.super("fra", "10.0.0.0/16")
	ip, err := f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: "super-fra", ProjectID: "p"})
	require.NoError(t, err)
	f.unchanged(ipam.ErrInUse, func() error {
		_, err := f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
		return err
	})
	_, err = f.svc.FreeIP(ctx, ip.IPAddress)
	require.NoError(t, err)
	_, err = f.svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
	require.NoError(t, err)
	f.unchanged(ipam.ErrInUse, func() error {
		_, err := f.svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: "super-fra", ProjectID: "p"})
		return err
	})
}

// An id source that repeats an id never makes a child overwrite a
// network.
func TestAllocateChildNeverOverwrites(t *testing.T) {
	store := memstore.New()
	svc := network.New(store, &network.Options{IDs: func() string { return "same" }})
	_, err := svc.Create(ctx, network.CreateRequest{ID: "super", PartitionID: "fra", PrivateSuper: true, Prefixes: pfx("10.0.0.0/16"),
		DefaultChildPrefixLength: network.ChildLengths{network.IPv4: 22}})
	require.NoError(t, err)
	_, err = svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
	require.NoError(t, err)
	before := backendtest.Dump(t, store)
	_, err = svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "q"})
	require.ErrorIs(t, err, network.ErrConflict)
	backendtest.Unchanged(t, before, store)
}
