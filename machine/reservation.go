package machine

import (
	"errors"
	"slices"
	"time"

	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
)

// SizeReservation keeps an amount of machines of a size in some partitions
// for one project: other projects' allocations by size may not take them.
// JSON names are metal-api's.
type SizeReservation struct {
	// ID is the reservation's id; the service generates one when empty.
	ID string `json:"id"`
	// Name is a name for people.
	Name   string `json:"name,omitempty"`
	SizeID string `json:"sizeid"`
	// PartitionIDs are the partitions the reservation holds machines in;
	// at least one, no duplicates.
	PartitionIDs []string `json:"partitionids"`
	ProjectID    string   `json:"projectid"`
	// Amount is how many machines are reserved, in each listed partition.
	Amount      int               `json:"amount"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	// Created and Changed are set by the service.
	Created time.Time `json:"created,omitzero"`
	Changed time.Time `json:"changed,omitzero"`
}

// ValidateReservation checks a reservation as create and update do,
// without the store (the size must exist; partitions and project go
// through the catalog). It returns every problem together, each matching
// ErrInvalidArgument: amount > 0; a size; at least one partition, none
// twice; a project; ids, description and labels within limits.
func ValidateReservation(r SizeReservation) error {
	errs := []error{
		limit(limits.OptionalID("id", r.ID)),
		limit(limits.Name("name", r.Name)),
		limit(limits.ID("sizeid", r.SizeID)),
		limit(limits.ID("projectid", r.ProjectID)),
		limit(limits.Description("description", r.Description)),
		limit(limits.Labels("labels", r.Labels)),
		limit(limits.Count("partitionids", len(r.PartitionIDs))),
	}
	if r.Amount <= 0 {
		errs = append(errs, invalid("amount %d: must be at least 1", r.Amount))
	}
	if len(r.PartitionIDs) == 0 {
		errs = append(errs, invalid("partitionids: at least one partition is required"))
	}
	for i, p := range r.PartitionIDs {
		f := field("partitionids", i)
		if err := limits.ID(f, p); err != nil {
			errs = append(errs, limit(err))
			continue
		}
		if j := slices.Index(r.PartitionIDs, p); j < i {
			errs = append(errs, invalid("%s %s is already listed as partitionids[%d]", f, q(p), j))
		}
	}
	return errors.Join(errs...)
}

// CheckReservations decides whether project may allocate one of
// candidates machines of size sizeID in partitionID, given the
// reservations (in creation order; those of other sizes or partitions are
// ignored) and allocated, the number of allocated machines of that size in
// that partition per project. It follows metal-api:
//
//	running = 0
//	for each reservation r:
//	    running += r.amount
//	    used = allocated[r.project]
//	    if r.project is the requester and used < r.amount: allow
//	    running = max(running - used, 0)
//	allow iff running < candidates
//
// No reservation allows. A refusal is an error matching
// ErrNoMachineAvailable that says how many of the candidates are reserved.
func CheckReservations(reservations []SizeReservation, sizeID, partitionID, project string, candidates int, allocated map[string]int) error {
	running, found := 0, false
	for _, r := range reservations {
		if r.SizeID != sizeID || !slices.Contains(r.PartitionIDs, partitionID) {
			continue
		}
		found = true
		running += r.Amount
		used := allocated[r.ProjectID]
		if r.ProjectID == project && used < r.Amount {
			return nil
		}
		running = max(running-used, 0)
	}
	if !found || running < candidates {
		return nil
	}
	return errdefs.Errorf(ErrNoMachineAvailable, "machine: no machine of size %s is available in partition %s for project %s: %d of the %d candidates are reserved for other projects",
		q(sizeID), q(partitionID), q(project), min(running, candidates), candidates)
}
