package ipam

import (
	"fmt"
	"net/netip"
	"os"
	"testing"

	goipam "github.com/metal-stack/go-ipam"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
)

func TestImportGoIPAMDump(t *testing.T) {
	dump, err := os.ReadFile("testdata/goipam-dump.json")
	require.NoError(t, err)
	s := New(newMem(t), nil)
	stats, err := s.ImportGoIPAM(ctx, dump)
	require.NoError(t, err)
	require.Equal(t, ImportStats{Prefixes: 3, Children: 3, IPs: 4}, stats)

	ps, err := s.Prefixes(ctx)
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{
		pfx("10.0.0.0/16"), pfx("10.0.0.0/22"), pfx("10.0.8.0/24"),
		pfx("192.168.0.0/24"), pfx("192.168.0.0/25"), pfx("2001:db8::/48"),
	}, ps)
	children, err := s.Children(ctx, pfx("10.0.0.0/16"))
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{pfx("10.0.0.0/22"), pfx("10.0.8.0/24")}, children)
	// The released child 10.0.4.0/22 is free again and placed first.
	c, err := s.AcquireChild(ctx, pfx("10.0.0.0/16"), 22)
	require.NoError(t, err)
	require.Equal(t, "10.0.4.0/22", c.String())
	// Taken IPs stay taken; the lowest free one comes next.
	require.ErrorIs(t, s.AcquireSpecificIP(ctx, pfx("10.0.0.0/22"), addr("10.0.0.7")), ErrAlreadyAllocated)
	a, err := s.AcquireIP(ctx, pfx("10.0.0.0/22"))
	require.NoError(t, err)
	require.Equal(t, "10.0.0.2", a.String())
	u, err := s.Usage(ctx, pfx("2001:db8::/48"))
	require.NoError(t, err)
	require.Equal(t, "3", u.UsedIPs.String())
	info, err := s.GetPrefix(ctx, pfx("192.168.0.0/25"))
	require.NoError(t, err)
	require.Equal(t, pfx("192.168.0.0/24"), info.Parent)
	require.NoError(t, s.store.View(ctx, checkInvariants))
}

