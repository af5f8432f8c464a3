package network

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/metalkit/metalkit/backends"
)

// Env carries what a transaction function needs from outside the store:
// the time of the change and a source of new ids. Services fill it from
// their clock and ID source before the transaction starts.
type Env struct {
	Now   time.Time
	NewID func() string
}

// GetTx returns the stored network with the given id, without consumption.
func GetTx(tx backends.Tx, id string) (*Network, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: network id is empty", ErrInvalidArgument)
	}
	b, err := tx.Get(bucketNetworks, idKey(id))
	if errors.Is(err, backends.ErrNotFound) {
		return nil, fmt.Errorf("%w: network %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	var n Network
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("network: decode network %q: %w", id, err)
	}
	return &n, nil
}

func putNetwork(tx backends.Tx, n *Network) error {
	stored := *n
	stored.Consumption = nil
	b, err := json.Marshal(&stored)
	if err != nil {
		return fmt.Errorf("network: encode network %q: %w", n.ID, err)
	}
	return tx.Put(bucketNetworks, idKey(n.ID), b)
}

func exists(tx backends.Tx, bucket string, key []byte) (bool, error) {
	_, err := tx.Get(bucket, key)
	if errors.Is(err, backends.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// hasAny reports whether bucket holds a key starting with prefix.
func hasAny(tx backends.Tx, bucket string, prefix []byte) (bool, error) {
	found := false
	err := tx.Ascend(bucket, prefix, func(k, _ []byte) (bool, error) {
		found = len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
		return false, nil
	})
	return found, err
}

// GetIPTx returns the stored IP record of an address.
func GetIPTx(tx backends.Tx, addr netip.Addr) (*IP, error) {
	return getIP(tx, addr)
}

func putIP(tx backends.Tx, ip *IP) error {
	b, err := json.Marshal(ip)
	if err != nil {
		return fmt.Errorf("network: encode ip %s: %w", ip.IPAddress, err)
	}
	if err := tx.Put(bucketIPs, ipKey(ip.IPAddress), b); err != nil {
		return err
	}
	return tx.Put(bucketNetworkIPs, pairKey(ip.NetworkID, ipKey(ip.IPAddress)), nil)
}

func deleteIP(tx backends.Tx, ip *IP) error {
	if err := tx.Delete(bucketIPs, ipKey(ip.IPAddress)); err != nil {
		return err
	}
	return tx.Delete(bucketNetworkIPs, pairKey(ip.NetworkID, ipKey(ip.IPAddress)))
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
		return fmt.Errorf("%w: vrf %d: must lie in %d..%d", ErrInvalidArgument, vrf, MinVRF, MaxVRF)
	}
	n, err := vrfRefs(tx, vrf)
	if err != nil {
		return err
	}
	if n > 0 {
		if !shared {
			return fmt.Errorf("%w: vrf %d is already used; set vrfshared to share it", ErrConflict, vrf)
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

// sortedTags deduplicates and sorts tags; nil becomes an empty list.
func sortedTags(tags []string) []string {
	out := slices.Clone(tags)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}
