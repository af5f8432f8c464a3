package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
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
	if err := limits.ID("network id", id); err != nil {
		return nil, errdefs.Errorf(ErrInvalidArgument, "network: %w", err)
	}
	b, err := tx.Get(bucketNetworks, idKey(id))
	if errors.Is(err, backends.ErrNotFound) {
		return nil, errdefs.Errorf(ErrNotFound, "network: network %q does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	var n Network
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, errdefs.Errorf(ErrCorrupt, "network: decode network %q: %v", id, err)
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
