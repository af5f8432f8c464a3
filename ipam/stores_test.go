package ipam

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/internal/storetest"
)

// TestMainFlowsOnEveryStore runs the main flows on every adapter.
func TestMainFlowsOnEveryStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st backends.Store) {
		s := New(st, nil)
		v4, v6 := pfx("10.0.0.0/16"), pfx("2001:db8::/48")
		require.NoError(t, s.CreatePrefix(ctx, v4))
		require.NoError(t, s.CreatePrefix(ctx, v6))
		require.ErrorIs(t, s.CreatePrefix(ctx, pfx("10.0.3.0/24")), ErrPrefixOverlap)

		for _, want := range []string{"10.0.0.0/22", "10.0.4.0/22", "10.0.8.0/24", "10.0.12.0/22"} {
			bits := 22
			if want == "10.0.8.0/24" {
				bits = 24
			}
			c, err := s.AcquireChild(ctx, v4, bits)
			require.NoError(t, err)
			require.Equal(t, want, c.String())
		}
		c6, err := s.AcquireChild(ctx, v6, 64)
		require.NoError(t, err)
		require.Equal(t, "2001:db8::/64", c6.String())
		require.NoError(t, s.AcquireSpecificChild(ctx, v6, pfx("2001:db8:0:ff::/64")))

		child := pfx("10.0.4.0/22")
		for _, want := range []string{"10.0.4.1", "10.0.4.2", "10.0.4.3"} {
			a, err := s.AcquireIP(ctx, child)
			require.NoError(t, err)
			require.Equal(t, want, a.String())
		}
		require.NoError(t, s.ReleaseIP(ctx, child, addr("10.0.4.2")))
		require.NoError(t, s.AcquireSpecificIP(ctx, child, addr("10.0.7.254")))
		require.ErrorIs(t, s.AcquireSpecificIP(ctx, child, addr("10.0.7.255")), ErrReserved)
		a, err := s.AcquireIP(ctx, child)
		require.NoError(t, err)
		require.Equal(t, "10.0.4.2", a.String())
		a6, err := s.AcquireIP(ctx, c6)
		require.NoError(t, err)
		require.Equal(t, "2001:db8::1", a6.String())

		u, err := s.Usage(ctx, v4)
		require.NoError(t, err)
		require.Equal(t, Consumption{65536, 2, 16384 - 256*3 - 64, 4}, u.Compatible())
		u, err = s.Usage(ctx, child)
		require.NoError(t, err)
		require.Equal(t, Consumption{1024, 6, 256, 0}, u.Compatible())

		require.ErrorIs(t, s.ReleaseChild(ctx, v4, child), ErrInUse)
		for _, ip := range []string{"10.0.4.1", "10.0.4.2", "10.0.4.3", "10.0.7.254"} {
			require.NoError(t, s.ReleaseIP(ctx, child, addr(ip)))
		}
		require.NoError(t, s.ReleaseChild(ctx, v4, child))
		c, err := s.AcquireChild(ctx, v4, 23)
		require.NoError(t, err)
		require.Equal(t, "10.0.10.0/23", c.String(), "best fit: the free /23, not the released /22")

		require.NoError(t, s.CreatePool(ctx, "vrf", VRFPoolMin, VRFPoolMax))
		v, err := s.AcquireInt(ctx, "vrf")
		require.NoError(t, err)
		require.Equal(t, uint64(1), v)
		require.NoError(t, s.AcquireSpecificInt(ctx, "vrf", 7))
		require.NoError(t, s.ReleaseInt(ctx, "vrf", 1))

		require.NoError(t, st.View(ctx, func(tx backends.Tx) error {
			us, err := Usages(tx, []netip.Prefix{v4, c6, c})
			require.NoError(t, err)
			for i, p := range []netip.Prefix{v4, c6, c} {
				one, err := GetUsage(tx, p)
				require.NoError(t, err)
				require.Equal(t, one, us[i], "usage of %s", p)
			}
			_, err = Usages(tx, []netip.Prefix{v4, pfx("10.9.0.0/16")})
			require.ErrorIs(t, err, ErrNotFound)
			_, err = Usages(tx, []netip.Prefix{{}})
			require.ErrorIs(t, err, ErrInvalidArgument)
			return nil
		}))
		require.NoError(t, st.View(ctx, checkInvariants))
	})
}

// TestTakingAChildNeverOverwrites: when the free blocks give out a child
// that has a record all the same, taking it fails with the corrupt class
// and writes nothing, on every store (redisstore checks at the commit).
func TestTakingAChildNeverOverwrites(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st backends.Store) {
		s := New(st, nil)
		super, child := pfx("10.0.0.0/16"), pfx("10.0.0.0/24")
		require.NoError(t, s.CreatePrefix(ctx, super))
		stray := record{parent: super, usedIPs: u64(7)}
		update(t, st, func(tx backends.Tx) error { return tx.Put(bucketPrefixes, prefixKey(child), stray.encode()) })

		before := backendtest.Dump(t, st)
		for name, take := range map[string]func() error{
			"best fit": func() error { _, err := s.AcquireChild(ctx, super, 24); return err },
			"specific": func() error { return s.AcquireSpecificChild(ctx, super, child) },
		} {
			err := take()
			require.ErrorIs(t, err, errdefs.ErrCorrupt, name)
			assert.Contains(t, err.Error(), bucketPrefixes, name)
			backendtest.Unchanged(t, before, st)
		}
		require.NoError(t, st.View(ctx, func(tx backends.Tx) error {
			_, r, err := loadRecord(tx, child, nil)
			require.NoError(t, err)
			assert.Equal(t, stray, r, "the record is intact")
			return nil
		}))

		// Without the stray record the store is consistent again.
		update(t, st, func(tx backends.Tx) error { return tx.Delete(bucketPrefixes, prefixKey(child)) })
	})
}
