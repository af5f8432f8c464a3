package ipam

import (
	"errors"
	"net/netip"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// AcquireChild takes a child prefix of length bits from parent and
// registers it, so it can hand out IPs and children of its own. Placement
// is best fit: the smallest free aligned block that can hold the request,
// the lowest on ties, and the child is its first sub-block. It fails with
// ErrInvalidArgument unless parent.Bits() < bits <= 32 (IPv4) or 128
// (IPv6), with ErrInUse if parent holds IPs besides its reserved ones, and
// with ErrExhausted (naming the largest free block) if no block fits.
// Cost: one seek, plus one write per prefix length split (at most the
// difference of the two lengths), independent of the number of children.
func AcquireChild(tx backends.Tx, parent netip.Prefix, bits int) (netip.Prefix, error) {
	sp, r, err := loadRecord(tx, parent, func() []backends.Read {
		return []backends.Read{backends.ReadAscend(sizeBucket(parent), sizeKey(bits, u128{}), 1)}
	})
	if err != nil {
		return netip.Prefix{}, err
	}
	if bits <= sp.bits || bits > sp.w {
		return netip.Prefix{}, errdefs.Errorf(ErrInvalidArgument, "ipam: prefix %s: child length /%d must be longer than /%d and at most /%d",
			parent, bits, sp.bits, sp.w)
	}
	if r.usedIPs != sp.reserved() {
		return netip.Prefix{}, errdefs.Errorf(ErrInUse, "ipam: prefix %s holds IPs and so gives no child prefixes", parent)
	}
	bs := sp.blocks(tx)
	start, bbits, ok, err := bs.bestFit(bits)
	if err != nil {
		return netip.Prefix{}, err
	}
	if !ok {
		return netip.Prefix{}, exhaustedBlock(sp, bs, bits)
	}
	if err := bs.split(&r, start, bbits, start, bits); err != nil {
		return netip.Prefix{}, err
	}
	child := sp.prefixAt(start, bits)
	if err := registerChild(tx, sp, &r, child); err != nil {
		return netip.Prefix{}, err
	}
	return child, nil
}

func exhaustedBlock(sp span, bs blockSet, bits int) error {
	start, lbits, ok, err := bs.largest()
	if err != nil {
		return err
	}
	if !ok {
		return errdefs.Errorf(ErrExhausted, "ipam: prefix %s: no free /%d (no free block left)", sp.p, bits)
	}
	return errdefs.Errorf(ErrExhausted, "ipam: prefix %s: no free /%d (largest free block %s)",
		sp.p, bits, sp.prefixAt(start, lbits))
}

// registerChild records child as taken from sp and writes its initial
// state. The free blocks said the space is free; a record of the child
// that exists all the same means the indexes contradict each other, and
// overwriting it would lose its state: initState inserts the record
// (backends.Insert), so the registration fails with ErrCorrupt instead, or
// on a store that checks at the commit, the commit fails with
// backends.ErrKeyExists (see ErrCorrupt).
func registerChild(tx backends.Tx, sp span, r *record, child netip.Prefix) error {
	cs := newSpan(child)
	if err := tx.Put(childBucket(sp.p), childKey(cs.start, cs.bits), marker); err != nil {
		return err
	}
	r.usedChildren = r.usedChildren.inc()
	if err := saveRecord(tx, sp, r); err != nil {
		return err
	}
	err := initState(tx, cs, sp.p)
	if errors.Is(err, backends.ErrKeyExists) {
		return errdefs.Errorf(ErrCorrupt, "ipam: prefix %s: child %s is free in the free blocks but has a record in bucket %s", sp.p, child, bucketPrefixes)
	}
	return err
}

// checkChild validates child as a possible child prefix of sp.
func checkChild(sp span, child netip.Prefix) error {
	if err := checkPrefix(child); err != nil {
		return err
	}
	if child.Addr().Is4() != sp.v4 || child.Bits() <= sp.bits || !sp.p.Contains(child.Addr()) {
		return errdefs.Errorf(ErrInvalidArgument, "ipam: %s is not a child prefix of %s", child, sp.p)
	}
	return nil
}

// AcquireSpecificChild takes the given child prefix from parent and
// registers it. It fails with ErrInvalidArgument if child is not a
// canonical prefix strictly inside parent, with ErrInUse if parent holds
// IPs, and with ErrAlreadyAllocated if any part of child is taken. Cost:
// one seek plus one write per prefix length split.
func AcquireSpecificChild(tx backends.Tx, parent, child netip.Prefix) error {
	sp, r, err := loadRecord(tx, parent, nil)
	if err != nil {
		return err
	}
	if err := checkChild(sp, child); err != nil {
		return err
	}
	if r.usedIPs != sp.reserved() {
		return errdefs.Errorf(ErrInUse, "ipam: prefix %s holds IPs and so gives no child prefixes", parent)
	}
	cs := newSpan(child)
	bs := sp.blocks(tx)
	bstart, bbits, ok, err := bs.containing(cs.start)
	if err != nil {
		return err
	}
	if !ok || bbits > cs.bits {
		return errdefs.Errorf(ErrAlreadyAllocated, "ipam: prefix %s: child %s is taken in whole or in part", parent, child)
	}
	if err := bs.split(&r, bstart, bbits, cs.start, cs.bits); err != nil {
		return err
	}
	return registerChild(tx, sp, &r, child)
}

// ReleaseChild returns child to parent, merging free buddies, and
// unregisters it. It fails with ErrNotFound if child is not a registered
// child of parent and with ErrInUse if child holds IPs besides its reserved
// ones or children of its own. Cost: a constant number of Gets and writes
// plus one Get and two writes per merged buddy.
func ReleaseChild(tx backends.Tx, parent, child netip.Prefix) error {
	sp, r, err := loadRecord(tx, parent, nil)
	if err != nil {
		return err
	}
	if err := checkChild(sp, child); err != nil {
		return err
	}
	cs, cr, err := loadRecord(tx, child, nil)
	if err != nil {
		return err
	}
	if cr.parent != parent {
		return errdefs.Errorf(ErrNotFound, "ipam: %s is not a child of %s", child, parent)
	}
	if !cr.isEmpty(cs) {
		return inUse(cs, &cr)
	}
	if err := clearState(tx, cs); err != nil {
		return err
	}
	if err := tx.Delete(childBucket(parent), childKey(cs.start, cs.bits)); err != nil {
		return err
	}
	r.usedChildren = r.usedChildren.dec()
	if err := sp.blocks(tx).merge(&r, cs.start, cs.bits, sp.bits); err != nil {
		return err
	}
	return saveRecord(tx, sp, &r)
}
