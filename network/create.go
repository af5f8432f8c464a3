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
		errs = append(errs, invalid("prefixes: at least one prefix is required"))
	}
	errs = append(errs, checkPrefixes("prefixes", s.prefixes)...)
	for i, p := range s.prefixes {
		for _, q := range s.prefixes[:i] {
			if p.Overlaps(q) {
				errs = append(errs, invalid("prefixes: %s overlaps %s of the same request", p, q))
			}
		}
	}
	families := PrefixFamilies(s.prefixes)
	errs = append(errs, checkPrefixes("destinationprefixes", s.destinationPrefixes)...)
	for _, p := range s.destinationPrefixes {
		if !p.IsValid() {
			continue
		}
		if f := FamilyOf(p.Addr()); !slices.Contains(families, f) {
			errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "network: destinationprefixes: %s is %s, but the network has no %s prefix", p, f, f))
		}
	}
	if !s.super {
		if s.defaultChildPrefixLength != nil {
			errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "network: defaultchildprefixlength: only a super network (privatesuper) has default child prefix lengths"))
		}
		if len(s.additionalAnnouncableCIDRs) > 0 {
			errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "network: additionalAnnouncableCIDRs: only a super network (privatesuper) announces additional CIDRs"))
		}
	} else {
		for _, f := range families {
			if _, ok := s.defaultChildPrefixLength[f]; !ok {
				errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "network: defaultchildprefixlength: a super network with %s prefixes needs a default child prefix length for %s", f, f))
			}
		}
		for _, f := range slices.Sorted(maps.Keys(s.defaultChildPrefixLength)) {
			bits := s.defaultChildPrefixLength[f]
			if !slices.Contains(families, f) {
				errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "network: defaultchildprefixlength[%s]: the network has no %s prefix", f, f))
				continue
			}
			if err := checkChildLength(f, bits, s.prefixes, "defaultchildprefixlength"); err != nil {
				errs = append(errs, err)
			}
		}
		errs = append(errs, checkPrefixes("additionalAnnouncableCIDRs", s.additionalAnnouncableCIDRs)...)
	}
	return errors.Join(errs...)
}

// checkChildLength checks that bits is a possible child length of family f
// for every prefix of that family.
func checkChildLength(f AddressFamily, bits int, prefixes []netip.Prefix, field string) error {
	if bits < 1 || bits > f.Bits() {
		return errdefs.Errorf(ErrInvalidArgument, "network: %s[%s] = %d: must lie in 1..%d", field, f, bits, f.Bits())
	}
	for _, p := range prefixes {
		if FamilyOf(p.Addr()) == f && bits <= p.Bits() {
			return errdefs.Errorf(ErrInvalidArgument, "network: %s[%s] = %d: must be longer than the prefix %s", field, f, bits, p)
		}
	}
	return nil
}

// CreateTx creates a super, underlay or external network in tx. Request
// problems are returned together (errors.Join) before anything is written;
// a later failure (an overlap, a taken VRF) returns an error after partial
// writes, which the caller's Store.Update rolls back.
func CreateTx(tx backends.Tx, env Env, req CreateRequest) (*Network, error) {
	errs := fieldLimits(
		limits.OptionalID("id", req.ID),
		limits.OptionalID("partitionid", req.PartitionID),
		limits.OptionalID("projectid", req.ProjectID),
		limits.Name("name", req.Name),
		limits.Description("description", req.Description),
		limits.Labels("labels", req.Labels),
	)
	dcl, err := req.DefaultChildPrefixLength.canonical("defaultchildprefixlength")
	if err != nil {
		errs = append(errs, err)
	}
	req.DefaultChildPrefixLength = dcl
	sh := shape{
		super:                      req.PrivateSuper,
		prefixes:                   req.Prefixes,
		destinationPrefixes:        req.DestinationPrefixes,
		defaultChildPrefixLength:   req.DefaultChildPrefixLength,
		additionalAnnouncableCIDRs: req.AdditionalAnnouncableCIDRs,
	}
	if err := sh.check(); err != nil {
		errs = append(errs, err)
	}
	if req.PrivateSuper && req.Underlay {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "network: privatesuper and underlay: a network cannot be both"))
	}
	if (req.PrivateSuper || req.Underlay) && req.NAT {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "network: nat: super and underlay networks do not NAT"))
	}
	if (req.PrivateSuper || req.Underlay) && req.PartitionID == "" {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "network: partitionid: a super or underlay network needs a partition"))
	}
	if req.VRF != 0 && (req.VRF < MinVRF || req.VRF > MaxVRF) {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "network: vrf %d: must lie in %d..%d", req.VRF, MinVRF, MaxVRF))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	id := req.ID
	if id == "" {
		id = env.NewID()
	}
	if ok, err := backends.Has(tx, bucketNetworks, idKey(id)); err != nil {
		return nil, err
	} else if ok {
		return nil, errdefs.Errorf(ErrConflict, "network: network id %q already exists", id)
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
		return errdefs.Errorf(ErrConflict, "network: partition %q already has a %s network: %q", partition, role, b)
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

// fieldLimits collects the errors of limits checks, each wrapped as this
// package's ErrInvalidArgument.
func fieldLimits(checks ...error) []error {
	var errs []error
	for _, err := range checks {
		if err != nil {
			errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "network: %w", err))
		}
	}
	return errs
}
