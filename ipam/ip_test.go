package ipam

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
)

func TestIPsLowestFirstAndReserved(t *testing.T) {
	s := New(newMem(t), nil)
	p := pfx("10.0.0.0/29")
	require.NoError(t, s.CreatePrefix(ctx, p))
	var got []string
	for {
		a, err := s.AcquireIP(ctx, p)
		if err != nil {
			require.ErrorIs(t, err, ErrExhausted)
			require.Contains(t, err.Error(), "10.0.0.0/29")
			break
		}
		got = append(got, a.String())
	}
	require.Equal(t, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}, got)
	require.NoError(t, s.ReleaseIP(ctx, p, addr("10.0.0.5")))
	require.NoError(t, s.ReleaseIP(ctx, p, addr("10.0.0.2")))
	a, err := s.AcquireIP(ctx, p)
	require.NoError(t, err)
	require.Equal(t, "10.0.0.2", a.String(), "released addresses are reused lowest first")
	require.ErrorIs(t, s.ReleaseIP(ctx, p, addr("10.0.0.5")), ErrNotFound)
	require.ErrorIs(t, s.AcquireSpecificIP(ctx, p, addr("10.0.0.3")), ErrAlreadyAllocated)
	require.NoError(t, s.AcquireSpecificIP(ctx, p, addr("10.0.0.5")))
	for _, r := range []string{"10.0.0.0", "10.0.0.7"} {
		err := s.AcquireSpecificIP(ctx, p, addr(r))
		require.ErrorIs(t, err, ErrReserved)
		require.ErrorIs(t, err, ErrAlreadyAllocated)
		require.ErrorIs(t, s.ReleaseIP(ctx, p, addr(r)), ErrReserved)
	}
	require.ErrorIs(t, s.AcquireSpecificIP(ctx, p, addr("10.0.0.8")), ErrInvalidArgument)
	require.ErrorIs(t, s.AcquireSpecificIP(ctx, p, addr("::ffff:10.0.0.3")), ErrInvalidArgument)
	require.ErrorIs(t, s.AcquireSpecificIP(ctx, p, netip.Addr{}), ErrInvalidArgument)
	_, err = s.AcquireIP(ctx, pfx("10.1.0.0/24"))
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, s.store.View(ctx, checkInvariants))
}

func TestReservedAddressesPerLength(t *testing.T) {
	cases := []struct {
		prefix string
		first  string // first IP handed out, "" for none
		used   string // used IPs right after creation
	}{
		{"10.0.0.0/30", "10.0.0.1", "2"},
		{"10.0.1.0/31", "", "2"},
		{"10.0.2.0/32", "", "1"},
		{"2001:db8::/64", "2001:db8::1", "1"},
		{"2001:db8:1::/127", "2001:db8:1::1", "1"},
		{"2001:db8:2::/128", "", "1"},
	}
	s := New(newMem(t), nil)
	for _, c := range cases {
		p := pfx(c.prefix)
		require.NoError(t, s.CreatePrefix(ctx, p))
		u, err := s.Usage(ctx, p)
		require.NoError(t, err)
		require.Equal(t, c.used, u.UsedIPs.String(), c.prefix)
		a, err := s.AcquireIP(ctx, p)
		if c.first == "" {
			require.ErrorIs(t, err, ErrExhausted, c.prefix)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, c.first, a.String())
	}
	// The last IPv6 address is usable.
	p := pfx("2001:db8:3::/126")
	require.NoError(t, s.CreatePrefix(ctx, p))
	require.NoError(t, s.AcquireSpecificIP(ctx, p, addr("2001:db8:3::3")))
	require.NoError(t, s.ReleaseIP(ctx, p, addr("2001:db8:3::3")))
	require.NoError(t, s.store.View(ctx, checkInvariants))
}

func TestIPRangesMerge(t *testing.T) {
	s := New(newMem(t), nil)
	p := pfx("2001:db8::/120")
	require.NoError(t, s.CreatePrefix(ctx, p))
	for range 255 {
		_, err := s.AcquireIP(ctx, p)
		require.NoError(t, err)
	}
	// Release in an order that exercises every merge case.
	for _, last := range []int{10, 12, 11, 9, 13, 255, 1, 2, 254} {
		require.NoError(t, s.ReleaseIP(ctx, p, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(last)})))
		require.NoError(t, s.store.View(ctx, checkInvariants))
	}
	ranges := 0
	require.NoError(t, s.store.View(ctx, func(tx backends.Tx) error {
		return tx.Ascend(ipBucket(p), nil, func(_, _ []byte) (bool, error) { ranges++; return true, nil })
	}))
	require.Equal(t, 3, ranges, "1-2, 9-13, 254-255")
}
