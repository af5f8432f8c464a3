package network

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/ipam"
)

// Filter selects networks; every set field must match, the zero Filter
// matches all.
type Filter struct {
	ID              string        `json:"id,omitempty"`
	Name            string        `json:"name,omitempty"`
	PartitionID     string        `json:"partitionid,omitempty"`
	ProjectID       string        `json:"projectid,omitempty"`
	ParentNetworkID string        `json:"parentnetworkid,omitempty"`
	Kind            Kind          `json:"networktype,omitempty"`
	AddressFamily   AddressFamily `json:"addressfamily,omitempty"`
	// Labels must all be present with these values.
	Labels map[string]string `json:"labels,omitempty"`
	// Prefix must be one of the network's prefixes.
	Prefix netip.Prefix `json:"prefix,omitzero"`
	// Contains must be an address inside one of the network's prefixes.
	Contains netip.Addr `json:"contains,omitzero"`
	// NAT, when set, must equal the network's NAT flag.
	NAT *bool `json:"nat,omitempty"`
	// VRF, when not 0, must be the network's VRF.
	VRF uint32 `json:"vrf,omitempty"`
}

// Match reports whether n satisfies f.
func (f Filter) Match(n *Network) bool {
	switch {
	case f.ID != "" && n.ID != f.ID,
		f.Name != "" && n.Name != f.Name,
		f.NAT != nil && n.NAT != *f.NAT,
		f.VRF != 0 && n.VRF != f.VRF,
		f.PartitionID != "" && n.PartitionID != f.PartitionID,
		f.ProjectID != "" && n.ProjectID != f.ProjectID,
		f.ParentNetworkID != "" && n.ParentNetworkID != f.ParentNetworkID,
		f.Kind != "" && n.NetworkType != f.Kind,
		f.AddressFamily != "" && !n.HasFamily(f.AddressFamily),
		f.Prefix.IsValid() && !slices.Contains(n.Prefixes, f.Prefix):
		return false
	}
	if f.Contains.IsValid() {
		if _, ok := prefixContaining(n, f.Contains); !ok {
			return false
		}
	}
	for k, v := range f.Labels {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// ListTx returns the networks that match f, ordered by id, each with its
// consumption. It scans the networks once and reads the usage of all their
// prefixes together.
func ListTx(tx backends.Tx, f Filter) ([]*Network, error) {
	if f.AddressFamily != "" {
		fam, err := ParseAddressFamily(string(f.AddressFamily))
		if err != nil {
			return nil, err
		}
		f.AddressFamily = fam
	}
	out := []*Network{}
	err := tx.Ascend(bucketNetworks, nil, func(k, v []byte) (bool, error) {
		n, err := readNetwork(k, v)
		if err != nil {
			return false, err
		}
		if f.Match(n) {
			out = append(out, n)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, withConsumption(tx, out...)
}

// IPFilter selects IPs; every set field must match, the zero IPFilter
// matches all.
type IPFilter struct {
	NetworkID     string        `json:"networkid,omitempty"`
	ProjectID     string        `json:"projectid,omitempty"`
	MachineID     string        `json:"machineid,omitempty"`
	Type          IPType        `json:"type,omitempty"`
	AddressFamily AddressFamily `json:"addressfamily,omitempty"`
	// Tags must all be present.
	Tags           []string `json:"tags,omitempty"`
	AllocationUUID string   `json:"allocationuuid,omitempty"`
	Name           string   `json:"name,omitempty"`
	// ParentPrefix must contain the address.
	ParentPrefix netip.Prefix `json:"networkprefix,omitzero"`
}

// Match reports whether ip satisfies f.
func (f IPFilter) Match(ip *IP) bool {
	switch {
	case f.NetworkID != "" && ip.NetworkID != f.NetworkID,
		f.ProjectID != "" && ip.ProjectID != f.ProjectID,
		f.MachineID != "" && ip.MachineID() != f.MachineID,
		f.Type != "" && ip.Type != f.Type,
		f.AddressFamily != "" && FamilyOf(ip.IPAddress) != f.AddressFamily,
		f.AllocationUUID != "" && ip.AllocationUUID != f.AllocationUUID,
		f.Name != "" && ip.Name != f.Name,
		f.ParentPrefix.IsValid() && !f.ParentPrefix.Contains(ip.IPAddress):
		return false
	}
	for _, t := range f.Tags {
		if !slices.Contains(ip.Tags, t) {
			return false
		}
	}
	return true
}

// ListIPsTx returns the IPs that match f in address order, IPv4 first.
// With a MachineID, or a machine tag (MachineTagPrefix) among the Tags, it
// reads only the IPs bound to that machine, through an index: one scan and
// one batch of Gets, whatever the number of IPs. Else with a NetworkID it
// reads only that network's IPs: the address range of each of its prefixes
// that has no children (an unknown network has none), each one scan whose
// length the prefix's counters tell, so that a networked store reads them
// all in one round trip.
func ListIPsTx(tx backends.Tx, f IPFilter) ([]*IP, error) {
	if f.AddressFamily != "" {
		fam, err := ParseAddressFamily(string(f.AddressFamily))
		if err != nil {
			return nil, err
		}
		f.AddressFamily = fam
	}
	if id := f.machine(); id != "" {
		return listMachineIPs(tx, id, f)
	}
	out := []*IP{}
	add := func(k, v []byte) error {
		ip, _, err := readIP(k, v)
		if err != nil {
			return err
		}
		if f.Match(ip) {
			out = append(out, ip)
		}
		return nil
	}
	if f.NetworkID == "" {
		err := tx.Ascend(bucketIPs, nil, func(k, v []byte) (bool, error) { return true, add(k, v) })
		return out, err
	}
	n, err := GetTx(tx, f.NetworkID)
	if errors.Is(err, ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	ranges, err := ipRanges(tx, n)
	if err != nil {
		return nil, err
	}
	for _, r := range ranges {
		err := tx.Ascend(bucketIPs, r.first, func(k, v []byte) (bool, error) {
			if bytes.Compare(k, r.last) > 0 {
				return false, nil
			}
			ip, _, err := readIP(k, v)
			if err != nil {
				return false, err
			}
			if ip.NetworkID != n.ID {
				return false, errdefs.Errorf(ErrCorrupt, "network: ip %s lies in prefix %s of network %q but names network %q", ip.IPAddress, r.prefix, n.ID, ip.NetworkID)
			}
			if f.Match(ip) {
				out = append(out, ip)
			}
			return true, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// machine returns the machine f asks for: its MachineID, else the first
// machine tag among its Tags, else "".
func (f IPFilter) machine() string {
	if f.MachineID != "" {
		return f.MachineID
	}
	return (&IP{Tags: f.Tags}).MachineID()
}

// listMachineIPs returns the IPs bound to machine id that match f.
func listMachineIPs(tx backends.Tx, id string, f IPFilter) ([]*IP, error) {
	entries, err := backends.KeysWithPrefix(tx, bucketMachineIPs, pairStart(id))
	if err != nil {
		return nil, err
	}
	keys := make([][]byte, len(entries))
	for i, k := range entries {
		keys[i] = k[len(id)+1:]
	}
	out := []*IP{}
	err = backends.GetMany(tx, bucketIPs, keys, func(i int, v []byte) error {
		ip, _, err := readIP(keys[i], v)
		if err == nil && f.Match(ip) {
			out = append(out, ip)
		}
		return err
	})
	return out, err
}

// ipRange is the range of ipKeys of a prefix that gives IPs.
type ipRange struct {
	prefix      netip.Prefix
	first, last []byte
}

// ipRanges returns the key ranges of n's prefixes that have no children, in
// key order, and announces their scans with the number of IPs each holds.
func ipRanges(tx backends.Tx, n *Network) ([]ipRange, error) {
	us, err := ipam.Usages(tx, n.Prefixes)
	if err != nil {
		return nil, errdefs.Errorf(nil, "network: network %q: %w", n.ID, err)
	}
	var out []ipRange
	var reads []backends.Read
	for i, p := range n.Prefixes {
		u := us[i]
		if u.UsedChildren.Sign() > 0 {
			continue // its addresses are its children's
		}
		r := ipRange{prefix: p, first: ipKey(p.Addr()), last: ipKey(lastAddr(p))}
		out = append(out, r)
		if held := u.AllocatedIPs; held.IsInt64() && held.Int64() < 1<<16 {
			reads = append(reads, backends.ReadAscend(bucketIPs, r.first, int(held.Int64())+1))
		}
	}
	slices.SortFunc(out, func(a, b ipRange) int { return bytes.Compare(a.first, b.first) })
	return out, backends.Prefetch(tx, reads...)
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		host := min(max(len(b)*8-p.Bits()-(len(b)-1-i)*8, 0), 8)
		b[i] |= byte(1<<host - 1)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// withConsumption fills the consumption of each network of ns from the
// allocation counters of their prefixes, all read together.
func withConsumption(tx backends.Tx, ns ...*Network) error {
	var all []netip.Prefix
	for _, n := range ns {
		all = append(all, n.Prefixes...)
	}
	us, err := ipam.Usages(tx, all)
	if err != nil {
		// Name the network of the prefix at fault.
		for _, n := range ns {
			if _, err := ipam.Usages(tx, n.Prefixes); err != nil {
				return errdefs.Errorf(nil, "network: network %q: %w", n.ID, err)
			}
		}
		return err
	}
	for _, n := range ns {
		byFamily := map[AddressFamily][]ipam.Usage{}
		for _, p := range n.Prefixes {
			f := FamilyOf(p.Addr())
			byFamily[f] = append(byFamily[f], us[0])
			us = us[1:]
		}
		c := &Consumption{}
		if u := byFamily[IPv4]; u != nil {
			c.IPv4 = familyConsumption(u)
		}
		if u := byFamily[IPv6]; u != nil {
			c.IPv6 = familyConsumption(u)
		}
		n.Consumption = c
	}
	return nil
}

// GetWithConsumptionTx returns a network with its consumption.
func GetWithConsumptionTx(tx backends.Tx, id string) (*Network, error) {
	n, err := GetTx(tx, id)
	if err != nil {
		return nil, err
	}
	return n, withConsumption(tx, n)
}
