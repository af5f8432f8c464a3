package ipam

import (
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
)

// The worked example of the spec ("Consumption").
func TestUsageWorkedExample(t *testing.T) {
	s := New(newMem(t), nil)
	v4, v6 := pfx("10.0.0.0/16"), pfx("2001:db8:0:10::/64")
	require.NoError(t, s.CreatePrefix(ctx, v4))
	require.NoError(t, s.CreatePrefix(ctx, v6))
	consumption := func(p string) Consumption {
		u, err := s.Usage(ctx, pfx(p))
		require.NoError(t, err)
		return u.Compatible()
	}
	require.Equal(t, Consumption{65536, 2, 16384, 0}, consumption("10.0.0.0/16"))
	require.Equal(t, Consumption{ConsumptionCap, 1, ConsumptionCap, 0}, consumption("2001:db8:0:10::/64"))

	c4, err := s.AcquireChild(ctx, v4, 22)
	require.NoError(t, err)
	c6, err := s.AcquireChild(ctx, v6, 96)
	require.NoError(t, err)
	require.Equal(t, "10.0.0.0/22", c4.String())
	require.Equal(t, "2001:db8:0:10::/96", c6.String())
	require.Equal(t, Consumption{1024, 2, 256, 0}, consumption("10.0.0.0/22"))
	require.Equal(t, Consumption{ConsumptionCap, 1, 1073741824, 0}, consumption("2001:db8:0:10::/96"))
	require.Equal(t, Consumption{65536, 2, 16128, 1}, consumption("10.0.0.0/16"))

	a, err := s.AcquireIP(ctx, c4)
	require.NoError(t, err)
	require.Equal(t, "10.0.0.1", a.String())
	a, err = s.AcquireIP(ctx, c6)
	require.NoError(t, err)
	require.Equal(t, "2001:db8:0:10::1", a.String())
	// Allocated IPs are not subtracted from available_prefixes.
	require.Equal(t, Consumption{1024, 3, 256, 0}, consumption("10.0.0.0/22"))

	c4, err = s.AcquireChild(ctx, v4, 22)
	require.NoError(t, err)
	c6, err = s.AcquireChild(ctx, v6, 96)
	require.NoError(t, err)
	require.Equal(t, "10.0.4.0/22", c4.String())
	require.Equal(t, "2001:db8:0:10:0:1::/96", c6.String())

	// Exact figures.
	u, err := s.Usage(ctx, v6)
	require.NoError(t, err)
	require.Equal(t, "18446744073709551616", u.Capacity.String())
	require.Equal(t, "18446744073709551615", u.FreeIPs.String())
	require.Equal(t, "2", u.UsedChildren.String())
	require.Equal(t, "4611686016279904256", u.FreeSmallestChildren.String()) // 2^62 - 2*2^30
	require.Equal(t, 126, u.SmallestChildBits)
	require.Equal(t, "4294967294", u.FreeBlocks(96).String())
	require.Equal(t, "0", u.FreeBlocks(63).String())
	require.Equal(t, "0", u.FreeBlocks(64).String(), "the /64 is no longer wholly free")
	require.Equal(t, "1", u.FreeBlocks(65).String())
	n, err := s.FreeBlocks(ctx, v4, 22)
	require.NoError(t, err)
	require.Equal(t, "62", n.String())
	_, err = s.FreeBlocks(ctx, v4, 33)
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func TestConsumptionCap(t *testing.T) {
	s := New(newMem(t), nil)
	// An empty IPv6 /48: metal-api overflows to 0 here.
	p48 := pfx("2001:db8::/48")
	require.NoError(t, s.CreatePrefix(ctx, p48))
	u48, err := s.Usage(ctx, p48)
	require.NoError(t, err)
	require.Equal(t, Consumption{ConsumptionCap, 1, ConsumptionCap, 0}, u48.Compatible())
	require.Equal(t, new(big.Int).Lsh(big.NewInt(1), 78).String(), u48.FreeSmallestChildren.String())
	// 31 host bits: exactly 2^31 reports the cap, not 2^31.
	p1 := pfx("2001:db9::/97")
	require.NoError(t, s.CreatePrefix(ctx, p1))
	u1, err := s.Usage(ctx, p1)
	require.NoError(t, err)
	require.Equal(t, uint64(ConsumptionCap), u1.Compatible().AvailableIPs)
	// Figures are capped after summing.
	a, b := pfx("0.0.0.0/2"), pfx("128.0.0.0/2")
	require.NoError(t, s.CreatePrefix(ctx, a))
	require.NoError(t, s.CreatePrefix(ctx, b))
	ua, err := s.Usage(ctx, a)
	require.NoError(t, err)
	ub, err := s.Usage(ctx, b)
	require.NoError(t, err)
	require.Equal(t, uint64(1<<30), ua.Compatible().AvailableIPs)
	sum := SumCompatible(ua, ub)
	require.Equal(t, uint64(ConsumptionCap), sum.AvailableIPs)
	require.Equal(t, uint64(4), sum.UsedIPs)
	require.Equal(t, uint64(1<<29), sum.AvailablePrefixes)
	// ::/0 works too: 2^128 addresses.
	p0 := pfx("::/0")
	require.ErrorIs(t, s.CreatePrefix(ctx, p0), ErrPrefixOverlap)
}

func TestWholeIPv6Space(t *testing.T) {
	s := New(newMem(t), nil)
	p := pfx("::/0")
	require.NoError(t, s.CreatePrefix(ctx, p))
	u, err := s.Usage(ctx, p)
	require.NoError(t, err)
	require.Equal(t, new(big.Int).Lsh(big.NewInt(1), 128).String(), u.Capacity.String())
	c, err := s.AcquireChild(ctx, p, 1)
	require.NoError(t, err)
	require.Equal(t, "::/1", c.String())
	a, err := s.AcquireIP(ctx, c)
	require.NoError(t, err)
	require.Equal(t, "::1", a.String())
	c2, err := s.AcquireChild(ctx, p, 128)
	require.NoError(t, err)
	require.Equal(t, "8000::/128", c2.String())
	require.NoError(t, s.store.View(ctx, checkInvariants))
}
