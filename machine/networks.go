package machine

import (
	"errors"
	"fmt"
)

// NetworkType is the type of a machine network, derived from its four
// flags (private, privateprimary, shared, underlay).
type NetworkType string

// The network types. No other combination of the flags is valid.
const (
	// PrivatePrimaryUnshared: the project's own private network.
	PrivatePrimaryUnshared NetworkType = "privateprimaryunshared"
	// PrivatePrimaryShared: a shared private network that is the only
	// private network of the machine.
	PrivatePrimaryShared NetworkType = "privateprimaryshared"
	// PrivateSecondaryShared: a shared private network beside the primary.
	PrivateSecondaryShared NetworkType = "privatesecondaryshared"
	// External: any network that is not private and not the underlay.
	External NetworkType = "external"
	// Underlay: the partition's underlay, which firewalls join.
	Underlay NetworkType = "underlay"
)

// NetworkTypes lists the network types.
var NetworkTypes = []NetworkType{PrivatePrimaryUnshared, PrivatePrimaryShared, PrivateSecondaryShared, External, Underlay}

// NetworkTypeOf derives the network type from the four flags:
//
//	private privateprimary shared underlay  type
//	true    true           false  false     privateprimaryunshared
//	true    true           true   false     privateprimaryshared
//	true    false          true   false     privatesecondaryshared
//	false   false          false  false     external
//	false   false          false  true      underlay
//
// Any other combination is an error matching ErrInvalidArgument.
func NetworkTypeOf(private, privatePrimary, shared, underlay bool) (NetworkType, error) {
	for _, t := range NetworkTypes {
		p, pp, s, u := t.Flags()
		if p == private && pp == privatePrimary && s == shared && u == underlay {
			return t, nil
		}
	}
	return "", invalid("network flags private=%t privateprimary=%t shared=%t underlay=%t give no network type", private, privatePrimary, shared, underlay)
}

// Flags returns the four flags of the type; an unknown type gives all
// false.
func (t NetworkType) Flags() (private, privatePrimary, shared, underlay bool) {
	switch t {
	case PrivatePrimaryUnshared:
		return true, true, false, false
	case PrivatePrimaryShared:
		return true, true, true, false
	case PrivateSecondaryShared:
		return true, false, true, false
	case Underlay:
		return false, false, false, true
	}
	return false, false, false, false
}

// RequestedNetwork is what ClassifyNetworks needs to know of one network
// an allocation asks for. The service fills it from the stored network.
type RequestedNetwork struct {
	// ID is the network's id, as requested.
	ID string
	// PrivateSuper: the network is a private super network.
	PrivateSuper bool
	// Underlay: the network is an underlay.
	Underlay bool
	// Private: the network is a child of a private super network (of any
	// partition).
	Private bool
	// Shared: the network is shared with other projects.
	Shared bool
	// ProjectID and PartitionID are the network's.
	ProjectID   string
	PartitionID string
	// AutoAcquire is the request's autoacquire (true when not given).
	AutoAcquire bool
	// ExplicitIPs is how many of the request's ips lie in this network.
	ExplicitIPs int
}

// ClassifiedNetwork is one requested network with its type.
type ClassifiedNetwork struct {
	ID   string
	Type NetworkType
	// Acquire: the network acquires an IP per address family
	// automatically; false when the request gave it an explicit IP or
	// turned autoacquire off.
	Acquire bool
}

// ClassifyNetworks decides the type of every requested network of an
// allocation of role for project in partition, and returns them in the
// request's order. It reports every problem together, each matching
// ErrInvalidArgument:
//
//   - a network listed twice;
//   - an underlay or private super network listed;
//   - a second unshared private network;
//   - no private network;
//   - without an unshared private network, several shared ones (exactly
//     one then becomes privateprimaryshared);
//   - a machine (not a firewall) with more than one private network;
//   - a primary private network of another project;
//   - a private network outside partition;
//   - a network with autoacquire off and no explicit IP.
//
// A child of a private super network is private: shared gives
// privatesecondaryshared, unshared privateprimaryunshared; every other
// network is external. The service checks what needs the store (the
// networks and IPs exist, the partition has a private super network) and
// appends a firewall's underlay network (type Underlay, acquiring) itself.
func ClassifyNetworks(role Role, project, partition string, nets []RequestedNetwork) ([]ClassifiedNetwork, error) {
	var (
		errs     []error
		out      = make([]ClassifiedNetwork, len(nets))
		seen     = make(map[string]int, len(nets))
		primary  = -1 // index of the unshared private network
		shared   []int
		privates int
	)
	for i, n := range nets {
		f := fmt.Sprintf("networks[%d]", i)
		out[i] = ClassifiedNetwork{ID: n.ID, Type: External, Acquire: n.AutoAcquire && n.ExplicitIPs == 0}
		if j, dup := seen[n.ID]; dup {
			errs = append(errs, invalid("%s: network %s is already listed as networks[%d]", f, q(n.ID), j))
			continue
		}
		seen[n.ID] = i
		switch {
		case n.Underlay:
			errs = append(errs, invalid("%s: network %s is an underlay network, which may not be listed", f, q(n.ID)))
			continue
		case n.PrivateSuper:
			errs = append(errs, invalid("%s: network %s is a private super network, which may not be listed", f, q(n.ID)))
			continue
		}
		if !n.AutoAcquire && n.ExplicitIPs == 0 {
			errs = append(errs, invalid("%s: network %s has autoacquire off but none of the ips lies in it, so the machine would get no address there", f, q(n.ID)))
		}
		if !n.Private {
			continue
		}
		privates++
		if n.PartitionID != partition {
			errs = append(errs, invalid("%s: private network %s is in partition %s, not in the machine's partition %s", f, q(n.ID), q(n.PartitionID), q(partition)))
		}
		if n.Shared {
			out[i].Type = PrivateSecondaryShared
			shared = append(shared, i)
			continue
		}
		out[i].Type = PrivatePrimaryUnshared
		if primary >= 0 {
			errs = append(errs, invalid("%s: network %s is a second unshared private network beside %s; only one is allowed", f, q(n.ID), q(nets[primary].ID)))
			continue
		}
		primary = i
	}
	switch {
	case privates == 0:
		errs = append(errs, invalid("networks: no private network is listed; one is required"))
	case primary < 0 && len(shared) > 1:
		errs = append(errs, invalid("networks: %d shared private networks and no unshared one are listed; without an unshared private network exactly one shared private network may be listed", len(shared)))
	case primary < 0:
		primary = shared[0]
		out[primary].Type = PrivatePrimaryShared
	}
	if role != RoleFirewall && privates > 1 {
		errs = append(errs, invalid("networks: %d private networks are listed; a machine may have only one", privates))
	}
	if primary >= 0 && nets[primary].ProjectID != project {
		errs = append(errs, invalid("networks: the primary private network %s belongs to project %s, not to the allocation's project %s", q(nets[primary].ID), q(nets[primary].ProjectID), q(project)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
