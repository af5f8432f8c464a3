package ipam

import (
	"net/netip"

	"github.com/metalkit/metalkit/errdefs"
)

// Every bucket name and key encoding of the package lives in this file.
// Numbers are big-endian and fixed-width, so byte order is numeric order.
// Addresses are 16 bytes for both families (IPv4 in the low 4 bytes).
//
// Buckets:
//
//	ipam/prefix              prefixKey -> record (counters, parent)
//	ipam/root                family(1) start(16) -> end(16) bits(1); top-level prefixes only
//	ipam/ip/<prefix>         free address ranges: start(16) -> end(16)
//	ipam/bs/<prefix>         free child blocks by size: 128-bits(1) start(16) -> marker
//	ipam/ba/<prefix>         free child blocks by address: start(16) -> bits(1)
//	ipam/ch/<prefix>         taken child blocks: start(16) bits(1) -> marker
//	ipam/pool                pool name -> pool record
//	ipam/int/<pool name>     free integer ranges: start(16) -> end(16)
//
// Per-prefix and per-pool buckets keep unrelated prefixes apart: an
// optimistic adapter may treat a scanned bucket as read as a whole.
const (
	bucketPrefixes = "ipam/prefix"
	bucketRoots    = "ipam/root"
	bucketPools    = "ipam/pool"
)

var marker = []byte{1}

func ipBucket(p netip.Prefix) string    { return "ipam/ip/" + p.String() }
func sizeBucket(p netip.Prefix) string  { return "ipam/bs/" + p.String() }
func addrBucket(p netip.Prefix) string  { return "ipam/ba/" + p.String() }
func childBucket(p netip.Prefix) string { return "ipam/ch/" + p.String() }
func poolBucket(name string) string     { return "ipam/int/" + name }

// AddressBucket is the name of the bucket of prefix p's free address
// ranges, for the keys of another package's consistency-check findings
// (check.Key) about an address of p.
func AddressBucket(p netip.Prefix) string { return ipBucket(p) }

// PoolBucket is the name of the bucket of pool name's free value ranges,
// for the keys of another package's consistency-check findings (check.Key)
// about a value of the pool.
func PoolBucket(name string) string { return poolBucket(name) }

func family(p netip.Prefix) byte {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

// prefixKey is family(1) address(16) bits(1).
func prefixKey(p netip.Prefix) []byte {
	k := make([]byte, 18)
	k[0] = family(p)
	addrToU(p.Addr()).put(k[1:17])
	k[17] = byte(p.Bits())
	return k
}

func decodePrefixKey(k []byte) (netip.Prefix, error) {
	if len(k) != 18 || (k[0] != 4 && k[0] != 6) {
		return netip.Prefix{}, errdefs.Errorf(ErrCorrupt, "ipam: corrupt prefix key %x", k)
	}
	v4 := k[0] == 4
	p, err := uToAddr(getU128(k[1:17]), v4).Prefix(int(k[17]))
	if err != nil || int(k[17]) > width(v4) {
		return netip.Prefix{}, errdefs.Errorf(ErrCorrupt, "ipam: corrupt prefix key %x", k)
	}
	return p, nil
}

// rootKey is family(1) start(16); rootValue is end(16) bits(1).
func rootKey(fam byte, start u128) []byte {
	k := make([]byte, 17)
	k[0] = fam
	start.put(k[1:])
	return k
}

func rootValue(end u128, bits int) []byte {
	v := make([]byte, 17)
	end.put(v)
	v[16] = byte(bits)
	return v
}

// numKey is a 16-byte big-endian number: an address or an integer.
func numKey(n u128) []byte {
	k := make([]byte, 16)
	n.put(k)
	return k
}

// sizeKey orders free blocks by length, longest (smallest block) first, then
// by address: an Ascend from sizeKey(bits, 0) finds the smallest free block
// that can hold a /bits, at the lowest address.
func sizeKey(bits int, start u128) []byte {
	k := make([]byte, 17)
	k[0] = byte(128 - bits)
	start.put(k[1:])
	return k
}

func decodeSizeKey(k []byte) (bits int, start u128, err error) {
	if len(k) != 17 || k[0] > 128 {
		return 0, u128{}, errdefs.Errorf(ErrCorrupt, "ipam: corrupt block key %x", k)
	}
	return 128 - int(k[0]), getU128(k[1:]), nil
}

// childKey is start(16) bits(1).
func childKey(start u128, bits int) []byte {
	k := make([]byte, 17)
	start.put(k)
	k[16] = byte(bits)
	return k
}

func width(v4 bool) int {
	if v4 {
		return 32
	}
	return 128
}
