package ipam

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
)

// The placement examples of the spec (networks-and-ips.md, "Allocate a
// child network").
func TestChildPlacementSpecExamples(t *testing.T) {
	type step struct {
		acquire int    // child length to acquire, or 0
		release string // child to release
		want    string // acquired child, or "" when an error is expected
		errHas  string // text the error must name
	}
	cases := []struct {
		name   string
		parent string
		steps  []step
	}{
		{"best fit in a /16", "10.0.0.0/16", []step{
			{acquire: 22, want: "10.0.0.0/22"},
			{acquire: 22, want: "10.0.4.0/22"},
			{acquire: 24, want: "10.0.8.0/24"},
			{acquire: 22, want: "10.0.12.0/22"},
		}},
		{"exhausted names the free block", "192.168.0.0/24", []step{
			{acquire: 25, want: "192.168.0.0/25"},
			{acquire: 26, want: "192.168.0.128/26"},
			{acquire: 25, errHas: "192.168.0.192/26"},
		}},
		{"released space is reused by best fit", "192.168.0.0/24", []step{
			{acquire: 25, want: "192.168.0.0/25"},
			{acquire: 26, want: "192.168.0.128/26"},
			{release: "192.168.0.0/25"},
			{acquire: 26, want: "192.168.0.192/26"},
		}},
		{"IPv6", "2001:db8::/48", []step{
			{acquire: 64, want: "2001:db8::/64"},
			{acquire: 56, want: "2001:db8:0:100::/56"},
			{acquire: 64, want: "2001:db8:0:1::/64"},
			{release: "2001:db8::/64"},
			{acquire: 63, want: "2001:db8:0:2::/63"},
			{acquire: 64, want: "2001:db8::/64"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New(newMem(t), nil)
			parent := pfx(c.parent)
			require.NoError(t, s.CreatePrefix(ctx, parent))
			for _, st := range c.steps {
				if st.release != "" {
					require.NoError(t, s.ReleaseChild(ctx, parent, pfx(st.release)))
					continue
				}
				got, err := s.AcquireChild(ctx, parent, st.acquire)
				if st.want == "" {
					require.ErrorIs(t, err, ErrExhausted)
					require.Contains(t, err.Error(), st.errHas)
					continue
				}
				require.NoError(t, err)
				require.Equal(t, st.want, got.String())
			}
			require.NoError(t, s.store.View(ctx, checkInvariants))
		})
	}
}

func TestExhaustedMessage(t *testing.T) {
	s := New(newMem(t), nil)
	p := pfx("10.0.0.0/16")
	require.NoError(t, s.CreatePrefix(ctx, p))
	for range 2 {
		_, err := s.AcquireChild(ctx, p, 17)
		require.NoError(t, err)
	}
	_, err := s.AcquireChild(ctx, p, 30)
	require.ErrorIs(t, err, ErrExhausted)
	require.Equal(t, "ipam: prefix 10.0.0.0/16: no free /30 (no free block left)", err.Error())
	require.NoError(t, s.ReleaseChild(ctx, p, pfx("10.0.128.0/17")))
	_, err = s.AcquireChild(ctx, p, 30)
	require.NoError(t, err)
	_, err = s.AcquireChild(ctx, p, 17)
	require.Equal(t, "ipam: prefix 10.0.0.0/16: no free /17 (largest free block 10.0.192.0/18)", err.Error())
}

func TestSpecificChild(t *testing.T) {
	s := New(newMem(t), nil)
	p := pfx("10.0.0.0/16")
	require.NoError(t, s.CreatePrefix(ctx, p))
	require.NoError(t, s.AcquireSpecificChild(ctx, p, pfx("10.0.5.0/24")))
	require.ErrorIs(t, s.AcquireSpecificChild(ctx, p, pfx("10.0.5.0/24")), ErrAlreadyAllocated)
	require.ErrorIs(t, s.AcquireSpecificChild(ctx, p, pfx("10.0.4.0/22")), ErrAlreadyAllocated)
	require.ErrorIs(t, s.AcquireSpecificChild(ctx, p, pfx("10.0.5.128/25")), ErrAlreadyAllocated)
	require.ErrorIs(t, s.AcquireSpecificChild(ctx, p, pfx("10.1.0.0/24")), ErrInvalidArgument)
	require.ErrorIs(t, s.AcquireSpecificChild(ctx, p, pfx("10.0.0.0/16")), ErrInvalidArgument)
	require.ErrorIs(t, s.AcquireSpecificChild(ctx, p, netip.PrefixFrom(addr("10.0.7.1"), 24)), ErrInvalidArgument)
	require.ErrorIs(t, s.AcquireSpecificChild(ctx, p, pfx("::/64")), ErrInvalidArgument)
	// Best fit now prefers the /24 buddy 10.0.4.0/24.
	got, err := s.AcquireChild(ctx, p, 24)
	require.NoError(t, err)
	require.Equal(t, "10.0.4.0/24", got.String())
	children, err := s.Children(ctx, p)
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{pfx("10.0.4.0/24"), pfx("10.0.5.0/24")}, children)
	// Children are registered prefixes that hand out IPs.
	ip, err := s.AcquireIP(ctx, pfx("10.0.5.0/24"))
	require.NoError(t, err)
	require.Equal(t, "10.0.5.1", ip.String())
	info, err := s.GetPrefix(ctx, pfx("10.0.5.0/24"))
	require.NoError(t, err)
	require.Equal(t, p, info.Parent)
	// A child holding IPs cannot be released; nor can a non-child.
	require.ErrorIs(t, s.ReleaseChild(ctx, p, pfx("10.0.5.0/24")), ErrInUse)
	require.ErrorIs(t, s.ReleaseChild(ctx, p, pfx("10.0.6.0/24")), ErrNotFound)
	require.ErrorIs(t, s.ReleaseChild(ctx, pfx("10.0.5.0/24"), pfx("10.0.5.0/25")), ErrNotFound)
	require.NoError(t, s.ReleaseIP(ctx, pfx("10.0.5.0/24"), ip))
	// DeletePrefix of a child releases it in the parent.
	require.NoError(t, s.DeletePrefix(ctx, pfx("10.0.5.0/24")))
	require.NoError(t, s.ReleaseChild(ctx, p, pfx("10.0.4.0/24")))
	require.NoError(t, s.store.View(ctx, checkInvariants))
	u, err := s.Usage(ctx, p)
	require.NoError(t, err)
	require.Equal(t, "1", u.FreeBlocks(16).String(), "everything merged back into one block")
	require.NoError(t, s.DeletePrefix(ctx, p))
	ps, err := s.Prefixes(ctx)
	require.NoError(t, err)
	require.Empty(t, ps)
}

