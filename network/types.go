package network

import (
	"net/netip"
	"time"
)

// Kind is the kind of a network, reported as networktype.
type Kind string

// The kinds of networks.
const (
	KindSuper       Kind = "super"        // a partition's private super network
	KindUnderlay    Kind = "underlay"     // a partition's underlay
	KindExternal    Kind = "external"     // any other network created by an admin
	KindChild       Kind = "child"        // allocated from a super network
	KindChildShared Kind = "child-shared" // allocated and shared with other projects
)

// Network is a network as stored and returned. JSON names are metal-api's.
type Network struct {
	ID                  string         `json:"id"`
	Name                string         `json:"name,omitempty"`
	Description         string         `json:"description,omitempty"`
	PartitionID         string         `json:"partitionid,omitempty"`
	ProjectID           string         `json:"projectid,omitempty"`
	Prefixes            []netip.Prefix `json:"prefixes"`
	DestinationPrefixes []netip.Prefix `json:"destinationprefixes"`
	// DefaultChildPrefixLength is, on a super network, the length of a
	// child's prefix per family when the allocation asks for none.
	DefaultChildPrefixLength ChildLengths `json:"defaultchildprefixlength,omitempty"`
	// PrivateSuper marks the partition's private super network, which
	// hands out child networks to projects.
	PrivateSuper bool `json:"privatesuper"`
	// Underlay marks the partition's underlay (the switches' and
	// firewalls' transfer network).
	Underlay bool `json:"underlay"`
	// NAT says that traffic leaving into this network is source-NATed by
	// the firewall (as for an internet network).
	NAT bool `json:"nat"`
	// VRF is the network's VRF id (VNI) in MinVRF..MaxVRF; 0 for none.
	VRF             uint32            `json:"vrf,omitempty"`
	ParentNetworkID string            `json:"parentnetworkid,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	// Shared says that other projects may take IPs from this child
	// network (and machines of other projects may join it as a secondary
	// network).
	Shared bool `json:"shared"`
	// AdditionalAnnouncableCIDRs are further prefixes a super network's
	// tenant firewalls announce.
	AdditionalAnnouncableCIDRs []netip.Prefix `json:"additionalAnnouncableCIDRs,omitempty"`
	NetworkType                Kind           `json:"networktype"`
	// Consumption is computed from the allocation counters on every read;
	// it is never stored.
	Consumption *Consumption `json:"consumption,omitempty"`
	Created     time.Time    `json:"created"`
	Changed     time.Time    `json:"changed"`
}

// Families returns the network's address families in order of first
// appearance among its prefixes.
func (n *Network) Families() []AddressFamily { return PrefixFamilies(n.Prefixes) }

// HasFamily reports whether the network has a prefix of family f.
func (n *Network) HasFamily(f AddressFamily) bool {
	for _, p := range n.Prefixes {
		if FamilyOf(p.Addr()) == f {
			return true
		}
	}
	return false
}

// CreateRequest is an admin's request for a super, underlay or external
// network.
type CreateRequest struct {
	// ID of the new network; empty generates one.
	ID                  string         `json:"id,omitempty"`
	Name                string         `json:"name,omitempty"`
	Description         string         `json:"description,omitempty"`
	PartitionID         string         `json:"partitionid,omitempty"`
	ProjectID           string         `json:"projectid,omitempty"`
	Prefixes            []netip.Prefix `json:"prefixes"`
	DestinationPrefixes []netip.Prefix `json:"destinationprefixes,omitempty"`
	// DefaultChildPrefixLength is required on super networks, one entry per
	// family of Prefixes, and forbidden elsewhere.
	DefaultChildPrefixLength ChildLengths `json:"defaultchildprefixlength,omitempty"`
	PrivateSuper             bool         `json:"privatesuper,omitempty"`
	Underlay                 bool         `json:"underlay,omitempty"`
	NAT                      bool         `json:"nat,omitempty"`
	// VRF, when not 0, must lie in 1..131072 and be free unless VRFShared.
	VRF uint32 `json:"vrf,omitempty"`
	// VRFShared lets the network share an already used VRF; a shared VRF
	// returns to the pool when its last network is gone.
	VRFShared                  bool              `json:"vrfshared,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Shared                     bool              `json:"shared,omitempty"`
	AdditionalAnnouncableCIDRs []netip.Prefix    `json:"additionalAnnouncableCIDRs,omitempty"`
}

