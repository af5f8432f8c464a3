package ipam

import (
	"net/netip"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

func hasChildren(sp span, r *record) error {
	if !r.usedChildren.isZero() {
		return errdefs.Errorf(ErrInUse, "ipam: prefix %s has child prefixes and so gives no IPs", sp.p)
	}
	return nil
}

// loadAddr loads prefix p, checks that a lies in it and returns a as a
// number and whether it is a reserved address.
func loadAddr(tx backends.Tx, p netip.Prefix, a netip.Addr, also func() []backends.Read) (span, record, u128, bool, error) {
	sp, r, err := loadRecord(tx, p, also)
	if err != nil {
		return span{}, record{}, u128{}, false, err
	}
	if err := checkAddr(sp, a); err != nil {
		return span{}, record{}, u128{}, false, err
	}
	u := addrToU(a)
	return sp, r, u, sp.isReserved(u), nil
}

// AcquireIP takes the lowest free address of prefix p; released addresses
// are reused lowest first. It fails with ErrNotFound for an unregistered
// prefix, with ErrInUse if p has child prefixes, and with ErrExhausted when
// no address is free. Cost: one Get, one seek and at most three writes,
// independent of the number of addresses taken.
func AcquireIP(tx backends.Tx, p netip.Prefix) (netip.Addr, error) {
	sp, r, err := loadRecord(tx, p, func() []backends.Read {
		return []backends.Read{backends.ReadAscend(ipBucket(p), nil, 1)}
	})
	if err != nil {
		return netip.Addr{}, err
	}
	if err := hasChildren(sp, &r); err != nil {
		return netip.Addr{}, err
	}
	u, ok, err := sp.ips(tx).takeFirst()
	if err != nil {
		return netip.Addr{}, err
	}
	if !ok {
		return netip.Addr{}, errdefs.Errorf(ErrExhausted, "ipam: prefix %s: no free address", p)
	}
	r.usedIPs = r.usedIPs.inc()
	return sp.addr(u), saveRecord(tx, sp, &r)
}

// AcquireSpecificIP takes the address a of prefix p. It fails with
// ErrInvalidArgument if a is not in p, with ErrAlreadyAllocated if a is
// taken, with ErrAlreadyAllocated and ErrReserved if a is reserved, and
// with ErrInUse if p has child prefixes. Cost: one Get, one seek and at
// most three writes.
func AcquireSpecificIP(tx backends.Tx, p netip.Prefix, a netip.Addr) error {
	sp, r, u, reserved, err := loadAddr(tx, p, a, func() []backends.Read {
		return []backends.Read{backends.ReadDescend(ipBucket(p), numKey(addrToU(a)), 1)}
	})
	if err != nil {
		return err
	}
	if reserved {
		return errdefs.With(errdefs.Errorf(ErrAlreadyAllocated, "ipam: prefix %s: address %s is reserved", p, a), ErrReserved)
	}
	if err := hasChildren(sp, &r); err != nil {
		return err
	}
	ok, err := sp.ips(tx).take(u)
	if err != nil {
		return err
	}
	if !ok {
		return errdefs.Errorf(ErrAlreadyAllocated, "ipam: prefix %s: address %s is taken", p, a)
	}
	r.usedIPs = r.usedIPs.inc()
	return saveRecord(tx, sp, &r)
}

// ReleaseIP returns the address a to prefix p. It fails with ErrReserved
// for a reserved address, with ErrNotFound if a is not taken, and with
// ErrInvalidArgument if a is not in p. Cost: one Get, two seeks and at most
// three writes.
func ReleaseIP(tx backends.Tx, p netip.Prefix, a netip.Addr) error {
	sp, r, u, reserved, err := loadAddr(tx, p, a, func() []backends.Read { return releaseSeeks(ipBucket(p), addrToU(a)) })
	if err != nil {
		return err
	}
	if reserved {
		return errdefs.Errorf(ErrReserved, "ipam: prefix %s: address %s is reserved and cannot be released", p, a)
	}
	ok, err := sp.ips(tx).release(u)
	if err != nil {
		return err
	}
	if !ok {
		return errdefs.Errorf(ErrNotFound, "ipam: prefix %s: address %s is not allocated", p, a)
	}
	r.usedIPs = r.usedIPs.dec()
	return saveRecord(tx, sp, &r)
}
