package network

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
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
	return readNetwork(idKey(id), b)
}

// readNetwork decodes a record of bucketNetworks.
func readNetwork(key, value []byte) (*Network, error) {
	n, err := decodeNetwork(string(key), value)
	if err != nil {
		return nil, errdefs.Errorf(ErrCorrupt, "network: decode network %q: %v", key, err)
	}
	return n, nil
}

func putNetwork(tx backends.Tx, n *Network) error {
	return tx.Put(bucketNetworks, idKey(n.ID), encodeNetwork(n))
}

// GetIPTx returns the stored IP record of an address.
func GetIPTx(tx backends.Tx, addr netip.Addr) (*IP, error) {
	ip, _, err := getIP(tx, addr)
	return ip, err
}

// readIP decodes a record of bucketIPs; it returns the IP and the prefix of
// its network it was taken from.
func readIP(key, value []byte) (*IP, netip.Prefix, error) {
	a, ok := addrOfKey(key)
	if !ok {
		return nil, netip.Prefix{}, errdefs.Errorf(ErrCorrupt, "network: ip key %x is not an address", key)
	}
	return decodeIPAt(a, value)
}

// decodeIPAt decodes the record of the IP at a.
func decodeIPAt(a netip.Addr, value []byte) (*IP, netip.Prefix, error) {
	ip, bits, err := decodeIP(a, value)
	if err == nil && bits > a.BitLen() {
		err = fmt.Errorf("prefix length %d", bits)
	}
	if err != nil {
		return nil, netip.Prefix{}, errdefs.Errorf(ErrCorrupt, "network: decode ip %s: %v", a, err)
	}
	p, _ := a.Prefix(bits)
	return ip, p, nil
}

// putIP replaces the record of old with ip (same address), taken from
// prefix p of its network.
func putIP(tx backends.Tx, old, ip *IP, p netip.Prefix) error {
	if err := tx.Put(bucketIPs, ipKey(ip.IPAddress), encodeIP(ip, p.Bits())); err != nil {
		return err
	}
	return indexMachines(tx, old, ip)
}

// insertIP stores the record of an IP whose address ipam just gave out as
// free. A record under it all the same means the store contradicts itself:
// it fails with the corrupt class instead of overwriting the record (see
// ErrCorrupt).
func insertIP(tx backends.Tx, ip *IP, p netip.Prefix) error {
	err := backends.Insert(tx, bucketIPs, ipKey(ip.IPAddress), encodeIP(ip, p.Bits()))
	if errors.Is(err, backends.ErrKeyExists) {
		return errdefs.Errorf(ErrCorrupt, "network: address %s was free in ipam but bucket %s holds a record of it", ip.IPAddress, bucketIPs)
	}
	if err != nil {
		return err
	}
	return indexMachines(tx, nil, ip)
}

// deleteIP deletes the record ip is stored as.
func deleteIP(tx backends.Tx, ip *IP) error {
	if err := tx.Delete(bucketIPs, ipKey(ip.IPAddress)); err != nil {
		return err
	}
	return indexMachines(tx, ip, nil)
}

// machineIDs returns the machines ip's tags bind it to (nil ip: none).
func machineIDs(ip *IP) []string {
	if ip == nil {
		return nil
	}
	var ids []string
	for _, t := range ip.Tags {
		if id, ok := strings.CutPrefix(t, MachineTagPrefix); ok && id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// indexMachines moves the entries of bucketMachineIPs from the machines of
// old to those of ip, both records of one address (either may be nil).
func indexMachines(tx backends.Tx, old, ip *IP) error {
	before, after := machineIDs(old), machineIDs(ip)
	for _, id := range before {
		if !slices.Contains(after, id) {
			if err := tx.Delete(bucketMachineIPs, machineIPKey(id, old.IPAddress)); err != nil {
				return err
			}
		}
	}
	for _, id := range after {
		if !slices.Contains(before, id) {
			if err := tx.Put(bucketMachineIPs, machineIPKey(id, ip.IPAddress), nil); err != nil {
				return err
			}
		}
	}
	return nil
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