func TestChildAndIPExclusion(t *testing.T) {
	s := New(newMem(t), nil)
	p := pfx("10.0.0.0/24")
	require.NoError(t, s.CreatePrefix(ctx, p))
	ip, err := s.AcquireIP(ctx, p)
	require.NoError(t, err)
	_, err = s.AcquireChild(ctx, p, 26)
	require.ErrorIs(t, err, ErrInUse)
	require.ErrorIs(t, s.AcquireSpecificChild(ctx, p, pfx("10.0.0.64/26")), ErrInUse)
	require.ErrorIs(t, s.DeletePrefix(ctx, p), ErrInUse)
	require.NoError(t, s.ReleaseIP(ctx, p, ip))
	c, err := s.AcquireChild(ctx, p, 26)
	require.NoError(t, err)
	_, err = s.AcquireIP(ctx, p)
	require.ErrorIs(t, err, ErrInUse)
	require.ErrorIs(t, s.AcquireSpecificIP(ctx, p, addr("10.0.0.200")), ErrInUse)
	require.ErrorIs(t, s.DeletePrefix(ctx, p), ErrInUse)
	_, err = s.AcquireChild(ctx, p, 24)
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = s.AcquireChild(ctx, p, 33)
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.NoError(t, s.ReleaseChild(ctx, p, c))
	require.NoError(t, s.DeletePrefix(ctx, p))
}

func TestCreatePrefixChecks(t *testing.T) {
	s := New(newMem(t), nil)
	require.NoError(t, s.CreatePrefix(ctx, pfx("10.0.0.0/16")))
	require.NoError(t, s.CreatePrefix(ctx, pfx("10.2.0.0/16")))
	require.NoError(t, s.CreatePrefix(ctx, pfx("2001:db8::/48")))
	for _, c := range []struct {
		p    netip.Prefix
		want []error
	}{
		{pfx("10.0.0.0/16"), []error{ErrAlreadyExists, ErrPrefixOverlap}},
		{pfx("10.0.0.0/8"), []error{ErrPrefixOverlap}},
		{pfx("10.0.128.0/24"), []error{ErrPrefixOverlap}},
		{pfx("10.1.255.0/24"), nil},
		{pfx("10.2.255.0/24"), []error{ErrPrefixOverlap}},
		{pfx("10.3.0.0/16"), nil},
		{pfx("2001:db8::/32"), []error{ErrPrefixOverlap}},
		{pfx("2001:db8:0:1::/64"), []error{ErrPrefixOverlap}},
		{pfx("0.0.0.0/0"), []error{ErrPrefixOverlap}},
		{netip.PrefixFrom(addr("10.9.0.1"), 16), []error{ErrInvalidArgument}},
		{pfx("::ffff:10.9.0.0/112"), []error{ErrInvalidArgument}},
		{netip.Prefix{}, []error{ErrInvalidArgument}},
	} {
		err := s.CreatePrefix(ctx, c.p)
		if c.want == nil {
			require.NoError(t, err, c.p)
		}
		for _, w := range c.want {
			require.ErrorIs(t, err, w, c.p)
		}
	}
	err := s.CreatePrefix(ctx, netip.PrefixFrom(addr("10.9.0.1"), 16))
	require.Contains(t, err.Error(), "10.9.0.0/16", "the error names the canonical form")
	_, err = s.GetPrefix(ctx, pfx("10.4.0.0/16"))
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, s.DeletePrefix(ctx, pfx("10.4.0.0/16")), ErrNotFound)
}

func TestFailedOperationsChangeNothing(t *testing.T) {
	st := newMem(t)
	s := New(st, nil)
	p := pfx("10.0.0.0/30")
	require.NoError(t, s.CreatePrefix(ctx, p))
	// A caller's transaction that fails halfway commits nothing.
	err := st.Update(ctx, func(tx backends.Tx) error {
		if _, err := AcquireIP(tx, p); err != nil {
			return err
		}
		if _, err := AcquireIP(tx, p); err != nil {
			return err
		}
		_, err := AcquireIP(tx, p)
		return err
	})
	require.ErrorIs(t, err, ErrExhausted)
	u, err := s.Usage(ctx, p)
	require.NoError(t, err)
	require.Equal(t, "2", u.UsedIPs.String())
	require.False(t, errors.Is(err, ErrExhausted))
}
