package network

import (
	"errors"
	"maps"
	"net/netip"
	"slices"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
)

// SuperTx returns the super network of a partition, or an error wrapping
// ErrNotFound.
func SuperTx(tx backends.Tx, partition string) (*Network, error) {
	b, err := tx.Get(bucketSuper, idKey(partition))
	if errors.Is(err, backends.ErrNotFound) {
		return nil, errdefs.Errorf(ErrNotFound, "network: partition %q has no super network", partition)
	}
	if err != nil {
		return nil, err
	}
	return GetTx(tx, string(b))
}

// childLengths computes the child prefix length per family of a request:
// the parent's defaults, overridden or extended by req.Length, restricted
// to req.AddressFamily.
func childLengths(parent *Network, req AllocateRequest) (map[AddressFamily]int, error) {
	lengths := maps.Clone(parent.DefaultChildPrefixLength)
	if lengths == nil {
		lengths = map[AddressFamily]int{}
	}
	for f, bits := range req.Length {
		lengths[f] = bits
	}
	if req.AddressFamily != "" {
		f, err := ParseAddressFamily(string(req.AddressFamily))
		if err != nil {
			return nil, err
		}
		bits, ok := lengths[f]
		if !ok {
			return nil, errdefs.Errorf(ErrInvalidArgument, "network: addressfamily %s: the super network %q has no child prefix length for %s and the request gives none", f, parent.ID, f)
		}
		lengths = map[AddressFamily]int{f: bits}
	}
	if len(lengths) == 0 {
		return nil, errdefs.Errorf(ErrInvalidArgument, "network: length: no child prefix length for any family")
	}
	for _, f := range Families {
		bits, ok := lengths[f]
		if !ok {
			continue
		}
		if !parent.HasFamily(f) {
			return nil, errdefs.Errorf(ErrInvalidArgument, "network: length[%s]: the super network %q has no %s prefix", f, parent.ID, f)
		}
		if err := checkChildLength(f, bits, parent.Prefixes, "length"); err != nil {
			return nil, err
		}
	}
	return lengths, nil
}

// AllocateChildTx allocates a child network of the partition's super
// network: for each family, IPv4 first, the first parent prefix of that
// family with room gives a best-fit child block; then a VRF is taken from
// the pool. Any failure returns an error and, once the caller's Update
// rolls back, leaves no block and no VRF behind.
func AllocateChildTx(tx backends.Tx, env Env, req AllocateRequest) (*Network, error) {
	errs := fieldLimits(
		limits.ID("partitionid", req.PartitionID),
		limits.ID("projectid", req.ProjectID),
		limits.Name("name", req.Name),
		limits.Description("description", req.Description),
		limits.Labels("labels", req.Labels),
	)
	errs = append(errs, checkPrefixes("destinationprefixes", req.DestinationPrefixes)...)
	length, err := req.Length.canonical("length")
	if err != nil {
		errs = append(errs, err)
	}
	req.Length = length
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	parent, err := SuperTx(tx, req.PartitionID)
	if err != nil {
		return nil, err
	}
	lengths, err := childLengths(parent, req)
	if err != nil {
		return nil, err
	}
	var prefixes []netip.Prefix
	for _, f := range Families {
		bits, ok := lengths[f]
		if !ok {
			continue
		}
		child, err := allocateFromFamily(tx, parent, f, bits)
		if err != nil {
			return nil, err
		}
		prefixes = append(prefixes, child)
	}
	vrf, err := newVRF(tx)
	if err != nil {
		return nil, err
	}
	id := env.NewID()
	if ok, err := backends.Has(tx, bucketNetworks, idKey(id)); err != nil {
		return nil, err
	} else if ok {
		return nil, errdefs.Errorf(ErrConflict, "network: the new child's id %q is taken already", id)
	}
	n := &Network{
		ID:                  id,
		Name:                req.Name,
		Description:         req.Description,
		PartitionID:         parent.PartitionID,
		ProjectID:           req.ProjectID,
		Prefixes:            prefixes,
		DestinationPrefixes: nonNil(req.DestinationPrefixes),
		NAT:                 req.NAT,
		VRF:                 vrf,
		ParentNetworkID:     parent.ID,
		Labels:              maps.Clone(req.Labels),
		Shared:              req.Shared,
		NetworkType:         kindOf(false, false, parent.ID, req.Shared),
		Created:             env.Now,
		Changed:             env.Now,
	}
	if err := putNetwork(tx, n); err != nil {
		return nil, err
	}
	if err := tx.Put(bucketChildren, pairKey(parent.ID, []byte(n.ID)), nil); err != nil {
		return nil, err
	}
	return n, nil
}

