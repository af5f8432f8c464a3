package network

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/ipam"
)

// This file is the network package's only contact with the ipam engine.
// ipam errors pass through wrapped, so callers can test both for ipam's
// sentinels (ipam.ErrExhausted, ipam.ErrAlreadyAllocated, ...) and for this
// package's ErrConflict where the stored state is at fault.

func registerPrefix(tx backends.Tx, p netip.Prefix) error {
	if err := ipam.CreatePrefix(tx, p); err != nil {
		if errors.Is(err, ipam.ErrPrefixOverlap) || errors.Is(err, ipam.ErrAlreadyExists) {
			return fmt.Errorf("%w: prefixes: %s overlaps the prefix of an existing network: %w", ErrConflict, p, err)
		}
		return fmt.Errorf("prefixes: %s: %w", p, err)
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
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

// prefixUsage is what network needs of a prefix's usage.
type prefixUsage struct {
	ipam.Usage
	// Children counts the child prefixes taken.
	Children *big.Int
	// Allocated counts the addresses taken besides the reserved ones.
	Allocated *big.Int
}

func usageOf(tx backends.Tx, p netip.Prefix) (prefixUsage, error) {
	u, err := ipam.GetUsage(tx, p)
	if err != nil {
		return prefixUsage{}, err
	}
	allocated := new(big.Int).Sub(u.UsedIPs, big.NewInt(reservedCount(p)))
	return prefixUsage{Usage: u, Children: u.UsedChildren, Allocated: allocated}, nil
}

// reservedCount is the number of reserved addresses of p: the first, and
// for IPv4 shorter than /32 also the last.
func reservedCount(p netip.Prefix) int64 {
	if p.Addr().Is4() && p.Bits() < 32 {
		return 2
	}
	return 1
}

// ensureVRFPool creates the VRF pool on first use.
func ensureVRFPool(tx backends.Tx) error {
	_, err := ipam.GetPool(tx, vrfPool)
	if errors.Is(err, ipam.ErrNotFound) {
		return ipam.CreatePool(tx, vrfPool, MinVRF, MaxVRF)
	}
	return err
}

func acquireVRF(tx backends.Tx) (uint32, error) {
	if err := ensureVRFPool(tx); err != nil {
		return 0, err
	}
	v, err := ipam.AcquireInt(tx, vrfPool)
	if err != nil {
		return 0, fmt.Errorf("vrf: %w", err)
	}
	return uint32(v), nil
}

func acquireSpecificVRF(tx backends.Tx, vrf uint32) error {
	if err := ensureVRFPool(tx); err != nil {
		return err
	}
	if err := ipam.AcquireSpecificInt(tx, vrfPool, uint64(vrf)); err != nil {
		return fmt.Errorf("vrf %d: %w", vrf, conflict(err))
	}
	return nil
}

func releaseVRF(tx backends.Tx, vrf uint32) error {
	return conflict(ipam.ReleaseInt(tx, vrfPool, uint64(vrf)))
}
