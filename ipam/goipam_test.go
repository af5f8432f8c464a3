package ipam

import (
	"net/netip"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
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