// allocateFromFamily tries the parent's prefixes of family f in stored
// order; the first with room gives the child.
func allocateFromFamily(tx backends.Tx, parent *Network, f AddressFamily, bits int) (netip.Prefix, error) {
	var last error
	for _, p := range parent.Prefixes {
		if FamilyOf(p.Addr()) != f {
			continue
		}
		child, err := acquireChild(tx, p, bits)
		if err == nil {
			return child, nil
		}
		if !isExhausted(err) {
			return netip.Prefix{}, err
		}
		last = err
	}
	return netip.Prefix{}, errdefs.Errorf(nil, "network: super network %q: no %s prefix has room for a /%d child: %w", parent.ID, f, bits, last)
}

// FreeTx frees a child network: its blocks return to the parent and its
// VRF to the pool. It fails, changing nothing, while the child holds an
// allocated IP of either family.
func FreeTx(tx backends.Tx, id string) (*Network, error) {
	n, err := GetTx(tx, id)
	if err != nil {
		return nil, err
	}
	if n.ParentNetworkID == "" {
		return nil, errdefs.Errorf(ErrInvalidArgument, "network: network %q is a %s network, not a child; only child networks are freed", id, n.NetworkType)
	}
	if err := removeNetwork(tx, n); err != nil {
		return nil, err
	}
	return n, nil
}

// DeleteTx deletes any network. It fails, changing nothing, while the
// network has children or holds allocated IPs; deleting a child releases
// its blocks in the parent.
func DeleteTx(tx backends.Tx, id string) (*Network, error) {
	n, err := GetTx(tx, id)
	if err != nil {
		return nil, err
	}
	if has, err := backends.HasPrefix(tx, bucketChildren, pairStart(id)); err != nil {
		return nil, err
	} else if has {
		return nil, errdefs.Errorf(ErrConflict, "network: network %q still has child networks", id)
	}
	if err := removeNetwork(tx, n); err != nil {
		return nil, err
	}
	return n, nil
}

// removeNetwork removes a network that has no children: it checks that no
// IP is allocated, releases or deletes its prefixes, gives up its VRF and
// removes its records.
func removeNetwork(tx backends.Tx, n *Network) error {
	if held, err := holdsIPs(tx, n); err != nil {
		return err
	} else if held {
		return errdefs.Errorf(ErrConflict, "network: network %q still holds allocated IPs", n.ID)
	}
	var parent *Network
	if n.ParentNetworkID != "" {
		p, err := GetTx(tx, n.ParentNetworkID)
		if err != nil {
			return err
		}
		parent = p
	}
	for _, p := range n.Prefixes {
		var err error
		if parent != nil {
			err = releaseChild(tx, parentPrefixOf(parent, p), p)
		} else {
			err = deletePrefix(tx, p)
		}
		if err != nil {
			return errdefs.Errorf(nil, "network: network %q, prefix %s: %w", n.ID, p, err)
		}
	}
	if err := dropVRF(tx, n.VRF); err != nil {
		return err
	}
	if n.PrivateSuper {
		if err := tx.Delete(bucketSuper, idKey(n.PartitionID)); err != nil {
			return err
		}
	}
	if n.Underlay {
		if err := tx.Delete(bucketUnderlay, idKey(n.PartitionID)); err != nil {
			return err
		}
	}
	if parent != nil {
		if err := tx.Delete(bucketChildren, pairKey(parent.ID, []byte(n.ID))); err != nil {
			return err
		}
	}
	return tx.Delete(bucketNetworks, idKey(n.ID))
}

// parentPrefixOf returns the parent's prefix that contains child.
func parentPrefixOf(parent *Network, child netip.Prefix) netip.Prefix {
	i := slices.IndexFunc(parent.Prefixes, func(p netip.Prefix) bool {
		return p.Bits() <= child.Bits() && p.Contains(child.Addr())
	})
	if i < 0 {
		return netip.Prefix{}
	}
	return parent.Prefixes[i]
}
