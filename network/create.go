package network

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/metalkit/metalkit/backends"
)

// shape is what create and update validate together: validation always
// uses the values the network will have afterwards.
type shape struct {
	super                      bool
	prefixes                   []netip.Prefix
	destinationPrefixes        []netip.Prefix
	defaultChildPrefixLength   map[AddressFamily]int
	additionalAnnouncableCIDRs []netip.Prefix
}

// check returns every problem of the shape, joined.
func (s shape) check() error {
	var errs []error
	if len(s.prefixes) == 0 {
		errs = append(errs, fmt.Errorf("%w: prefixes: at least one prefix is required", ErrInvalidArgument))
	}
	for _, p := range s.prefixes {
		if err := CheckPrefix(p); err != nil {
			errs = append(errs, fmt.Errorf("prefixes: %w", err))
		}
	}
	for i, p := range s.prefixes {
		for _, q := range s.prefixes[:i] {
			if p.Overlaps(q) {
				errs = append(errs, fmt.Errorf("%w: prefixes: %s overlaps %s of the same request", ErrInvalidArgument, p, q))
			}
		}
	}
	families := PrefixFamilies(s.prefixes)
	for _, p := range s.destinationPrefixes {
		if err := CheckPrefix(p); err != nil {
			errs = append(errs, fmt.Errorf("destinationprefixes: %w", err))
			continue
		}
		if f := FamilyOf(p.Addr()); !slices.Contains(families, f) {
			errs = append(errs, fmt.Errorf("%w: destinationprefixes: %s is %s, but the network has no %s prefix", ErrInvalidArgument, p, f, f))
		}
	}
	if !s.super {
		if len(s.defaultChildPrefixLength) > 0 {
			errs = append(errs, fmt.Errorf("%w: defaultchildprefixlength: only a super network (privatesuper) has default child prefix lengths", ErrInvalidArgument))
		}
		if len(s.additionalAnnouncableCIDRs) > 0 {
			errs = append(errs, fmt.Errorf("%w: additionalAnnouncableCIDRs: only a super network (privatesuper) announces additional CIDRs", ErrInvalidArgument))
		}
	} else {
		for _, f := range families {
			if _, ok := s.defaultChildPrefixLength[f]; !ok {
				errs = append(errs, fmt.Errorf("%w: defaultchildprefixlength: a super network with %s prefixes needs a default child prefix length for %s", ErrInvalidArgument, f, f))
			}
		}
		for _, f := range slices.Sorted(maps.Keys(s.defaultChildPrefixLength)) {
			bits := s.defaultChildPrefixLength[f]
			if f != IPv4 && f != IPv6 {
				errs = append(errs, fmt.Errorf("%w: defaultchildprefixlength: unknown address family %q", ErrInvalidArgument, f))
				continue
			}
			if !slices.Contains(families, f) {
				errs = append(errs, fmt.Errorf("%w: defaultchildprefixlength[%s]: the network has no %s prefix", ErrInvalidArgument, f, f))
				continue
			}
			if err := checkChildLength(f, bits, s.prefixes, "defaultchildprefixlength"); err != nil {
				errs = append(errs, err)
			}
		}
		for _, p := range s.additionalAnnouncableCIDRs {
			if err := CheckPrefix(p); err != nil {
				errs = append(errs, fmt.Errorf("additionalAnnouncableCIDRs: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// checkChildLength checks that bits is a possible child length of family f
// for every prefix of that family.
func checkChildLength(f AddressFamily, bits int, prefixes []netip.Prefix, field string) error {
	if bits < 1 || bits > f.Bits() {
		return fmt.Errorf("%w: %s[%s] = %d: must lie in 1..%d", ErrInvalidArgument, field, f, bits, f.Bits())
	}
	for _, p := range prefixes {
		if FamilyOf(p.Addr()) == f && bits <= p.Bits() {
			return fmt.Errorf("%w: %s[%s] = %d: must be longer than the prefix %s", ErrInvalidArgument, field, f, bits, p)
		}
	}
	return nil
}

// CreateTx creates a super, underlay or external network in tx. Request
// problems are returned together (errors.Join) before anything is written;
// a later failure (an overlap, a taken VRF) returns an error after partial
// writes, which the caller's Store.Update rolls back.
func CreateTx(tx backends.Tx, env Env, req CreateRequest) (*Network, error) {
	sh := shape{
		super:                      req.PrivateSuper,
		prefixes:                   req.Prefixes,
		destinationPrefixes:        req.DestinationPrefixes,
		defaultChildPrefixLength:   req.DefaultChildPrefixLength,
		additionalAnnouncableCIDRs: req.AdditionalAnnouncableCIDRs,
	}
	var errs []error
	if err := sh.check(); err != nil {
		errs = append(errs, err)
	}
	if req.PrivateSuper && req.Underlay {
		errs = append(errs, fmt.Errorf("%w: privatesuper and underlay: a network cannot be both", ErrInvalidArgument))
	}
	if (req.PrivateSuper || req.Underlay) && req.NAT {
		errs = append(errs, fmt.Errorf("%w: nat: super and underlay networks do not NAT", ErrInvalidArgument))
	}
	if (req.PrivateSuper || req.Underlay) && req.PartitionID == "" {
		errs = append(errs, fmt.Errorf("%w: partitionid: a super or underlay network needs a partition", ErrInvalidArgument))
	}
	if req.VRF != 0 && (req.VRF < MinVRF || req.VRF > MaxVRF) {
		errs = append(errs, fmt.Errorf("%w: vrf %d: must lie in %d..%d", ErrInvalidArgument, req.VRF, MinVRF, MaxVRF))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	id := req.ID
	if id == "" {
		id = env.NewID()
	}
	if ok, err := exists(tx, bucketNetworks, idKey(id)); err != nil {
		return nil, err
	} else if ok {
		return nil, fmt.Errorf("%w: network id %q already exists", ErrConflict, id)
	}
	if req.PrivateSuper {
		if err := claimPartitionRole(tx, bucketSuper, "super", req.PartitionID, id); err != nil {
			return nil, err
		}
	}
	if req.Underlay {
		if err := claimPartitionRole(tx, bucketUnderlay, "underlay", req.PartitionID, id); err != nil {
			return nil, err
		}
	}
	if err := ensureVRFPool(tx); err != nil {
		return nil, err
	}
	for _, p := range req.Prefixes {
		if err := registerPrefix(tx, p); err != nil {
			return nil, err
		}
	}
	if req.VRF != 0 {
		if err := takeVRF(tx, req.VRF, req.VRFShared); err != nil {
			return nil, err
		}
	}
	n := &Network{
		ID:                         id,
		Name:                       req.Name,
		Description:                req.Description,
		PartitionID:                req.PartitionID,
		ProjectID:                  req.ProjectID,
		Prefixes:                   slices.Clone(req.Prefixes),
		DestinationPrefixes:        nonNil(req.DestinationPrefixes),
		DefaultChildPrefixLength:   maps.Clone(req.DefaultChildPrefixLength),
		PrivateSuper:               req.PrivateSuper,
		Underlay:                   req.Underlay,
		NAT:                        req.NAT,
		VRF:                        req.VRF,
		Labels:                     maps.Clone(req.Labels),
		Shared:                     req.Shared,
		AdditionalAnnouncableCIDRs: slices.Clone(req.AdditionalAnnouncableCIDRs),
		NetworkType:                kindOf(req.PrivateSuper, req.Underlay, "", false),
		Created:                    env.Now,
		Changed:                    env.Now,
	}
	if err := putNetwork(tx, n); err != nil {
		return nil, err
	}
	return n, nil
}

func claimPartitionRole(tx backends.Tx, bucket, role, partition, id string) error {
	b, err := tx.Get(bucket, idKey(partition))
	switch {
	case err == nil:
		return fmt.Errorf("%w: partition %q already has a %s network: %q", ErrConflict, partition, role, b)
	case !errors.Is(err, backends.ErrNotFound):
		return err
	}
	return tx.Put(bucket, idKey(partition), []byte(id))
}

func kindOf(super, underlay bool, parent string, shared bool) Kind {
	switch {
	case super:
		return KindSuper
	case underlay:
		return KindUnderlay
	case parent != "" && shared:
		return KindChildShared
	case parent != "":
		return KindChild
	}
	return KindExternal
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return slices.Clone(s)
}
