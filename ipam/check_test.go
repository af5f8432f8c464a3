package ipam

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/check"
)

func checkStore(t *testing.T, s backends.Store, repair bool) []check.Finding {
	t.Helper()
	fs, err := Check(ctx, s, check.Options{})
	require.NoError(t, err)
	if repair {
		update(t, s, func(tx backends.Tx) error {
			_, err := check.RepairAll(tx, fs)
			return err
		})
	}
	return fs
}

func invariants(fs []check.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Invariant)
	}
	return out
}

func TestCheckCleanAndCounters(t *testing.T) {
	s := newMem(t)
	super := pfx("10.0.0.0/16")
	update(t, s, func(tx backends.Tx) error {
		if err := CreatePrefix(tx, super); err != nil {
			return err
		}
		c, err := AcquireChild(tx, super, 24)
		if err != nil {
			return err
		}
		for range 5 {
			if _, err := AcquireIP(tx, c); err != nil {
				return err
			}
		}
		if err := CreatePool(tx, "vrf", 1, 10); err != nil {
			return err
		}
		_, err = AcquireInt(tx, "vrf")
		return err
	})
	assert.Empty(t, checkStore(t, s, false), "a consistent store has no findings")

	// Break the child's counter and the pool's counter by raw writes.
	child := pfx("10.0.0.0/24")
	update(t, s, func(tx backends.Tx) error {
		sp, r, err := loadRecord(tx, child, nil)
		if err != nil {
			return err
		}
		r.usedIPs = r.usedIPs.add(u64(3))
		if err := saveRecord(tx, sp, &r); err != nil {
			return err
		}
		p, err := GetPool(tx, "vrf")
		if err != nil {
			return err
		}
		p.Used = 7
		return tx.Put(bucketPools, []byte("vrf"), p.encode())
	})
	fs := checkStore(t, s, true)
	assert.ElementsMatch(t, []string{"ipam.counters", "ipam.pool-counter"}, invariants(fs))
	for _, f := range fs {
		assert.True(t, f.Repairable(), f.String())
	}
	assert.Empty(t, checkStore(t, s, false), "repaired")
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		u, err := GetUsage(tx, child)
		require.NoError(t, err)
		assert.Equal(t, int64(7), u.UsedIPs.Int64(), "2 reserved and 5 taken")
		return nil
	}))
}

func TestCheckStructure(t *testing.T) {
	s := newMem(t)
	super := pfx("10.0.0.0/16")
	update(t, s, func(tx backends.Tx) error {
		if err := CreatePrefix(tx, super); err != nil {
			return err
		}
		_, err := AcquireChild(tx, super, 24)
		return err
	})
	// A free range outside the usable addresses, an unregistered child.
	update(t, s, func(tx backends.Tx) error {
		sp := newSpan(pfx("10.0.0.0/24"))
		if err := tx.Put(ipBucket(sp.p), numKey(sp.end), numKey(sp.end)); err != nil {
			return err
		}
		return tx.Put(childBucket(super), childKey(addrToU(netip.MustParseAddr("10.0.9.0")), 24), marker)
	})
	fs := checkStore(t, s, false)
	got := invariants(fs)
	assert.Contains(t, got, "ipam.free-range")
	assert.Contains(t, got, "ipam.child")
	assert.Contains(t, got, "ipam.tiling")
}

func TestEachTakenAndIsTaken(t *testing.T) {
	s := newMem(t)
	p := pfx("192.0.2.0/28")
	update(t, s, func(tx backends.Tx) error {
		if err := CreatePrefix(tx, p); err != nil {
			return err
		}
		for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.5", "192.0.2.14"} {
			if err := AcquireSpecificIP(tx, p, addr(a)); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		var got []string
		require.NoError(t, EachTaken(tx, p, netip.Addr{}, func(a netip.Addr) (bool, error) {
			got = append(got, a.String())
			return true, nil
		}))
		assert.Equal(t, []string{"192.0.2.1", "192.0.2.2", "192.0.2.5", "192.0.2.14"}, got)
		got = nil
		require.NoError(t, EachTaken(tx, p, addr("192.0.2.3"), func(a netip.Addr) (bool, error) {
			got = append(got, a.String())
			return len(got) < 1, nil
		}))
		assert.Equal(t, []string{"192.0.2.5"}, got)
		for a, want := range map[string]bool{"192.0.2.0": true, "192.0.2.1": true, "192.0.2.3": false, "192.0.2.14": true, "192.0.2.13": false, "192.0.2.15": true} {
			taken, err := IsTaken(tx, p, addr(a))
			require.NoError(t, err)
			assert.Equal(t, want, taken, a)
		}
		return nil
	}))
}
