package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/machine"
)

// partitionCapacityRequest is metal-api's v1.PartitionCapacityRequest.
type partitionCapacityRequest struct {
	ID     *string `json:"id"`
	SizeID *string `json:"sizeid"`
	// ProjectID, when given, is the project whose own size reservations do
	// not reduce the free counts.
	ProjectID *string `json:"projectid"`
}

// partitionCapacity is metal-api's v1.PartitionCapacity.
type partitionCapacity struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Servers     []*serverCapacity `json:"servers"`
}

// serverCapacity is metal-api's v1.ServerCapacity: the machines of one
// size in one partition. Allocated, free-or-allocatable and unavailable
// add up to total, and so do phoned home, waiting and other.
type serverCapacity struct {
	Size        string `json:"size"`
	Total       int    `json:"total,omitempty"`
	PhonedHome  int    `json:"phoned_home,omitempty"`
	Waiting     int    `json:"waiting,omitempty"`
	Other       int    `json:"other,omitempty"`
	Allocated   int    `json:"allocated,omitempty"`
	Allocatable int    `json:"allocatable,omitempty"`
	Free        int    `json:"free,omitempty"`
	Unavailable int    `json:"unavailable,omitempty"`
	Faulty      int    `json:"faulty,omitempty"`
	// OtherMachines and FaultyMachines name the machines of Other and
	// Faulty.
	OtherMachines         []string `json:"othermachines,omitempty"`
	FaultyMachines        []string `json:"faultymachines,omitempty"`
	Reservations          int      `json:"reservations,omitempty"`
	UsedReservations      int      `json:"usedreservations,omitempty"`
	RemainingReservations int      `json:"remainingreservations,omitempty"`
}

// partitionCapacity answers the machine capacity of the partitions (one
// when the request names it) per size, as metal-api computes it:
//
//   - only machines with an event container, in a partition the catalog
//     keeps, are counted; a size the library does not know counts as
//     "unknown";
//   - allocated when allocated; allocatable and free when a candidate of an
//     allocation by size (waiting, available, Alive); otherwise unavailable;
//   - phoned home or waiting by the newest event, else other;
//   - faulty when the machine has an issue (last-event-error aside);
//   - every size reservation of the partition adds its amount to
//     reservations and the project's machines of the size (at most the
//     amount) to used reservations; the unused rest of the reservations
//     of projects other than the request's is not free (never below 0).
//
// Everything is read in one transaction; partitions are ordered by id,
// sizes by id.
func (s *Server) partitionCapacity(w http.ResponseWriter, r *http.Request) {
	var req partitionCapacityRequest
	if err := decodeFind(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := kitView(r.Context(), s.kit, func(tx *metalkit.Tx) ([]*partitionCapacity, error) {
		return capacityTx(tx, deref(req.ID), deref(req.SizeID), req.ProjectID)
	})
	s.reply(w, r, http.StatusOK, out, err)
}

func capacityTx(tx *metalkit.Tx, partitionID, sizeID string, project *string) ([]*partitionCapacity, error) {
	if partitionID != "" {
		if _, err := getPartitionTx(tx.Backend(), partitionID); err != nil {
			return nil, err
		}
	}
	ms, err := tx.Machines.List(machine.Filter{PartitionID: partitionID, SizeID: sizeID})
	if err != nil {
		return nil, err
	}
	faulty := map[string]bool{}
	if len(ms) > 0 {
		found, err := tx.Machines.Issues(machine.IssueParams{MachineIDs: mapAll(ms, machineID), Omit: []machine.IssueType{machine.IssueLastEventError}})
		if err != nil {
			return nil, err
		}
		for _, mi := range found {
			faulty[mi.MachineID] = true
		}
	}
	refs := newRefs(tx)
	known := map[string]bool{}
	byPartition := map[string]*partitionCapacity{}
	allocated := countAllocations(ms)
	for _, m := range ms {
		c, err := refs.events(m.ID)
		if err != nil {
			return nil, err
		}
		if c == nil {
			continue
		}
		p, err := refs.partition(m.PartitionID)
		if err != nil {
			return nil, err
		}
		if p == nil {
			continue
		}
		pc := byPartition[p.ID]
		if pc == nil {
			pc = &partitionCapacity{ID: p.ID, Name: p.Name, Description: p.Description, Servers: []*serverCapacity{}}
			byPartition[p.ID] = pc
		}
		size := machine.UnknownSize
		if m.SizeID != "" && m.SizeID != machine.UnknownSize {
			if _, ok := known[m.SizeID]; !ok {
				_, err := tx.Machines.GetSize(m.SizeID)
				if err != nil && !absent(err) {
					return nil, err
				}
				known[m.SizeID] = err == nil
			}
			if known[m.SizeID] {
				size = m.SizeID
			}
		}
		sc := serverOf(pc, size)
		sc.Total++
		if faulty[m.ID] {
			sc.Faulty++
			sc.FaultyMachines = append(sc.FaultyMachines, m.ID)
		}
		switch {
		case m.Allocated():
			sc.Allocated++
		case machine.IsCandidate(m, c, m.PartitionID, m.SizeID):
			sc.Allocatable++
			sc.Free++
		default:
			sc.Unavailable++
		}
		newest, _ := c.Newest()
		switch newest.Event {
		case machine.EventPhonedHome:
			sc.PhonedHome++
		case machine.EventWaiting:
			sc.Waiting++
		default:
			sc.Other++
			sc.OtherMachines = append(sc.OtherMachines, m.ID)
		}
	}
	rvs, err := tx.Machines.ListReservations(machine.ReservationFilter{})
	if err != nil {
		return nil, err
	}
	out := make([]*partitionCapacity, 0, len(byPartition))
	for _, pc := range byPartition {
		for _, sc := range pc.Servers {
			for _, rv := range rvs {
				if rv.SizeID != sc.Size || !slices.Contains(rv.PartitionIDs, pc.ID) {
					continue
				}
				used := min(allocated[allocationKey{rv.ProjectID, pc.ID, sc.Size}], rv.Amount)
				sc.Reservations += rv.Amount
				sc.UsedReservations += used
				if project != nil && *project == rv.ProjectID {
					continue
				}
				sc.Free = max(sc.Free-(rv.Amount-used), 0)
			}
			sc.RemainingReservations = sc.Reservations - sc.UsedReservations
		}
		slices.SortFunc(pc.Servers, func(a, b *serverCapacity) int { return strings.Compare(a.Size, b.Size) })
		out = append(out, pc)
	}
	slices.SortFunc(out, func(a, b *partitionCapacity) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// serverOf returns pc's capacity of size, adding it when missing.
func serverOf(pc *partitionCapacity, size string) *serverCapacity {
	for _, sc := range pc.Servers {
		if sc.Size == size {
			return sc
		}
	}
	sc := &serverCapacity{Size: size}
	pc.Servers = append(pc.Servers, sc)
	return sc
}
