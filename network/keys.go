package network

import (
	"bytes"
	"encoding/binary"
	"net/netip"
)

// Buckets of the network package. Every key encoding lives in this file.
const (
	// bucketNetworks maps a network id to its record (see codec.go).
	bucketNetworks = "network/networks"
	// bucketSuper maps a partition id to the id of its super network.
	bucketSuper = "network/super"
	// bucketUnderlay maps a partition id to the id of its underlay network.
	bucketUnderlay = "network/underlay"
	// bucketChildren holds parent id, 0x00, child id for every child network.
	bucketChildren = "network/children"
	// bucketVRF maps a VRF (4-byte big-endian) to the number of networks
	// that use it (4-byte big-endian).
	bucketVRF = "network/vrf"
	// bucketIPs maps an address (ipKey) to the IP's record (see
	// codec.go). Networks' prefixes do not overlap, and a prefix with
	// children holds no IPs of its own, so the IPs of one network are the
	// keys of its childless prefixes' address ranges: one ordered scan per
	// prefix, with no index to keep.
	bucketIPs = "network/ips"
	// bucketMachineIPs holds machine id, 0x00, ipKey (empty values) for
	// each machine tag (MachineTagPrefix) of each IP, so that the IPs of a
	// machine are one prefix scan away.
	bucketMachineIPs = "network/machine-ips"
)

// vrfPool is the name of the ipam integer pool of VRF ids.
const vrfPool = "network/vrf"

// The VRF pool's range.
const (
	MinVRF = 1
	MaxVRF = 131072
)

func idKey(id string) []byte { return []byte(id) }

// pairKey is a, 0x00, b: all keys with the same a are one contiguous range.
func pairKey(a string, b []byte) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}

// splitPair splits a pairKey at its first NUL.
func splitPair(k []byte) (a, b string, ok bool) {
	x, y, ok := bytes.Cut(k, []byte{0})
	return string(x), string(y), ok
}

// pairStart is the first key of pairKey(a, ...).
func pairStart(a string) []byte { return pairKey(a, nil) }

// ipKey is the family byte (4 or 6) followed by the address bytes, so IPv4
// sorts before IPv6 and each family in numeric order.
func ipKey(a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return append([]byte{4}, b[:]...)
	}
	b := a.As16()
	return append([]byte{6}, b[:]...)
}

// addrOfKey decodes an ipKey.
func addrOfKey(k []byte) (netip.Addr, bool) {
	switch {
	case len(k) == 5 && k[0] == 4:
		return netip.AddrFrom4([4]byte(k[1:])), true
	case len(k) == 17 && k[0] == 6:
		return netip.AddrFrom16([16]byte(k[1:])), true
	}
	return netip.Addr{}, false
}

// machineIPKey is the key of bucketMachineIPs that binds a to machine id.
func machineIPKey(id string, a netip.Addr) []byte { return pairKey(id, ipKey(a)) }

func vrfKey(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
