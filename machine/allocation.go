package machine

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// Allocate allocates a machine or firewall for a project and returns it,
// in one transaction: the pick, one IP per address family of every
// network that acquires automatically, the ASN, the allocation, the tags,
// the indexes and the audit entry. Any failure leaves nothing behind: no
// IP, no ASN, no half-set machine, and a picked machine stays a candidate.
// The creator is the caller in ctx.
//
// With req.UUID the machine must exist and be free, and a partitionid or
// sizeid in the request must be its own (an error naming both otherwise);
// state, liveliness and waiting are not checked, nor are reservations and
// rack spreading. Without it, one machine is picked among the candidates
// of req.PartitionID and req.SizeID (free, available, waiting, Alive): the
// size reservations may refuse (ErrNoMachineAvailable, saying the rest is
// reserved), rack spreading narrows the candidates to the racks holding the
// fewest of the project's machines (and of those with a placement tag),
// and Options.Rand picks one: a candidate rack in proportion to its
// candidates, then the first candidate of it at or after a random point of
// its hash-ordered index. That costs O(racks + log n) store operations,
// whatever the number of candidates n. No candidate is
// ErrNoMachineAvailable.
//
// The project, partition and image (for the role and the machine's size)
// go through the catalog; a quota the catalog reports is checked against
// the project's allocations of the same role (machines and firewalls are
// counted apart), ErrQuota at the maximum.
func (t *Tx) Allocate(req AllocateRequest) (*Machine, error) {
	spec, quota, err := t.s.prepareAllocate(t.ctx, req)
	if err != nil {
		return nil, err
	}
	return t.allocate(spec, quota)
}

// Allocate runs Tx.Allocate in its own transaction. The catalog hooks that
// need no store (project, partition, quota, and the image when the request
// names the size) run before it opens; the image of a machine chosen by id
// without a size in the request is checked inside it.
func (s *Service) Allocate(ctx context.Context, req AllocateRequest) (*Machine, error) {
	spec, quota, err := s.prepareAllocate(ctx, req)
	if err != nil {
		return nil, err
	}
	return mutate(ctx, s, func(t *Tx) (*Machine, error) { return t.allocate(spec, quota) })
}

