package ipam

import (
	"context"
	"fmt"
	"math/big"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/memstore"
)

var ctx = context.Background()

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func newMem(tb testing.TB) backends.Store {
	s := memstore.New()
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func update(tb testing.TB, s backends.Store, fn func(tx backends.Tx) error) {
	tb.Helper()
	require.NoError(tb, s.Update(ctx, fn))
}

// checkInvariants recounts the free space of every registered prefix from
// its buckets and compares it with the stored counters: free ranges are
// sorted, disjoint, merged and inside the usable addresses; free blocks are
// aligned, maximal and the same in both indexes; free blocks and children
// tile the prefix; used + free = capacity.
func checkInvariants(tx backends.Tx) error {
	ps, err := Prefixes(tx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := checkPrefixInvariants(tx, p); err != nil {
			return fmt.Errorf("prefix %s: %w", p, err)
		}
	}
	return nil
}

func checkPrefixInvariants(tx backends.Tx, p netip.Prefix) error {
	sp, r, err := loadRecord(tx, p, nil)
	if err != nil {
		return err
	}
	// Address ranges.
	freeIPs := u128{}
	var last u128
	first := true
	lo, hi, usable := sp.usable()
	err = tx.Ascend(ipBucket(p), nil, func(k, v []byte) (bool, error) {
		s, e, err := decodeRange(k, v)
		if err != nil {
			return false, err
		}
		if !usable || s.cmp(lo) < 0 || e.cmp(hi) > 0 || e.cmp(s) < 0 {
			return false, fmt.Errorf("range %s-%s outside usable addresses", sp.addr(s), sp.addr(e))
		}
		if !first && last.inc().cmp(s) >= 0 {
			return false, fmt.Errorf("range at %s overlaps or touches the previous one", sp.addr(s))
		}
		first, last = false, e
		freeIPs = freeIPs.add(e.sub(s).inc())
		return true, nil
	})
	if err != nil {
		return err
	}
	capacity := new(big.Int).Lsh(big.NewInt(1), uint(sp.w-sp.bits))
	sum := new(big.Int).Add(freeIPs.big(), r.usedIPs.big())
	if sum.Cmp(capacity) != 0 {
		return fmt.Errorf("free %s + used %s != capacity %s", freeIPs, r.usedIPs, capacity)
	}
	// Blocks.
	var counts [129]uint64
	blocks := map[u128]int{}
	covered := new(big.Int)
	err = tx.Ascend(sizeBucket(p), nil, func(k, _ []byte) (bool, error) {
		bits, start, err := decodeSizeKey(k)
		if err != nil {
			return false, err
		}
		if bits < sp.bits || bits > sp.w || !start.and(lowMask(sp.w-bits)).isZero() || !sp.p.Contains(sp.addr(start)) {
			return false, fmt.Errorf("bad free block %s", sp.prefixAt(start, bits))
		}
		counts[bits]++
		blocks[start] = bits
		covered.Add(covered, new(big.Int).Lsh(big.NewInt(1), uint(sp.w-bits)))
		return true, nil
	})
	if err != nil {
		return err
	}
	if counts != r.free {
		return fmt.Errorf("free block counters %v differ from recount %v", nonzero(r.free), nonzero(counts))
	}
	nAddr := 0
	err = tx.Ascend(addrBucket(p), nil, func(k, v []byte) (bool, error) {
		nAddr++
		if b, ok := blocks[getU128(k)]; !ok || len(v) != 1 || int(v[0]) != b {
			return false, fmt.Errorf("address index entry %x does not match the size index", k)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if nAddr != len(blocks) {
		return fmt.Errorf("address index has %d blocks, size index %d", nAddr, len(blocks))
	}
	for start, bits := range blocks {
		if bits > sp.bits {
			if bb, ok := blocks[start.xor(bit(sp.w-bits))]; ok && bb == bits {
				return fmt.Errorf("free block %s and its buddy are both free", sp.prefixAt(start, bits))
			}
		}
	}
	children, err := Children(tx, p)
	if err != nil {
		return err
	}
	if u64(uint64(len(children))) != r.usedChildren {
		return fmt.Errorf("%d children, counter says %s", len(children), r.usedChildren)
	}
	for i, c := range children {
		covered.Add(covered, new(big.Int).Lsh(big.NewInt(1), uint(sp.w-c.Bits())))
		if i > 0 && children[i-1].Overlaps(c) {
			return fmt.Errorf("children %s and %s overlap", children[i-1], c)
		}
		if cs, cb, ok, err := sp.blocks(tx).containing(addrToU(c.Addr())); err != nil || ok {
			return fmt.Errorf("child %s lies in free block %s (%v)", c, sp.prefixAt(cs, cb), err)
		}
		_, cr, err := loadRecord(tx, c, nil)
		if err != nil || cr.parent != p {
			return fmt.Errorf("child %s is not registered with parent %s (%v)", c, p, err)
		}
	}
	if covered.Cmp(capacity) != 0 {
		return fmt.Errorf("free blocks and children cover %s addresses of %s", covered, capacity)
	}
	return nil
}

func nonzero(a [129]uint64) map[int]uint64 {
	m := map[int]uint64{}
	for i, v := range a {
		if v != 0 {
			m[i] = v
		}
	}
	return m
}

// Consumption holds metal-api's four capped figures of a prefix, as package
// network reports them; the tests compare placements through it.
type Consumption struct {
	AvailableIPs, UsedIPs, AvailablePrefixes, UsedPrefixes uint64
}

// Compatible returns the capped figures of u alone.
func (u Usage) Compatible() Consumption { return SumCompatible(u) }

// SumCompatible sums the exact figures of us and caps each sum.
func SumCompatible(us ...Usage) Consumption {
	var capacity, used, avail, children big.Int
	for _, u := range us {
		capacity.Add(&capacity, u.Capacity)
		used.Add(&used, u.UsedIPs)
		avail.Add(&avail, u.FreeSmallestChildren)
		children.Add(&children, u.UsedChildren)
	}
	return Consumption{Capped(&capacity), Capped(&used), Capped(&avail), Capped(&children)}
}
