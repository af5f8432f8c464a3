package ipam

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// Prefix is a registered prefix as GetPrefix reports it.
type Prefix struct {
	// CIDR is the prefix itself.
	CIDR netip.Prefix `json:"cidr"`
	// Parent is the prefix this one was taken from as a child; the zero
	// Prefix (not IsValid) for a top-level prefix.
	Parent netip.Prefix `json:"parent"`
	// Usage is the prefix's usage at the time of the read.
	Usage Usage `json:"-"`
}

// span is a validated prefix with its numeric bounds.
type span struct {
	p          netip.Prefix
	v4         bool
	w, bits    int
	start, end u128
}

func newSpan(p netip.Prefix) span {
	v4 := p.Addr().Is4()
	w := width(v4)
	start := addrToU(p.Addr())
	return span{p: p, v4: v4, w: w, bits: p.Bits(), start: start, end: start.or(lowMask(w - p.Bits()))}
}

// reserved is the number of reserved addresses: the first, and for IPv4
// also the last (a /32 has a single address).
func (s span) reserved() u128 {
	if s.v4 && s.bits < 32 {
		return u64(2)
	}
	return u64(1)
}

func (s span) isReserved(u u128) bool {
	return u == s.start || (s.v4 && u == s.end)
}

// usable returns the range of addresses that are not reserved.
func (s span) usable() (lo, hi u128, ok bool) {
	lo, hi = s.start.inc(), s.end
	if s.v4 {
		if s.bits >= 31 {
			return lo, hi, false
		}
		hi = hi.dec()
	} else if s.bits == 128 {
		return lo, hi, false
	}
	return lo, hi, true
}

func (s span) addr(u u128) netip.Addr { return uToAddr(u, s.v4) }

func (s span) prefixAt(start u128, bits int) netip.Prefix {
	return netip.PrefixFrom(s.addr(start), bits)
}

func (s span) ips(tx backends.Tx) rangeSet { return rangeSet{tx: tx, bucket: ipBucket(s.p)} }

func (s span) blocks(tx backends.Tx) blockSet {
	return blockSet{tx: tx, bySize: sizeBucket(s.p), byAddr: addrBucket(s.p), w: s.w}
}

// record is the stored state of a prefix besides its free-space buckets.
type record struct {
	parent       netip.Prefix
	usedIPs      u128
	usedChildren u128
	// free counts the free child blocks of each length (buddy free lists).
	free [129]uint64
}

const recordVersion = 1

func (r *record) encode() []byte {
	b := make([]byte, 0, 64)
	b = append(b, recordVersion)
	if r.parent.IsValid() {
		b = append(b, 1)
		b = append(b, prefixKey(r.parent)...)
	} else {
		b = append(b, 0)
	}
	var n [16]byte
	r.usedIPs.put(n[:])
	b = append(b, n[:]...)
	r.usedChildren.put(n[:])
	b = append(b, n[:]...)
	for bits, c := range r.free {
		if c != 0 {
			b = append(b, byte(bits))
			b = binary.AppendUvarint(b, c)
		}
	}
	return b
}

func decodeRecord(b []byte) (record, error) {
	var r record
	bad := func() (record, error) {
		return record{}, errdefs.Errorf(ErrCorrupt, "ipam: corrupt prefix record %x", b)
	}
	if len(b) < 2 || b[0] != recordVersion {
		return bad()
	}
	hasParent := b[1] == 1
	b = b[2:]
	if hasParent {
		if len(b) < 18 {
			return bad()
		}
		p, err := decodePrefixKey(b[:18])
		if err != nil {
			return record{}, err
		}
		r.parent = p
		b = b[18:]
	}
	if len(b) < 32 {
		return bad()
	}
	r.usedIPs = getU128(b[:16])
	r.usedChildren = getU128(b[16:32])
	b = b[32:]
	for len(b) > 0 {
		bits := int(b[0])
		c, n := binary.Uvarint(b[1:])
		if bits > 128 || n <= 0 {
			return bad()
		}
		r.free[bits] = c
		b = b[1+n:]
	}
	return r, nil
}

// announce passes the reads also returns, and the Get of key in bucket, to
// backends.Prefetch. It builds them only for a Tx that fetches ahead, so
// that a local store pays nothing for them.
func announce(tx backends.Tx, also func() []backends.Read, bucket string, key func() []byte) error {
	if _, ok := tx.(backends.Prefetcher); !ok || also == nil {
		return nil
	}
	return backends.Prefetch(tx, append(also(), backends.ReadKey(bucket, key()))...)
}

