package ipam

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestU128MatchesBigInt(t *testing.T) {
	mod := new(big.Int).Lsh(big.NewInt(1), 128)
	r := rand.New(rand.NewPCG(1, 2))
	edge := []u128{{}, u64(1), {lo: ^uint64(0)}, {hi: 1}, u128Max, u128Max.dec()}
	pick := func() u128 {
		if r.IntN(3) == 0 {
			return edge[r.IntN(len(edge))]
		}
		return u128{r.Uint64(), r.Uint64()}
	}
	for range 5000 {
		a, b := pick(), pick()
		ba, bb := a.big(), b.big()
		sum := new(big.Int).Add(ba, bb)
		require.Equal(t, sum.Mod(sum, mod).String(), a.add(b).String())
		diff := new(big.Int).Sub(ba, bb)
		require.Equal(t, diff.Mod(diff, mod).String(), a.sub(b).String())
		require.Equal(t, ba.Cmp(bb), a.cmp(b))
		var buf [16]byte
		a.put(buf[:])
		require.Equal(t, a, getU128(buf[:]))
	}
	for n := 0; n <= 128; n++ {
		want := new(big.Int).Lsh(big.NewInt(1), uint(n))
		if n < 128 {
			require.Equal(t, want.String(), bit(n).String())
		}
		require.Equal(t, want.Sub(want, big.NewInt(1)).String(), lowMask(n).String())
	}
}

func TestAddrConversionRoundTrips(t *testing.T) {
	for _, s := range []string{"0.0.0.0", "10.1.2.3", "255.255.255.255", "::", "2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
		a := addr(s)
		require.Equal(t, a, uToAddr(addrToU(a), a.Is4()), s)
	}
}
