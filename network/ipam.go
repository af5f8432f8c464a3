package network

import (
	"errors"
	"net/netip"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/ipam"
)

// This file holds the network package's changes of the ipam engine (reads
// of its usage are where they are needed). ipam errors pass through wrapped, so callers can test both for ipam's
// sentinels (ipam.ErrExhausted, ipam.ErrAlreadyAllocated, ...) and for this
// package's ErrConflict where the stored state is at fault.

func registerPrefix(tx backends.Tx, p netip.Prefix) error {
	if err := ipam.CreatePrefix(tx, p); err != nil {
		if errors.Is(err, ipam.ErrPrefixOverlap) || errors.Is(err, ipam.ErrAlreadyExists) {
			return errdefs.Errorf(ErrConflict, "network: prefixes: %s overlaps the prefix of an existing network: %w", p, err)
		}
		return errdefs.Errorf(nil, "network: prefixes: %s: %w", p, err)
	}
	return nil
}

func deletePrefix(tx backends.Tx, p netip.Prefix) error {
	return conflict(ipam.DeletePrefix(tx, p))
}

func acquireChild(tx backends.Tx, parent netip.Prefix, bits int) (netip.Prefix, error) {
	return ipam.AcquireChild(tx, parent, bits)
}

func releaseChild(tx backends.Tx, parent, child netip.Prefix) error {
	return conflict(ipam.ReleaseChild(tx, parent, child))
}

func acquireIP(tx backends.Tx, p netip.Prefix) (netip.Addr, error) {
	a, err := ipam.AcquireIP(tx, p)
	return a, conflict(err)
}

func acquireSpecificIP(tx backends.Tx, p netip.Prefix, a netip.Addr) error {
	return conflict(ipam.AcquireSpecificIP(tx, p, a))
}

func releaseIP(tx backends.Tx, p netip.Prefix, a netip.Addr) error {
	return conflict(ipam.ReleaseIP(tx, p, a))
}

func isExhausted(err error) bool { return errors.Is(err, ipam.ErrExhausted) }

// conflict adds ErrConflict to ipam errors that mean the stored state
// forbids the operation.
func conflict(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ipam.ErrAlreadyAllocated) || errors.Is(err, ipam.ErrInUse) || errors.Is(err, ipam.ErrReserved) {
		return errdefs.Errorf(ErrConflict, "network: %w", err)
	}
	return err
}

// holdsIPs reports whether any prefix of n holds an allocated IP, from the
// prefixes' counters.
func holdsIPs(tx backends.Tx, n *Network) (bool, error) {
	us, err := ipam.Usages(tx, n.Prefixes)
	if err != nil {
		return false, errdefs.Errorf(nil, "network: network %q: %w", n.ID, err)
	}
	for _, u := range us {
		if u.AllocatedIPs.Sign() > 0 {
			return true, nil
		}
	}
	return false, nil
}