// checkPrefix rejects invalid, non-canonical, zoned and IPv4-mapped
// prefixes.
func checkPrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return errdefs.Errorf(ErrInvalidArgument, "ipam: prefix %q is not valid", p.String())
	case p.Addr().Zone() != "":
		return errdefs.Errorf(ErrInvalidArgument, "ipam: prefix %s has a zone", p)
	case p.Addr().Is4In6():
		return errdefs.Errorf(ErrInvalidArgument, "ipam: prefix %s is IPv4-mapped IPv6", p)
	case p.Masked() != p:
		return errdefs.Errorf(ErrInvalidArgument, "ipam: prefix %s has host bits set, the canonical form is %s", p, p.Masked())
	}
	return nil
}

// checkAddr rejects addresses that are invalid, zoned, of the other family
// or outside sp.
func checkAddr(sp span, a netip.Addr) error {
	switch {
	case !a.IsValid():
		return errdefs.Errorf(ErrInvalidArgument, "ipam: address %q is not valid", a.String())
	case a.Zone() != "":
		return errdefs.Errorf(ErrInvalidArgument, "ipam: address %s has a zone", a)
	case !sp.p.Contains(a):
		return errdefs.Errorf(ErrInvalidArgument, "ipam: address %s is not in prefix %s", a, sp.p)
	}
	return nil
}

// loadRecord reads the record of prefix p. An operation that goes on to
// seek in p's buckets returns those seeks from also (nil: none): they are
// announced with the record's Get, so that a networked store fetches them in
// the same round trip (see announce).
func loadRecord(tx backends.Tx, p netip.Prefix, also func() []backends.Read) (span, record, error) {
	if err := checkPrefix(p); err != nil {
		return span{}, record{}, err
	}
	if err := announce(tx, also, bucketPrefixes, func() []byte { return prefixKey(p) }); err != nil {
		return span{}, record{}, err
	}
	v, err := tx.Get(bucketPrefixes, prefixKey(p))
	if errors.Is(err, backends.ErrNotFound) {
		return span{}, record{}, errdefs.Errorf(ErrNotFound, "ipam: prefix %s", p)
	}
	if err != nil {
		return span{}, record{}, err
	}
	r, err := decodeRecord(v)
	return newSpan(p), r, err
}

func saveRecord(tx backends.Tx, sp span, r *record) error {
	return tx.Put(bucketPrefixes, prefixKey(sp.p), r.encode())
}

// initState writes the free space of a new prefix: every usable address
// free and the whole prefix one free child block. It inserts the record
// with backends.Insert, never replacing one: a record under sp's key fails
// with an error wrapping backends.ErrKeyExists, at once or at the commit.
func initState(tx backends.Tx, sp span, parent netip.Prefix) error {
	if lo, hi, ok := sp.usable(); ok {
		if err := sp.ips(tx).put(lo, hi); err != nil {
			return err
		}
	}
	r := record{parent: parent, usedIPs: sp.reserved()}
	if err := sp.blocks(tx).add(&r, sp.start, sp.bits); err != nil {
		return err
	}
	return backends.Insert(tx, bucketPrefixes, prefixKey(sp.p), r.encode())
}

// isEmpty reports whether the prefix holds no IP but its reserved ones and
// no child.
func (r *record) isEmpty(sp span) bool {
	return r.usedIPs == sp.reserved() && r.usedChildren.isZero()
}

func inUse(sp span, r *record) error {
	return errdefs.Errorf(ErrInUse, "ipam: prefix %s holds %s IPs besides the reserved ones and %s children",
		sp.p, r.usedIPs.sub(sp.reserved()), r.usedChildren)
}

// clearState removes an empty prefix's free space and record. In an empty
// prefix the free space is back in its initial shape: one address range and
// one block.
func clearState(tx backends.Tx, sp span) error {
	if lo, _, ok := sp.usable(); ok {
		if err := tx.Delete(ipBucket(sp.p), numKey(lo)); err != nil {
			return err
		}
	}
	if err := tx.Delete(sizeBucket(sp.p), sizeKey(sp.bits, sp.start)); err != nil {
		return err
	}
	if err := tx.Delete(addrBucket(sp.p), numKey(sp.start)); err != nil {
		return err
	}
	return tx.Delete(bucketPrefixes, prefixKey(sp.p))
}

