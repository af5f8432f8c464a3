package network

import (
	"encoding/binary"
	"errors"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/ipam"
)

// VRF bookkeeping lives in this file. A network's VRF is a number in
// MinVRF..MaxVRF (uint32 everywhere in this package); a switch port shows
// it as "vrf<N>". The numbers come from the ipam integer pool vrfPool,
// created on first use; bucketVRF counts the networks that use each VRF,
// so that a VRF shared by several networks (vrfshared) returns to the pool
// only with its last network.

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
		return 0, errdefs.Errorf(nil, "network: vrf: %w", err)
	}
	return uint32(v), nil
}

func acquireSpecificVRF(tx backends.Tx, vrf uint32) error {
	if err := ensureVRFPool(tx); err != nil {
		return err
	}
	if err := ipam.AcquireSpecificInt(tx, vrfPool, uint64(vrf)); err != nil {
		return errdefs.Errorf(nil, "network: vrf %d: %w", vrf, conflict(err))
	}
	return nil
}

func releaseVRF(tx backends.Tx, vrf uint32) error {
	return conflict(ipam.ReleaseInt(tx, vrfPool, uint64(vrf)))
}

// vrfRefs returns how many networks use vrf.
func vrfRefs(tx backends.Tx, vrf uint32) (uint32, error) {
	b, err := tx.Get(bucketVRF, vrfKey(vrf))
	if errors.Is(err, backends.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

func setVRFRefs(tx backends.Tx, vrf, n uint32) error {
	if n == 0 {
		return tx.Delete(bucketVRF, vrfKey(vrf))
	}
	return tx.Put(bucketVRF, vrfKey(vrf), binary.BigEndian.AppendUint32(nil, n))
}

// takeVRF takes vrf for a new network: from the pool when it is free, or
// as one more user of a VRF shared with shared set.
func takeVRF(tx backends.Tx, vrf uint32, shared bool) error {
	if vrf < MinVRF || vrf > MaxVRF {
		return errdefs.Errorf(ErrInvalidArgument, "network: vrf %d: must lie in %d..%d", vrf, MinVRF, MaxVRF)
	}
	n, err := vrfRefs(tx, vrf)
	if err != nil {
		return err
	}
	if n > 0 {
		if !shared {
			return errdefs.Errorf(ErrConflict, "network: vrf %d is already used; set vrfshared to share it", vrf)
		}
		return setVRFRefs(tx, vrf, n+1)
	}
	if err := acquireSpecificVRF(tx, vrf); err != nil {
		return err
	}
	return setVRFRefs(tx, vrf, 1)
}

// newVRF takes the lowest free VRF from the pool.
func newVRF(tx backends.Tx) (uint32, error) {
	vrf, err := acquireVRF(tx)
	if err != nil {
		return 0, err
	}
	return vrf, setVRFRefs(tx, vrf, 1)
}

// dropVRF gives up one use of vrf; the last use returns it to the pool.
func dropVRF(tx backends.Tx, vrf uint32) error {
	if vrf == 0 {
		return nil
	}
	n, err := vrfRefs(tx, vrf)
	if err != nil {
		return err
	}
	if n > 1 {
		return setVRFRefs(tx, vrf, n-1)
	}
	if err := setVRFRefs(tx, vrf, 0); err != nil {
		return err
	}
	return releaseVRF(tx, vrf)
}
