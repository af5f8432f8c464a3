package ipam

import (
	"math/big"
	"net/netip"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// Usage is the exact usage of one prefix, read from its counters (never
// recomputed by scanning). All counts are exact; big.Int because an IPv6
// prefix holds up to 2^128 addresses. The values are fresh copies that the
// caller may modify.
type Usage struct {
	// Prefix is the prefix described.
	Prefix netip.Prefix
	// Capacity is the number of addresses, 2^(W-L).
	Capacity *big.Int
	// UsedIPs counts the addresses taken from the prefix itself,
	// reserved ones included (addresses of its children are not counted).
	UsedIPs *big.Int
	// FreeIPs is Capacity - UsedIPs.
	FreeIPs *big.Int
	// AllocatedIPs counts the addresses taken from the prefix besides the
	// reserved ones: UsedIPs minus the reserved addresses (the first, and
	// for IPv4 shorter than /32 also the last).
	AllocatedIPs *big.Int
	// UsedChildren counts the child prefixes taken.
	UsedChildren *big.Int
	// SmallestChildBits is the smallest child size: 30 for IPv4, 126 for
	// IPv6.
	SmallestChildBits int
	// FreeSmallestChildren is the number of free blocks of the smallest
	// child size in the space not taken by children (allocated IPs are not
	// subtracted): FreeBlocks(SmallestChildBits).
	FreeSmallestChildren *big.Int

	free [129]uint64
}

// FreeBlocks returns, exactly, how many blocks of length bits fit in the
// space of the prefix not taken by children. It is 0 for bits shorter than
// the prefix; bits beyond the family's width count as the width.
func (u Usage) FreeBlocks(bits int) *big.Int {
	w := 128
	if u.Prefix.Addr().Is4() {
		w = 32
	}
	bits = min(bits, w)
	sum := new(big.Int)
	var t big.Int
	for l := 0; l <= bits; l++ {
		if u.free[l] != 0 {
			t.SetUint64(u.free[l])
			sum.Add(sum, t.Lsh(&t, uint(bits-l)))
		}
	}
	return sum
}

func usageOf(sp span, r *record) Usage {
	capacity := new(big.Int).Lsh(big.NewInt(1), uint(sp.w-sp.bits))
	used := r.usedIPs.big()
	u := Usage{
		Prefix:       sp.p,
		Capacity:     capacity,
		UsedIPs:      used,
		FreeIPs:      new(big.Int).Sub(capacity, used),
		AllocatedIPs: new(big.Int).Sub(used, sp.reserved().big()),
		UsedChildren: r.usedChildren.big(),
		free:         r.free,
	}
	u.SmallestChildBits = 30
	if !sp.v4 {
		u.SmallestChildBits = 126
	}
	u.FreeSmallestChildren = u.FreeBlocks(u.SmallestChildBits)
	return u
}

// GetUsage returns the usage of the registered prefix p. Cost: one Get.
func GetUsage(tx backends.Tx, p netip.Prefix) (Usage, error) {
	sp, r, err := loadRecord(tx, p, nil)
	if err != nil {
		return Usage{}, err
	}
	return usageOf(sp, &r), nil
}

// Usages returns the usage of each prefix of ps, in order. It reads the
// records of all of them together (one round trip on a networked store,
// instead of one per prefix) and fails like GetUsage for the first prefix
// that is invalid or not registered. Cost: one Get per prefix.
func Usages(tx backends.Tx, ps []netip.Prefix) ([]Usage, error) {
	reads := make([]backends.Read, 0, len(ps))
	for _, p := range ps {
		if checkPrefix(p) == nil {
			reads = append(reads, backends.ReadKey(bucketPrefixes, prefixKey(p)))
		}
	}
	if err := backends.Prefetch(tx, reads...); err != nil {
		return nil, err
	}
	out := make([]Usage, len(ps))
	for i, p := range ps {
		u, err := GetUsage(tx, p)
		if err != nil {
			return nil, err
		}
		out[i] = u
	}
	return out, nil
}

// FreeBlocks returns, exactly, how many blocks of length bits are free for
// children in prefix p (see Usage.FreeBlocks). It fails with
// ErrInvalidArgument for bits outside 0..32 (IPv4) or 0..128 (IPv6). Cost:
// one Get.
func FreeBlocks(tx backends.Tx, p netip.Prefix, bits int) (*big.Int, error) {
	sp, r, err := loadRecord(tx, p, nil)
	if err != nil {
		return nil, err
	}
	if bits < 0 || bits > sp.w {
		return nil, errdefs.Errorf(ErrInvalidArgument, "ipam: prefix %s: block length /%d out of range 0..%d", p, bits, sp.w)
	}
	return usageOf(sp, &r).FreeBlocks(bits), nil
}

// ConsumptionCap is the largest figure metal-api's consumption reports:
// 2^31 - 1. Every value at or above it reports the cap.
const ConsumptionCap = 1<<31 - 1

// Capped applies metal-api's capping rule to an exact count: the count
// itself below ConsumptionCap, the cap at or above it, so that no figure
// overflows, wraps or reports 2^31. Sum the exact figures first, then cap.
func Capped(n *big.Int) uint64 {
	if n.Cmp(big.NewInt(ConsumptionCap)) >= 0 {
		return ConsumptionCap
	}
	return n.Uint64()
}
