package network

import (
	"encoding/json"
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
// consumption.
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
		var n Network
		if err := json.Unmarshal(v, &n); err != nil {
			return false, errdefs.Errorf(ErrCorrupt, "network: decode network %q: %v", k, err)
		}
		if f.Match(&n) {
			out = append(out, &n)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	for _, n := range out {
		if err := withConsumption(tx, n); err != nil {
			return nil, err
		}
	}
	return out, nil
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

// ListIPsTx returns the IPs that match f in address order, IPv4 first. With
// a NetworkID it reads only that network's IPs.
func ListIPsTx(tx backends.Tx, f IPFilter) ([]*IP, error) {
	if f.AddressFamily != "" {
		fam, err := ParseAddressFamily(string(f.AddressFamily))
		if err != nil {
			return nil, err
		}
		f.AddressFamily = fam
	}
	out := []*IP{}
	add := func(v []byte) error {
		var ip IP
		if err := json.Unmarshal(v, &ip); err != nil {
			return errdefs.Errorf(ErrCorrupt, "network: decode ip: %v", err)
		}
		if f.Match(&ip) {
			out = append(out, &ip)
		}
		return nil
	}
	if f.NetworkID == "" {
		err := tx.Ascend(bucketIPs, nil, func(_, v []byte) (bool, error) { return true, add(v) })
		return out, err
	}
	start := pairStart(f.NetworkID)
	keys, err := backends.KeysWithPrefix(tx, bucketNetworkIPs, start)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		v, err := tx.Get(bucketIPs, k[len(start):])
		if err != nil {
			if errors.Is(err, backends.ErrNotFound) {
				return nil, errdefs.Errorf(ErrCorrupt, "network: the ip index of network %q names a missing ip", f.NetworkID)
			}
			return nil, err
		}
		if err := add(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// withConsumption fills n.Consumption from the allocation counters of its
// prefixes: one read per prefix.
func withConsumption(tx backends.Tx, n *Network) error {
	byFamily := map[AddressFamily][]ipam.Usage{}
	for _, p := range n.Prefixes {
		u, err := ipam.GetUsage(tx, p)
		if err != nil {
			return errdefs.Errorf(nil, "network: network %q, prefix %s: %w", n.ID, p, err)
		}
		f := FamilyOf(p.Addr())
		byFamily[f] = append(byFamily[f], u)
	}
	c := &Consumption{}
	if us := byFamily[IPv4]; us != nil {
		c.IPv4 = familyConsumption(us)
	}
	if us := byFamily[IPv6]; us != nil {
		c.IPv6 = familyConsumption(us)
	}
	n.Consumption = c
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