// prepareAllocate takes the steps of an allocation that need no store:
// it validates req, checks that the caller in ctx may allocate for its
// project and runs allocationHooks. It returns the spec and the quota
// (nil without one).
func (s *Service) prepareAllocate(ctx context.Context, req AllocateRequest) (*AllocateSpec, *int, error) {
	spec, err := ValidateAllocateRequest(req, caller(ctx))
	if err != nil {
		return nil, nil, err
	}
	if err := scopeOf(ctx).project(req.ProjectID); err != nil {
		return nil, nil, err
	}
	quota, err := s.allocationHooks(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	return spec, quota, nil
}

// allocationHooks runs the catalog hooks of an allocation that need no
// store: project, partition, the image when the size is known, the quota.
func (s *Service) allocationHooks(ctx context.Context, spec *AllocateSpec) (*int, error) {
	req := spec.Request
	var errs []error
	errs = append(errs, s.checkProject(ctx, req.ProjectID), s.checkPartition(ctx, req.PartitionID))
	if req.SizeID != "" {
		errs = append(errs, s.checkImage(ctx, req.ImageID, req.Role, req.SizeID))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	max, set, err := s.catalog.Quota(ctx, req.ProjectID, string(req.Role))
	if err != nil {
		return nil, hookError("projectid", req.ProjectID, err)
	}
	if !set {
		return nil, nil
	}
	return &max, nil
}

func (t *Tx) allocate(spec *AllocateSpec, quota *int) (*Machine, error) {
	req := spec.Request
	var e *entry
	var err error
	if req.UUID != "" {
		if e, err = t.visible(req.UUID); err != nil {
			return nil, err
		}
		if err := CheckAllocationTarget(req, e.m); err != nil {
			return nil, err
		}
		if req.SizeID == "" {
			// The image could not be checked before the machine was known.
			if err := t.s.checkImage(t.ctx, req.ImageID, req.Role, e.m.SizeID); err != nil {
				return nil, err
			}
		}
	} else {
		if e, err = t.pick(req); err != nil {
			return nil, err
		}
	}
	m := e.m
	if quota != nil {
		n, err := countRole(t.tx, req.ProjectID, req.Role)
		if err != nil {
			return nil, err
		}
		if n >= *quota {
			return nil, errorQuota(req.ProjectID, req.Role, n, *quota)
		}
	}
	nets, err := t.allocationNetworks(spec, m)
	if err != nil {
		return nil, err
	}
	asn, err := acquireASN(t.tx)
	if err != nil {
		return nil, err
	}
	for i := range nets {
		nets[i].ASN = asn
	}
	now := t.now()
	alloc := &Allocation{
		Creator:            spec.Creator,
		Created:            now,
		Name:               req.Name,
		Description:        req.Description,
		Hostname:           req.Hostname,
		Project:            req.ProjectID,
		ImageID:            req.ImageID,
		FilesystemLayoutID: req.FilesystemLayoutID,
		Networks:           nets,
		SSHPubKeys:         nonNil(req.SSHPubKeys),
		UserData:           req.UserData,
		Role:               req.Role,
		AllocationUUID:     t.s.ids(),
		FirewallRules:      req.FirewallRules,
		DNSServers:         slices.Clone(req.DNSServers),
		NTPServers:         slices.Clone(req.NTPServers),
	}
	next := *m
	next.Allocation = alloc
	next.Waiting = false
	next.Tags = MachineTags(req.Tags, SystemLabelsOf(&next))
	next.Changed = now
	e.m = &next
	if err := e.save(t.tx); err != nil {
		return nil, err
	}
	t.wakeAfterCommit(m.ID)
	detail := "machine.allocate"
	if req.Role == RoleFirewall {
		detail = "firewall.allocate"
	}
	return &next, t.record(detail, machinePath(m.ID), req)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return slices.Clone(s)
}

func errorQuota(project string, role Role, n, max int) error {
	return fmtErr(ErrQuota, "project %s holds %d allocations of role %s; its quota is %d", q(project), n, role, max)
}

// pick chooses a candidate of the request's partition and size.
func (t *Tx) pick(req AllocateRequest) (*entry, error) {
	racks, err := candidateRacks(t.tx, req.PartitionID, req.SizeID)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, r := range racks {
		total += r.count
	}
	if total == 0 {
		return nil, fmtErr(ErrNoMachineAvailable, "no machine of size %s is available in partition %s: none is free, available, waiting and alive", q(req.SizeID), q(req.PartitionID))
	}
	rs, err := listReservations(t.tx)
	if err != nil {
		return nil, err
	}
	allocated := map[string]int{}
	var projects []string
	for _, r := range rs {
		if r.SizeID == req.SizeID && slices.Contains(r.PartitionIDs, req.PartitionID) && !slices.Contains(projects, r.ProjectID) {
			projects = append(projects, r.ProjectID)
		}
	}
	if len(projects) > 0 && !slices.Contains(projects, req.ProjectID) {
		projects = append(projects, req.ProjectID)
	}
	var mine map[string]allocIndex
	for _, p := range projects {
		in, err := allocatedIn(t.tx, p, req.PartitionID)
		if err != nil {
			return nil, err
		}
		for _, a := range in {
			if a.Size == req.SizeID {
				allocated[p]++
			}
		}
		if p == req.ProjectID {
			mine = in
		}
	}
	plain := make([]SizeReservation, len(rs))
	for i, r := range rs {
		plain[i] = *r
	}
	if err := CheckReservations(plain, req.SizeID, req.PartitionID, req.ProjectID, total, allocated); err != nil {
		return nil, err
	}
	if mine == nil {
		if mine, err = allocatedIn(t.tx, req.ProjectID, req.PartitionID); err != nil {
			return nil, err
		}
	}
	// Rack spreading over the candidate racks: one placement per rack.
	cands := make([]Placement, len(racks))
	for i, r := range racks {
		cands[i] = Placement{ID: r.rack, RackID: r.rack}
	}
	var project []Placement
	for id, a := range mine {
		if a.Size == req.SizeID && a.Role == req.Role {
			project = append(project, Placement{ID: id, RackID: a.Rack, Tags: a.Tags})
		}
	}
	slices.SortFunc(project, func(a, b Placement) int { return strings.Compare(a.ID, b.ID) })
	chosen := SpreadAcrossRacks(cands, project, req.PlacementTags)
	counts := map[string]int{}
	for _, r := range racks {
		counts[r.rack] = r.count
	}
	sum := 0
	for _, c := range chosen {
		sum += counts[c.RackID]
	}
	t.s.randMu.Lock()
	n := t.s.rand.IntN(sum)
	point := t.s.rand.Uint64()
	t.s.randMu.Unlock()
	rack := chosen[len(chosen)-1].RackID
	for _, c := range chosen {
		if n < counts[c.RackID] {
			rack = c.RackID
			break
		}
		n -= counts[c.RackID]
	}
	id, err := t.candidateAt(req.PartitionID, req.SizeID, rack, point)
	if err != nil {
		return nil, err
	}
	e, err := loadMachine(t.tx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, corrupt("the candidate index of partition %s size %s names machine %s, which does not exist", q(req.PartitionID), q(req.SizeID), q(id))
	}
	if err != nil {
		return nil, err
	}
	if !IsCandidate(e.m, e.c, req.PartitionID, req.SizeID) || e.m.RackID != rack {
		return nil, corrupt("the candidate index of partition %s size %s names machine %s, which is no candidate in rack %s", q(req.PartitionID), q(req.SizeID), q(id), q(rack))
	}
	return e, nil
}

// candidateAt returns the first candidate of rack at or after point of the
// hash order, wrapping around to the rack's first.
func (t *Tx) candidateAt(partition, size, rack string, point uint64) (string, error) {
	bucket := candidateBucket(partition, size)
	prefix := rackPrefix(rack)
	var id string
	visit := func(k, _ []byte) (bool, error) {
		if r, cid, ok := splitCandidateKey(k); ok && r == rack && cid != "" {
			id = cid
		}
		return false, nil
	}
	if err := t.tx.Ascend(bucket, candidatePoint(rack, point), visit); err != nil {
		return "", err
	}
	if id != "" {
		return id, nil
	}
	if err := t.tx.Ascend(bucket, prefix, visit); err != nil {
		return "", err
	}
	if id == "" {
		return "", corrupt("partition %s size %s: the candidate count of rack %s is not zero, but the rack has no candidate", q(partition), q(size), q(rack))
	}
	return id, nil
}