func TestImportGoIPAMRejectsInvalidDumps(t *testing.T) {
	cases := []struct {
		name string
		dump string
		want []error
		says string
	}{
		{"not JSON", `{"Cidr":`, []error{ErrInvalidArgument}, "not a JSON array"},
		{"non-canonical", `[{"Cidr":"10.0.0.1/16"}]`, []error{ErrInvalidArgument}, "10.0.0.0/16"},
		{"unparsable", `[{"Cidr":"10.0.0.0/33"}]`, []error{ErrInvalidArgument}, "10.0.0.0/33"},
		{"duplicate", `[{"Cidr":"10.0.0.0/16"},{"Cidr":"10.0.0.0/16","Namespace":"other"}]`, []error{ErrInvalidArgument}, "appears twice"},
		{"overlapping roots", `[{"Cidr":"10.0.0.0/16"},{"Cidr":"10.0.128.0/17"}]`, []error{ErrPrefixOverlap, ErrInvalidArgument}, "10.0.128.0/17"},
		{"overlapping children", `[{"Cidr":"10.0.0.0/16","AvailableChildPrefixes":{"10.0.0.0/22":false,"10.0.2.0/24":false}}]`, []error{ErrPrefixOverlap}, "10.0.2.0/24"},
		{"IP outside prefix", `[{"Cidr":"10.0.0.0/24","IPs":{"10.0.0.0":true,"10.0.1.5":true}}]`, []error{ErrInvalidArgument}, "10.0.1.5"},
		{"IP of other family", `[{"Cidr":"10.0.0.0/24","IPs":{"2001:db8::1":true}}]`, []error{ErrInvalidArgument}, "2001:db8::1"},
		{"bad IP", `[{"Cidr":"10.0.0.0/24","IPs":{"10.0.0.300":true}}]`, []error{ErrInvalidArgument}, "10.0.0.300"},
		{"child outside parent", `[{"Cidr":"10.0.0.0/16"},{"Cidr":"10.1.0.0/24","ParentCidr":"10.0.0.0/16"}]`, []error{ErrInvalidArgument}, "10.1.0.0/24"},
		{"missing parent", `[{"Cidr":"10.1.0.0/24","ParentCidr":"10.0.0.0/16"}]`, []error{ErrInvalidArgument}, "not in the dump"},
		{"child marked available", `[{"Cidr":"10.0.0.0/16","AvailableChildPrefixes":{"10.0.0.0/24":true}},{"Cidr":"10.0.0.0/24","ParentCidr":"10.0.0.0/16"}]`, []error{ErrInvalidArgument}, "marked available"},
		{"masked child overlaps a sibling", `[{"Cidr":"10.0.0.0/16","AvailableChildPrefixes":{"10.0.0.9/24":false,"10.0.0.0/23":false}}]`, []error{ErrPrefixOverlap, ErrInvalidArgument}, "prefixes 10.0.0.0/23 and 10.0.0.0/24 overlap"},
		{"masked child outside parent", `[{"Cidr":"10.0.0.0/16","AvailableChildPrefixes":{"10.1.0.9/24":false}}]`, []error{ErrInvalidArgument}, "child 10.1.0.9/24 is not inside its parent 10.0.0.0/16"},
		{"unparsable child key", `[{"Cidr":"10.0.0.0/16","AvailableChildPrefixes":{"10.0.0.9/33":false}}]`, []error{ErrInvalidArgument}, "10.0.0.9/33"},
		{"record marked available under a key with host bits", `[{"Cidr":"10.0.0.0/16","AvailableChildPrefixes":{"10.0.0.5/24":true}},{"Cidr":"10.0.0.0/24","ParentCidr":"10.0.0.0/16"}]`, []error{ErrInvalidArgument}, "marked available"},
		{"children and IPs", `[{"Cidr":"10.0.0.0/16","IPs":{"10.0.9.9":true},"AvailableChildPrefixes":{"10.0.0.0/24":false}}]`, []error{ErrInvalidArgument}, "both child prefixes and IPs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New(newMem(t), nil)
			_, err := s.ImportGoIPAM(ctx, []byte(c.dump))
			for _, w := range c.want {
				require.ErrorIs(t, err, w)
			}
			require.Contains(t, err.Error(), c.says)
			ps, err := s.Prefixes(ctx)
			require.NoError(t, err)
			require.Empty(t, ps, "nothing is imported")
		})
	}
}

func TestImportGoIPAMClashWithStoreImportsNothing(t *testing.T) {
	dump, err := os.ReadFile("testdata/goipam-dump.json")
	require.NoError(t, err)
	s := New(newMem(t), nil)
	require.NoError(t, s.CreatePrefix(ctx, pfx("2001:db8:0:1::/64")))
	_, err = s.ImportGoIPAM(ctx, dump)
	require.ErrorIs(t, err, ErrPrefixOverlap)
	require.Contains(t, err.Error(), "2001:db8::/48")
	ps, err := s.Prefixes(ctx)
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{pfx("2001:db8:0:1::/64")}, ps)
}

// departReleasedParent: "IPs, Allocate": a super network that has children
// gives no IPs. A prefix whose children were all released has none, so it
// gives IPs again; go-ipam keeps refusing them (it never clears IsParent).
const departReleasedParent = "ips: a prefix gives no IPs while it has children, and gives them again once it has none"

// dumpOf returns go-ipam's Dump.
func dumpOf(t *testing.T, gi goipam.Ipamer) []byte {
	t.Helper()
	js, err := gi.Dump(ctx)
	require.NoError(t, err)
	return []byte(js)
}

func importInto(t *testing.T, st backends.Store, dump []byte) (ImportStats, error) {
	var stats ImportStats
	err := st.Update(ctx, func(tx backends.Tx) (err error) {
		stats, err = ImportGoIPAM(tx, dump)
		return err
	})
	return stats, err
}

