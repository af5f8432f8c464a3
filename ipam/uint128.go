package ipam

import (
	"encoding/binary"
	"math/big"
	"math/bits"
	"net/netip"
)

// u128 is an unsigned 128-bit integer: addresses of either family and exact
// counters. IPv4 addresses occupy the low 32 bits.
type u128 struct{ hi, lo uint64 }

var u128Max = u128{^uint64(0), ^uint64(0)}

func u64(n uint64) u128 { return u128{lo: n} }

func (a u128) add(b u128) u128 {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	hi, _ := bits.Add64(a.hi, b.hi, c)
	return u128{hi, lo}
}

func (a u128) sub(b u128) u128 {
	lo, c := bits.Sub64(a.lo, b.lo, 0)
	hi, _ := bits.Sub64(a.hi, b.hi, c)
	return u128{hi, lo}
}

func (a u128) inc() u128 { return a.add(u64(1)) }
func (a u128) dec() u128 { return a.sub(u64(1)) }

func (a u128) cmp(b u128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func (a u128) isZero() bool       { return a.hi == 0 && a.lo == 0 }
func (a u128) and(b u128) u128    { return u128{a.hi & b.hi, a.lo & b.lo} }
func (a u128) or(b u128) u128     { return u128{a.hi | b.hi, a.lo | b.lo} }
func (a u128) xor(b u128) u128    { return u128{a.hi ^ b.hi, a.lo ^ b.lo} }
func (a u128) andNot(b u128) u128 { return u128{a.hi &^ b.hi, a.lo &^ b.lo} }

// bit returns 1<<n for n < 128.
func bit(n int) u128 {
	if n >= 64 {
		return u128{hi: 1 << (n - 64)}
	}
	return u128{lo: 1 << n}
}

// lowMask returns (1<<n)-1 for 0 <= n <= 128.
func lowMask(n int) u128 {
	switch {
	case n >= 128:
		return u128Max
	case n >= 64:
		return u128{hi: 1<<(n-64) - 1, lo: ^uint64(0)}
	default:
		return u128{lo: 1<<n - 1}
	}
}

func (a u128) big() *big.Int {
	var b [16]byte
	a.put(b[:])
	return new(big.Int).SetBytes(b[:])
}

// put writes a as 16 big-endian bytes into b.
func (a u128) put(b []byte) {
	binary.BigEndian.PutUint64(b[:8], a.hi)
	binary.BigEndian.PutUint64(b[8:16], a.lo)
}

func (a u128) String() string { return a.big().String() }

// getU128 reads 16 big-endian bytes.
func getU128(b []byte) u128 {
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:16])}
}

func addrToU(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u64(uint64(binary.BigEndian.Uint32(b[:])))
	}
	b := a.As16()
	return getU128(b[:])
}

func uToAddr(u u128, v4 bool) netip.Addr {
	if v4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	u.put(b[:])
	return netip.AddrFrom16(b)
}