// CreatePrefix registers p as a top-level prefix and marks its reserved
// addresses used. It fails with ErrInvalidArgument for an invalid or
// non-canonical prefix, with ErrAlreadyExists (and ErrPrefixOverlap) if p is
// registered, and with ErrPrefixOverlap if p overlaps a registered
// top-level prefix (and so any prefix). Cost: two seeks and a constant
// number of writes.
func CreatePrefix(tx backends.Tx, p netip.Prefix) error {
	if err := checkPrefix(p); err != nil {
		return err
	}
	_, err := tx.Get(bucketPrefixes, prefixKey(p))
	if err == nil {
		return errdefs.With(errdefs.Errorf(ErrAlreadyExists, "ipam: prefix %s is already registered", p), ErrPrefixOverlap)
	}
	if !errors.Is(err, backends.ErrNotFound) {
		return err
	}
	sp := newSpan(p)
	fam := family(p)
	var other netip.Prefix
	check := func(k, v []byte) (bool, error) {
		if len(k) != 17 || len(v) != 17 {
			return false, errdefs.Errorf(ErrCorrupt, "ipam: corrupt root index entry %x", k)
		}
		if k[0] != fam {
			return false, nil
		}
		s, e := getU128(k[1:]), getU128(v[:16])
		if s.cmp(sp.end) <= 0 && e.cmp(sp.start) >= 0 {
			other = sp.prefixAt(s, int(v[16]))
		}
		return false, nil
	}
	if err := tx.Descend(bucketRoots, rootKey(fam, sp.start), check); err != nil {
		return err
	}
	if !other.IsValid() {
		if err := tx.Ascend(bucketRoots, rootKey(fam, sp.start), check); err != nil {
			return err
		}
	}
	if other.IsValid() {
		return errdefs.Errorf(ErrPrefixOverlap, "ipam: prefix %s overlaps registered prefix %s", p, other)
	}
	if err := tx.Put(bucketRoots, rootKey(fam, sp.start), rootValue(sp.end, sp.bits)); err != nil {
		return err
	}
	return initState(tx, sp, netip.Prefix{})
}

// GetPrefix returns the registered prefix p with its usage, or an error
// wrapping ErrNotFound. Cost: one Get.
func GetPrefix(tx backends.Tx, p netip.Prefix) (Prefix, error) {
	sp, r, err := loadRecord(tx, p, nil)
	if err != nil {
		return Prefix{}, err
	}
	return Prefix{CIDR: p, Parent: r.parent, Usage: usageOf(sp, &r)}, nil
}

// DeletePrefix removes a prefix that holds nothing: no IP besides its
// reserved ones and no child (else ErrInUse). Deleting a child prefix
// releases its block in the parent, exactly as ReleaseChild does. Cost: a
// constant number of store operations (plus the merge of ReleaseChild).
func DeletePrefix(tx backends.Tx, p netip.Prefix) error {
	sp, r, err := loadRecord(tx, p, nil)
	if err != nil {
		return err
	}
	if r.parent.IsValid() {
		return ReleaseChild(tx, r.parent, p)
	}
	if !r.isEmpty(sp) {
		return inUse(sp, &r)
	}
	if err := clearState(tx, sp); err != nil {
		return err
	}
	return tx.Delete(bucketRoots, rootKey(family(p), sp.start))
}

// Prefixes lists every registered prefix, top-level and child, ordered by
// family, address and length. It scans the prefix index: O(n).
func Prefixes(tx backends.Tx) ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := tx.Ascend(bucketPrefixes, nil, func(k, _ []byte) (bool, error) {
		p, err := decodePrefixKey(k)
		out = append(out, p)
		return err == nil, err
	})
	return out, err
}

// Children lists the child prefixes taken from p, ordered by address. It
// scans p's children: O(children).
func Children(tx backends.Tx, p netip.Prefix) ([]netip.Prefix, error) {
	sp, _, err := loadRecord(tx, p, nil)
	if err != nil {
		return nil, err
	}
	return children(tx, sp)
}

// children lists the child prefixes taken from sp, ordered by address.
func children(tx backends.Tx, sp span) ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := tx.Ascend(childBucket(sp.p), nil, func(k, _ []byte) (bool, error) {
		if len(k) != 17 {
			return false, errdefs.Errorf(ErrCorrupt, "ipam: corrupt child key %x", k)
		}
		out = append(out, sp.prefixAt(getU128(k[:16]), int(k[16])))
		return true, nil
	})
	return out, err
}
