package ipam

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIntegerPool(t *testing.T) {
	s := New(newMem(t), nil)
	require.NoError(t, s.CreatePool(ctx, "vrf", VRFPoolMin, VRFPoolMax))
	require.ErrorIs(t, s.CreatePool(ctx, "vrf", 1, 2), ErrAlreadyExists)
	require.ErrorIs(t, s.CreatePool(ctx, "", 1, 2), ErrInvalidArgument)
	require.ErrorIs(t, s.CreatePool(ctx, "bad", 5, 4), ErrInvalidArgument)
	for want := uint64(1); want <= 3; want++ {
		v, err := s.AcquireInt(ctx, "vrf")
		require.NoError(t, err)
		require.Equal(t, want, v)
	}
	require.NoError(t, s.AcquireSpecificInt(ctx, "vrf", 131072))
	require.ErrorIs(t, s.AcquireSpecificInt(ctx, "vrf", 131072), ErrAlreadyAllocated)
	require.ErrorIs(t, s.AcquireSpecificInt(ctx, "vrf", 0), ErrInvalidArgument)
	require.ErrorIs(t, s.AcquireSpecificInt(ctx, "vrf", 131073), ErrInvalidArgument)
	require.NoError(t, s.ReleaseInt(ctx, "vrf", 2))
	require.ErrorIs(t, s.ReleaseInt(ctx, "vrf", 2), ErrNotFound)
	v, err := s.AcquireInt(ctx, "vrf")
	require.NoError(t, err)
	require.Equal(t, uint64(2), v, "released values are reused lowest first")
	p, err := s.GetPool(ctx, "vrf")
	require.NoError(t, err)
	require.Equal(t, Pool{Name: "vrf", Min: 1, Max: 131072, Used: 4}, p)
	require.Equal(t, uint64(131068), p.Free())
	require.ErrorIs(t, s.DeletePool(ctx, "vrf"), ErrInUse)
	_, err = s.AcquireInt(ctx, "nope")
	require.ErrorIs(t, err, ErrNotFound)

	// Exhaustion, and ASN-sized values.
	require.NoError(t, s.CreatePool(ctx, "asn", 4200000000, 4200000001))
	for range 2 {
		_, err := s.AcquireInt(ctx, "asn")
		require.NoError(t, err)
	}
	_, err = s.AcquireInt(ctx, "asn")
	require.ErrorIs(t, err, ErrExhausted)
	require.Contains(t, err.Error(), `"asn"`)
	require.NoError(t, s.ReleaseInt(ctx, "asn", 4200000001))
	require.NoError(t, s.ReleaseInt(ctx, "asn", 4200000000))
	require.NoError(t, s.DeletePool(ctx, "asn"))
	_, err = s.GetPool(ctx, "asn")
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, s.CreatePool(ctx, "asn", 7, 7), "a deleted pool leaves nothing behind")
}
