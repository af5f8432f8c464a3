package ipam

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
)

// refModel is an obviously correct allocator for a prefix of 256 addresses
// (an IPv4 /24 or an IPv6 /120): a bitmap of taken addresses and a list of
// taken children, with placement by brute force over every aligned block.
type refModel struct {
	p        netip.Prefix
	v4       bool
	ip       [256]bool
	children map[int]int // offset -> length
}

const refHostBits = 8

func newRefModel(p netip.Prefix) *refModel {
	m := &refModel{p: p, v4: p.Addr().Is4(), children: map[int]int{}}
	m.ip[0] = true
	if m.v4 {
		m.ip[255] = true
	}
	return m
}

func (m *refModel) w() int { return m.p.Bits() + refHostBits }

func (m *refModel) addr(off int) netip.Addr {
	a := m.p.Addr()
	for range off {
		a = a.Next()
	}
	return a
}

func (m *refModel) prefix(off, bits int) netip.Prefix { return netip.PrefixFrom(m.addr(off), bits) }

func (m *refModel) size(bits int) int { return 1 << (m.w() - bits) }

func (m *refModel) reserved(off int) bool { return off == 0 || (m.v4 && off == 255) }

func (m *refModel) holdsIPs() bool {
	for off, used := range m.ip {
		if used && !m.reserved(off) {
			return true
		}
	}
	return false
}

// blockFree reports whether no child overlaps the block.
func (m *refModel) blockFree(off, bits int) bool {
	for c, cb := range m.children {
		if c < off+m.size(bits) && off < c+m.size(cb) {
			return false
		}
	}
	return true
}

func (m *refModel) acquireIP() (netip.Addr, error) {
	if len(m.children) > 0 {
		return netip.Addr{}, ErrInUse
	}
	for off, used := range m.ip {
		if !used {
			m.ip[off] = true
			return m.addr(off), nil
		}
	}
	return netip.Addr{}, ErrExhausted
}

func (m *refModel) acquireSpecificIP(off int) error {
	switch {
	case m.reserved(off):
		return ErrReserved
	case len(m.children) > 0:
		return ErrInUse
	case m.ip[off]:
		return ErrAlreadyAllocated
	}
	m.ip[off] = true
	return nil
}

func (m *refModel) releaseIP(off int) error {
	switch {
	case m.reserved(off):
		return ErrReserved
	case !m.ip[off]:
		return ErrNotFound
	}
	m.ip[off] = false
	return nil
}

// acquireChild: among the maximal free aligned blocks that can hold a
// /bits, the smallest, then the lowest; the child is its first sub-block.
func (m *refModel) acquireChild(bits int) (netip.Prefix, error) {
	if bits <= m.p.Bits() || bits > m.w() {
		return netip.Prefix{}, ErrInvalidArgument
	}
	if m.holdsIPs() {
		return netip.Prefix{}, ErrInUse
	}
	for l := bits; l >= m.p.Bits(); l-- {
		for off := 0; off < 256; off += m.size(l) {
			maximal := l == m.p.Bits() || !m.blockFree(off&^(m.size(l-1)-1), l-1)
			if m.blockFree(off, l) && maximal {
				m.children[off] = bits
				return m.prefix(off, bits), nil
			}
		}
	}
	return netip.Prefix{}, ErrExhausted
}

func (m *refModel) acquireSpecificChild(off, bits int) error {
	if m.holdsIPs() {
		return ErrInUse
	}
	if !m.blockFree(off, bits) {
		return ErrAlreadyAllocated
	}
	m.children[off] = bits
	return nil
}

func (m *refModel) releaseChild(off, bits int) error {
	if cb, ok := m.children[off]; !ok || cb != bits {
		return ErrNotFound
	}
	delete(m.children, off)
	return nil
}

func (m *refModel) freeBlocks(bits int) int {
	n := 0
	for off := 0; off < 256; off += m.size(bits) {
		if m.blockFree(off, bits) {
			n++
		}
	}
	return n
}

func (m *refModel) usedIPs() int {
	n := 0
	for _, used := range m.ip {
		if used {
			n++
		}
	}
	return n
}

var sentinels = []error{ErrInUse, ErrExhausted, ErrReserved, ErrAlreadyAllocated, ErrNotFound, ErrInvalidArgument}