// UpdateRequest changes an existing network. A nil field is left as it is.
type UpdateRequest struct {
	ID          string            `json:"id"`
	Name        *string           `json:"name,omitempty"`
	Description *string           `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	// Shared may only change from false to true.
	Shared *bool `json:"shared,omitempty"`
	// Prefixes replaces the prefixes; a removed prefix must hold no IP and no
	// child.
	Prefixes            []netip.Prefix `json:"prefixes,omitempty"`
	DestinationPrefixes []netip.Prefix `json:"destinationprefixes,omitempty"`
	// DefaultChildPrefixLength replaces the default lengths (super
	// networks only).
	DefaultChildPrefixLength ChildLengths `json:"defaultchildprefixlength,omitempty"`
	// AdditionalAnnouncableCIDRs replaces the list; removing an entry needs
	// Force.
	AdditionalAnnouncableCIDRs []netip.Prefix `json:"additionalAnnouncableCIDRs,omitempty"`
	Force                      bool           `json:"force,omitempty"`
}

// AllocateRequest is a user's request for a child network of the
// partition's super network.
type AllocateRequest struct {
	Name                string            `json:"name,omitempty"`
	Description         string            `json:"description,omitempty"`
	PartitionID         string            `json:"partitionid"`
	ProjectID           string            `json:"projectid"`
	Labels              map[string]string `json:"labels,omitempty"`
	Shared              bool              `json:"shared,omitempty"`
	NAT                 bool              `json:"nat,omitempty"`
	DestinationPrefixes []netip.Prefix    `json:"destinationprefixes,omitempty"`
	// Length overrides or adds the child prefix length of a family.
	Length ChildLengths `json:"length,omitempty"`
	// AddressFamily, when set, restricts the child to that family.
	AddressFamily AddressFamily `json:"addressfamily,omitempty"`
}

// IPType is ephemeral or static.
type IPType string

// The IP types.
const (
	IPTypeEphemeral IPType = "ephemeral"
	IPTypeStatic    IPType = "static"
)

// IPScope says who an IP belongs to.
type IPScope string

// The IP scopes.
const (
	ScopeEmpty   IPScope = ""        // no project
	ScopeProject IPScope = "project" // a project's IP
	ScopeMachine IPScope = "machine" // bound to a machine by its tag
)

// MachineTagPrefix starts the tag that binds an IP to a machine:
// machine.metal-stack.io/id=<machine id>.
const MachineTagPrefix = "machine.metal-stack.io/id="

// IP is an allocated address. JSON names are metal-api's.
type IP struct {
	IPAddress      netip.Addr `json:"ipaddress"`
	AllocationUUID string     `json:"allocationuuid"`
	NetworkID      string     `json:"networkid"`
	ProjectID      string     `json:"projectid"`
	Name           string     `json:"name,omitempty"`
	Description    string     `json:"description,omitempty"`
	Type           IPType     `json:"type"`
	Tags           []string   `json:"tags"`
	Created        time.Time  `json:"created"`
	Changed        time.Time  `json:"changed"`
}

// Scope derives the IP's scope: no project is empty, a machine tag is
// machine, otherwise project.
func (ip *IP) Scope() IPScope {
	if ip.ProjectID == "" {
		return ScopeEmpty
	}
	if ip.MachineID() != "" {
		return ScopeMachine
	}
	return ScopeProject
}

// MachineID returns the machine the IP is bound to, or "".
func (ip *IP) MachineID() string {
	for _, t := range ip.Tags {
		if len(t) > len(MachineTagPrefix) && t[:len(MachineTagPrefix)] == MachineTagPrefix {
			return t[len(MachineTagPrefix):]
		}
	}
	return ""
}

// AllocateIPRequest asks for an IP of a network.
type AllocateIPRequest struct {
	NetworkID   string   `json:"networkid"`
	ProjectID   string   `json:"projectid"`
	Name        string   `json:"name,omitempty"`
	Description string   `json:"description,omitempty"`
	Type        IPType   `json:"type,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	MachineID   string   `json:"machineid,omitempty"`
	// AddressFamily chooses the family; empty means the network's only
	// family, else IPv4.
	AddressFamily AddressFamily `json:"addressfamily,omitempty"`
	// Address asks for this specific address; it excludes AddressFamily.
	Address netip.Addr `json:"ipaddress,omitzero"`
}

// UpdateIPRequest changes an IP. A nil field is left as it is.
type UpdateIPRequest struct {
	IPAddress   netip.Addr `json:"ipaddress"`
	Name        *string    `json:"name,omitempty"`
	Description *string    `json:"description,omitempty"`
	Tags        []string   `json:"tags,omitempty"`
	Type        *IPType    `json:"type,omitempty"`
}
