package network

import (
	"errors"
	"maps"
	"net/netip"
	"slices"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/limits"
)

// UpdateTx applies an admin's update. Validation uses the values the
// network will have afterwards, so a super network gains a family by adding
// its prefix and its default child length in one update. A removed prefix
// must hold no IP and no child.
func UpdateTx(tx backends.Tx, env Env, req UpdateRequest) (*Network, error) {
	var errs []error
	if req.Name != nil {
		errs = append(errs, fieldLimits(limits.Name("name", *req.Name))...)
	}
	if req.Description != nil {
		errs = append(errs, fieldLimits(limits.Description("description", *req.Description))...)
	}
	errs = append(errs, fieldLimits(limits.Labels("labels", req.Labels))...)
	dcl, err := req.DefaultChildPrefixLength.canonical("defaultchildprefixlength")
	if err != nil {
		errs = append(errs, err)
	}
	req.DefaultChildPrefixLength = dcl
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	n, err := GetTx(tx, req.ID)
	if err != nil {
		return nil, err
	}
	next := *n
	if req.Name != nil {
		next.Name = *req.Name
	}
	if req.Description != nil {
		next.Description = *req.Description
	}
	if req.Labels != nil {
		next.Labels = maps.Clone(req.Labels)
	}
	if req.Shared != nil {
		if n.Shared && !*req.Shared {
			return nil, errdefs.Errorf(ErrInvalidArgument, "network: shared: network %q is shared and cannot become unshared", n.ID)
		}
		next.Shared = *req.Shared
		next.NetworkType = kindOf(n.PrivateSuper, n.Underlay, n.ParentNetworkID, next.Shared)
	}
	if req.Prefixes != nil {
		if n.ParentNetworkID != "" && !slices.Equal(req.Prefixes, n.Prefixes) {
			return nil, errdefs.Errorf(ErrInvalidArgument, "network: prefixes: network %q is a child network; its prefixes are allocated, not set", n.ID)
		}
		next.Prefixes = slices.Clone(req.Prefixes)
	}
	if req.DestinationPrefixes != nil {
		next.DestinationPrefixes = slices.Clone(req.DestinationPrefixes)
	}
	if req.DefaultChildPrefixLength != nil {
		if !n.PrivateSuper {
			return nil, invalid("defaultchildprefixlength: network %q is a %s network; only a super network (privatesuper) has default child prefix lengths", n.ID, n.NetworkType)
		}
		next.DefaultChildPrefixLength = maps.Clone(req.DefaultChildPrefixLength)
	}
	if req.AdditionalAnnouncableCIDRs != nil {
		if !req.Force {
			for _, c := range n.AdditionalAnnouncableCIDRs {
				if !slices.Contains(req.AdditionalAnnouncableCIDRs, c) {
					return nil, errdefs.Errorf(ErrInvalidArgument, "network: additionalAnnouncableCIDRs: removing %s needs force", c)
				}
			}
		}
		next.AdditionalAnnouncableCIDRs = slices.Clone(req.AdditionalAnnouncableCIDRs)
	}
	sh := shape{
		super:                      next.PrivateSuper,
		prefixes:                   next.Prefixes,
		destinationPrefixes:        next.DestinationPrefixes,
		defaultChildPrefixLength:   next.DefaultChildPrefixLength,
		additionalAnnouncableCIDRs: next.AdditionalAnnouncableCIDRs,
	}
	if n.ParentNetworkID == "" {
		if err := sh.check(); err != nil {
			return nil, err
		}
	}
	removed, added := diffPrefixes(n.Prefixes, next.Prefixes)
	for _, p := range removed {
		if err := checkPrefixEmpty(tx, n, p); err != nil {
			return nil, err
		}
		if err := deletePrefix(tx, p); err != nil {
			return nil, errdefs.Errorf(nil, "network: network %q, prefix %s: %w", n.ID, p, err)
		}
	}
	for _, p := range added {
		if err := registerPrefix(tx, p); err != nil {
			return nil, err
		}
	}
	next.Changed = env.Now
	if err := putNetwork(tx, &next); err != nil {
		return nil, err
	}
	return &next, nil
}

func diffPrefixes(old, new []netip.Prefix) (removed, added []netip.Prefix) {
	for _, p := range old {
		if !slices.Contains(new, p) {
			removed = append(removed, p)
		}
	}
	for _, p := range new {
		if !slices.Contains(old, p) {
			added = append(added, p)
		}
	}
	return removed, added
}

// checkPrefixEmpty fails when p of network n holds an allocated IP or a
// child.
func checkPrefixEmpty(tx backends.Tx, n *Network, p netip.Prefix) error {
	u, err := ipam.GetUsage(tx, p)
	if err != nil {
		return err
	}
	if u.UsedChildren.Sign() > 0 {
		return errdefs.Errorf(ErrConflict, "network: prefixes: %s of network %q still holds %s child prefixes", p, n.ID, u.UsedChildren)
	}
	if u.AllocatedIPs.Sign() > 0 {
		return errdefs.Errorf(ErrConflict, "network: prefixes: %s of network %q still holds %s allocated IPs", p, n.ID, u.AllocatedIPs)
	}
	return nil
}