// kind is the first sentinel err wraps, for comparing outcomes.
func kind(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

// TestDifferentialAgainstReference drives the engine and the reference
// model with the same random operations on an IPv4 /24 and an IPv6 /120 and
// requires the same results, errors, counters and free-block counts.
func TestDifferentialAgainstReference(t *testing.T) {
	for _, ps := range []string{"10.1.2.0/24", "2001:db8::/120"} {
		for seed := uint64(1); seed <= 12; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", ps, seed), func(t *testing.T) {
				runDifferential(t, pfx(ps), seed, 600)
			})
		}
	}
}

func runDifferential(t *testing.T, p netip.Prefix, seed uint64, steps int) {
	st := newMem(t)
	update(t, st, func(tx backends.Tx) error { return CreatePrefix(tx, p) })
	m := newRefModel(p)
	r := rand.New(rand.NewPCG(seed, 99))
	// childMode phases favour children, the others IPs; phases switch so
	// both the exclusion rule and a drained prefix are exercised.
	childMode := seed%2 == 0
	for i := range steps {
		if i%150 == 149 {
			childMode = !childMode
		}
		op := r.IntN(4)
		if childMode {
			op += 4
		}
		var desc string
		var got, want error
		var gotP, wantP netip.Prefix
		var gotA, wantA netip.Addr
		err := st.Update(ctx, func(tx backends.Tx) error {
			switch op {
			case 0, 1:
				desc = "AcquireIP"
				wantA, want = m.acquireIP()
				gotA, got = AcquireIP(tx, p)
			case 2:
				off := r.IntN(256)
				desc = fmt.Sprintf("AcquireSpecificIP +%d", off)
				want = m.acquireSpecificIP(off)
				got = AcquireSpecificIP(tx, p, m.addr(off))
			case 3:
				off := r.IntN(256)
				if r.IntN(2) == 0 { // prefer a taken address
					for j := range 256 {
						if o := (off + j) % 256; m.ip[o] && !m.reserved(o) {
							off = o
							break
						}
					}
				}
				desc = fmt.Sprintf("ReleaseIP +%d", off)
				want = m.releaseIP(off)
				got = ReleaseIP(tx, p, m.addr(off))
			case 4, 5:
				bits := p.Bits() + 1 + r.IntN(refHostBits)
				desc = fmt.Sprintf("AcquireChild /%d", bits)
				wantP, want = m.acquireChild(bits)
				gotP, got = AcquireChild(tx, p, bits)
			case 6:
				bits := p.Bits() + 1 + r.IntN(refHostBits)
				off := r.IntN(256) &^ (m.size(bits) - 1)
				desc = fmt.Sprintf("AcquireSpecificChild %s", m.prefix(off, bits))
				want = m.acquireSpecificChild(off, bits)
				got = AcquireSpecificChild(tx, p, m.prefix(off, bits))
			case 7:
				off, bits := 0, p.Bits()+1
				for c, cb := range m.children {
					off, bits = c, cb
					break
				}
				if r.IntN(4) == 0 {
					bits = p.Bits() + 1 + r.IntN(refHostBits)
					off = r.IntN(256) &^ (m.size(bits) - 1)
				}
				desc = fmt.Sprintf("ReleaseChild %s", m.prefix(off, bits))
				want = m.releaseChild(off, bits)
				got = ReleaseChild(tx, p, m.prefix(off, bits))
			}
			return got
		})
		require.Equal(t, want, kind(err), "step %d: %s: %v", i, desc, err)
		require.Equal(t, wantP, gotP, "step %d: %s", i, desc)
		require.Equal(t, wantA, gotA, "step %d: %s", i, desc)
		if i%25 == 0 || i == steps-1 {
			require.NoError(t, st.View(ctx, func(tx backends.Tx) error {
				u, err := GetUsage(tx, p)
				if err != nil {
					return err
				}
				require.Equal(t, fmt.Sprint(m.usedIPs()), u.UsedIPs.String(), "step %d", i)
				require.Equal(t, fmt.Sprint(len(m.children)), u.UsedChildren.String(), "step %d", i)
				for b := p.Bits(); b <= m.w(); b++ {
					require.Equal(t, fmt.Sprint(m.freeBlocks(b)), u.FreeBlocks(b).String(), "step %d: free /%d", i, b)
				}
				return checkInvariants(tx)
			}))
		}
	}
}