// TestImportGoIPAMOfItsOwnDump builds a state through go-ipam's own API
// (both families, grandchildren, released children and IPs, specific IPs
// and children, specific children requested with host bits), imports its
// dump and finds the same prefixes, children, taken addresses, usage and
// next placements.
func TestImportGoIPAMOfItsOwnDump(t *testing.T) {
	d := newPair(t)
	gi := d.gi
	newPrefix := func(p string) {
		_, err := gi.NewPrefix(ctx, p)
		require.NoError(t, err)
	}
	child := func(parent string, bits uint8) *goipam.Prefix {
		c, err := gi.AcquireChildPrefix(ctx, parent, bits)
		require.NoError(t, err)
		return c
	}
	specific := func(parent, cidr string) *goipam.Prefix {
		c, err := gi.AcquireSpecificChildPrefix(ctx, parent, cidr)
		require.NoError(t, err)
		return c
	}
	ip := func(p string) {
		_, err := gi.AcquireIP(ctx, p)
		require.NoError(t, err)
	}
	specificIP := func(p, a string) {
		_, err := gi.AcquireSpecificIP(ctx, p, a)
		require.NoError(t, err)
	}
	releaseIP := func(p, a string) { require.NoError(t, gi.ReleaseIPFromPrefix(ctx, p, a)) }
	release := func(c *goipam.Prefix) { require.NoError(t, gi.ReleaseChildPrefix(ctx, c)) }

	newPrefix("10.0.0.0/16")
	child("10.0.0.0/16", 22)
	released := child("10.0.0.0/16", 22)
	child("10.0.0.0/16", 24)
	release(released)
	require.Equal(t, "10.0.64.0/20", specific("10.0.0.0/16", "10.0.64.9/20").Cidr)
	child("10.0.64.0/20", 26)
	released = child("10.0.64.0/20", 26)
	child("10.0.64.0/20", 26)
	release(released)
	specific("10.0.64.0/20", "10.0.72.0/24")
	for range 4 {
		ip("10.0.0.0/22")
	}
	releaseIP("10.0.0.0/22", "10.0.0.2")
	specificIP("10.0.0.0/22", "10.0.3.254")
	ip("10.0.64.0/26")
	ip("10.0.64.0/26")
	releaseIP("10.0.8.0/24", "10.0.8.255") // go-ipam releases a reserved address

	newPrefix("192.168.0.0/24")
	release(child("192.168.0.0/24", 25))

	newPrefix("2001:db8::/48")
	released = child("2001:db8::/48", 56)
	child("2001:db8::/48", 56)
	release(released)
	specific("2001:db8::/48", "2001:db8:0:ff00::/56")
	specific("2001:db8:0:100::/56", "2001:db8:0:100::1/124")
	release(specific("2001:db8:0:100::/56", "2001:db8:0:100::11/124"))
	child("2001:db8:0:100::/56", 64)
	for range 3 {
		ip("2001:db8:0:100::/124")
	}
	releaseIP("2001:db8:0:100::/124", "2001:db8:0:100::2")
	specificIP("2001:db8:0:100::/124", "2001:db8:0:100::f")
	newPrefix("2001:db8:1::/120")
	ip("2001:db8:1::/120")
	ip("2001:db8:1::/120")
	specificIP("2001:db8:1::/120", "2001:db8:1::ff")

	dump := dumpOf(t, gi)
	// go-ipam keys the specific children by their request, host bits
	// included, and keeps the un-masked key taken after the release.
	entries := d.goipamDump()
	require.Equal(t, map[string]bool{
		"2001:db8:0:100::1/124":  false,
		"2001:db8:0:100::11/124": false,
		"2001:db8:0:100::10/124": true,
		"2001:db8:0:101::/64":    false,
	}, entries[pfx("2001:db8:0:100::/56")].AvailableChildPrefixes)

	stats, err := importInto(t, d.st, dump)
	require.NoError(t, err)
	require.Equal(t, ImportStats{Prefixes: 4, Children: 11, IPs: 12}, stats)
	require.NoError(t, d.st.View(ctx, checkInvariants))

	// The reserved broadcast address go-ipam released is reserved again.
	require.NotContains(t, entries[pfx("10.0.8.0/24")].IPs, "10.0.8.255")
	err = d.st.Update(ctx, func(tx backends.Tx) error { return AcquireSpecificIP(tx, pfx("10.0.8.0/24"), addr("10.0.8.255")) })
	require.ErrorIs(t, err, ErrReserved, departReservedRelease)
	specificIP("10.0.8.0/24", "10.0.8.255") // go-ipam hands it out; the two agree again
	d.departures[departReservedRelease]++

	// A prefix whose only child was released gives IPs here, not in go-ipam.
	_, gerr := gi.AcquireIP(ctx, "192.168.0.0/24")
	require.Error(t, gerr)
	err = d.st.Update(ctx, func(tx backends.Tx) error {
		a, err := AcquireIP(tx, pfx("192.168.0.0/24"))
		require.NoError(t, err, departReleasedParent)
		require.Equal(t, addr("192.168.0.1"), a)
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	d.compareState("imported")
	entries = d.goipamDump()
	for p := range entries {
		d.compareUsage(p, "imported")
	}
	// Next placements: children where go-ipam has a parent, IPs elsewhere.
	for p, e := range entries {
		if !e.IsParent {
			d.acquireIP(p, "next IP of "+p.String())
			continue
		}
		for _, bits := range []int{p.Bits() + 4, min(p.Bits()+12, p.Addr().BitLen()-2)} {
			d.acquireChild(p, bits, fmt.Sprintf("next /%d of %s", bits, p))
		}
	}
	// The released child with host bits stays taken, as go-ipam reads it.
	c, ok := d.acquireChild(pfx("2001:db8:0:100::/56"), 124, "after the stale key")
	require.True(t, ok)
	require.Equal(t, pfx("2001:db8:0:100::20/124"), c)
	d.compareState("after the next placements")
}

// TestImportGoIPAMMasksSpecificChildKeys: keys with host bits stand for
// their masked prefix, and a taken key wins over an available one.
func TestImportGoIPAMMasksSpecificChildKeys(t *testing.T) {
	dump := `[
	  {"Cidr":"2001:db8::/32","ParentCidr":"","IsParent":true,"IPs":{"2001:db8::":true},
	   "AvailableChildPrefixes":{"2001:db8:2::1/124":false,"2001:db8:2::/124":true,"2001:db8:3::5/124":false}},
	  {"Cidr":"2001:db8:3::/124","ParentCidr":"2001:db8::/32","IPs":{"2001:db8:3::":true,"2001:db8:3::7":true},
	   "AvailableChildPrefixes":{}}
	]`
	st := newMem(t)
	stats, err := importInto(t, st, []byte(dump))
	require.NoError(t, err)
	require.Equal(t, ImportStats{Prefixes: 1, Children: 2, IPs: 1}, stats)
	require.NoError(t, st.View(ctx, func(tx backends.Tx) error {
		children, err := Children(tx, pfx("2001:db8::/32"))
		require.NoError(t, err)
		require.Equal(t, []netip.Prefix{pfx("2001:db8:2::/124"), pfx("2001:db8:3::/124")}, children)
		u, err := GetUsage(tx, pfx("2001:db8:3::/124"))
		require.NoError(t, err)
		require.Equal(t, "2", u.UsedIPs.String())
		return checkInvariants(tx)
	}))
}

// TestImportGoIPAMRejectsItsCorruptRelease: go-ipam lets an IPv6 child
// holding exactly one IP be released; it marks the child available in the
// parent and then fails to delete it. Its dump says both; the import
// rejects it and imports nothing. metalkit refuses the release itself.
func TestImportGoIPAMRejectsItsCorruptRelease(t *testing.T) {
	d := newPair(t)
	parent := pfx("2001:db8::/48")
	d.createPrefix(parent)
	c, ok := d.acquireChild(parent, 64, "child")
	require.True(t, ok)
	d.acquireIP(c, "its one IP")

	gc, err := d.gi.PrefixFrom(ctx, c.String())
	require.NoError(t, err)
	require.Error(t, d.gi.ReleaseChildPrefix(ctx, gc), "go-ipam fails halfway")
	err = d.st.Update(ctx, func(tx backends.Tx) error { return ReleaseChild(tx, parent, c) })
	require.ErrorIs(t, err, ErrInUse)

	entries := d.goipamDump()
	require.Equal(t, map[string]bool{c.String(): true}, entries[parent].AvailableChildPrefixes)
	require.Contains(t, entries, c, "the child's record is still there")

	st := newMem(t)
	_, err = importInto(t, st, dumpOf(t, d.gi))
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.Contains(t, err.Error(), "2001:db8::/64 is marked available in its parent 2001:db8::/48 but still exists")
	require.NoError(t, st.View(ctx, func(tx backends.Tx) error {
		ps, err := Prefixes(tx)
		require.Empty(t, ps)
		return err
	}))
}
