package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/machine"
)

// sizeResponse is metal-api's v1.SizeResponse.
type sizeResponse struct {
	ID          string               `json:"id"`
	Name        string               `json:"name"`
	Description string               `json:"description"`
	Constraints []machine.Constraint `json:"constraints"`
	Labels      map[string]string    `json:"labels"`
	Created     time.Time            `json:"created"`
	Changed     time.Time            `json:"changed"`
}

func newSizeResponse(s *machine.Size) *sizeResponse {
	out := &sizeResponse{
		ID: s.ID, Name: s.Name, Description: s.Description,
		Constraints: slices.Clone(s.Constraints), Labels: s.Labels,
		Created: s.Created, Changed: s.Changed,
	}
	if out.Constraints == nil {
		out.Constraints = []machine.Constraint{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	return out
}

func newSizeResponses(sizes []*machine.Size) []*sizeResponse { return mapAll(sizes, newSizeResponse) }

// unknownSize is the size of a machine whose hardware matches no size or
// several (metal-api answers it with its id as its name).
func unknownSize() *sizeResponse {
	return newSizeResponse(&machine.Size{ID: machine.UnknownSize, Name: machine.UnknownSize})
}

// sizeRequest is the body of a size create or update (metal-api's
// v1.SizeCreateRequest and v1.SizeUpdateRequest). Nil fields were not
// given; an update keeps them.
type sizeRequest struct {
	ID          *string               `json:"id"`
	Name        *string               `json:"name"`
	Description *string               `json:"description"`
	Constraints *[]machine.Constraint `json:"constraints"`
	Labels      map[string]string     `json:"labels"`
}

// apply copies the given fields of req onto s.
func (req *sizeRequest) apply(s *machine.Size) {
	if req.Name != nil {
		s.Name = *req.Name
	}
	if req.Description != nil {
		s.Description = *req.Description
	}
	if req.Constraints != nil {
		s.Constraints = *req.Constraints
	}
	if req.Labels != nil {
		s.Labels = req.Labels
	}
}

func (s *Server) listSizes(w http.ResponseWriter, r *http.Request) {
	sizes, err := s.kit.Machines.ListSizes(r.Context())
	replyWith(s, w, r, http.StatusOK, sizes, err, newSizeResponses)
}

func (s *Server) getSize(w http.ResponseWriter, r *http.Request) {
	sz, err := s.kit.Machines.GetSize(r.Context(), r.PathValue("id"))
	replyWith(s, w, r, http.StatusOK, sz, err, newSizeResponse)
}

func (s *Server) createSize(w http.ResponseWriter, r *http.Request) {
	var req sizeRequest
	if err := decodeBody(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	sz := machine.Size{ID: deref(req.ID)}
	req.apply(&sz)
	created, err := s.kit.Machines.CreateSize(r.Context(), sz)
	replyWith(s, w, r, http.StatusCreated, created, err, newSizeResponse)
}

// updateSize changes the given fields of a size, read and written in one
// transaction.
func (s *Server) updateSize(w http.ResponseWriter, r *http.Request) {
	var req sizeRequest
	if err := decodeBody(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if !givenString(req.ID) {
		s.fail(w, r, invalid("id is required: it names the size to update"))
		return
	}
	out, err := kitUpdate(r.Context(), s.kit, func(tx *metalkit.Tx) (*machine.Size, error) {
		old, err := tx.Machines.GetSize(*req.ID)
		if err != nil {
			return nil, err
		}
		sz := *old
		req.apply(&sz)
		return tx.Machines.UpdateSize(sz)
	})
	replyWith(s, w, r, http.StatusOK, out, err, newSizeResponse)
}

func (s *Server) deleteSize(w http.ResponseWriter, r *http.Request) {
	sz, err := s.kit.Machines.DeleteSize(r.Context(), r.PathValue("id"))
	replyWith(s, w, r, http.StatusOK, sz, err, newSizeResponse)
}

// sizeSuggestRequest is metal-api's v1.SizeSuggestRequest.
type sizeSuggestRequest struct {
	MachineID *string `json:"machineID"`
}

// suggestSize answers the constraints of a size that machine's hardware
// matches exactly, as metal-api suggests them: its summed cores, its
// memory, its summed disk capacity and a count per GPU model, the cores
// and storage identifiers being the longest common prefix of the CPU
// models and disk names (with "*" when they differ).
func (s *Server) suggestSize(w http.ResponseWriter, r *http.Request) {
	var req sizeSuggestRequest
	if err := decodeBody(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if !givenString(req.MachineID) {
		s.fail(w, r, invalid("machineID is required"))
		return
	}
	m, err := s.kit.Machines.Get(r.Context(), *req.MachineID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, suggestConstraints(m.Hardware))
}

// suggestConstraints are the constraints that hw matches exactly.
func suggestConstraints(hw machine.Hardware) []machine.Constraint {
	var cores, capacity uint64
	models := make([]string, 0, len(hw.CPUs))
	for _, c := range hw.CPUs {
		cores += uint64(c.Cores)
		models = append(models, c.Model)
	}
	disks := make([]string, 0, len(hw.Disks))
	for _, d := range hw.Disks {
		capacity += d.Size
		disks = append(disks, d.Name)
	}
	out := []machine.Constraint{
		{Type: machine.CoreConstraint, Min: cores, Max: cores, Identifier: commonGlob(models)},
		{Type: machine.MemoryConstraint, Min: hw.Memory, Max: hw.Memory},
		{Type: machine.StorageConstraint, Min: capacity, Max: capacity, Identifier: commonGlob(disks)},
	}
	gpus := map[string]uint64{}
	for _, g := range hw.GPUs {
		gpus[g.Model]++
	}
	var names []string
	for model := range gpus {
		names = append(names, model)
	}
	slices.Sort(names)
	for _, model := range names {
		out = append(out, machine.Constraint{Type: machine.GPUConstraint, Min: gpus[model], Max: gpus[model], Identifier: model})
	}
	return out
}

// commonGlob is the longest common prefix of names, followed by "*" when
// not every name is that prefix; no names give "".
func commonGlob(names []string) string {
	if len(names) == 0 {
		return ""
	}
	prefix := names[0]
	same := true
	for _, n := range names[1:] {
		if n != prefix {
			same = false
		}
		i := 0
		for i < len(prefix) && i < len(n) && prefix[i] == n[i] {
			i++
		}
		prefix = prefix[:i]
	}
	if same {
		return prefix
	}
	return prefix + "*"
}

// sizeReservationResponse is metal-api's v1.SizeReservationResponse. The
// library keeps no name for a reservation, so name is always empty.
type sizeReservationResponse struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Description  string            `json:"description"`
	SizeID       string            `json:"sizeid"`
	PartitionIDs []string          `json:"partitionids"`
	ProjectID    string            `json:"projectid"`
	Amount       int               `json:"amount"`
	Labels       map[string]string `json:"labels,omitempty"`
	Created      time.Time         `json:"created"`
	Changed      time.Time         `json:"changed"`
}

func newSizeReservationResponse(rv *machine.SizeReservation) *sizeReservationResponse {
	return &sizeReservationResponse{
		ID: rv.ID, Description: rv.Description, SizeID: rv.SizeID, PartitionIDs: rv.PartitionIDs,
		ProjectID: rv.ProjectID, Amount: rv.Amount, Labels: rv.Labels, Created: rv.Created, Changed: rv.Changed,
	}
}

func newSizeReservationResponses(rvs []*machine.SizeReservation) []*sizeReservationResponse {
	return mapAll(rvs, newSizeReservationResponse)
}

// sizeReservationRequest is the body of a reservation create or update
// (metal-api's v1.SizeReservationCreateRequest and
// v1.SizeReservationUpdateRequest). Nil fields were not given. An update
// changes description, labels ({} clears them), amount and partitions
// (when not empty), as metal-api does; size and project stay.
type sizeReservationRequest struct {
	ID           *string           `json:"id"`
	Name         *string           `json:"name"`
	Description  *string           `json:"description"`
	SizeID       *string           `json:"sizeid"`
	PartitionIDs []string          `json:"partitionids"`
	ProjectID    *string           `json:"projectid"`
	Amount       *int              `json:"amount"`
	Labels       map[string]string `json:"labels"`
}

// noName refuses a reservation name, which the library does not keep.
func (req *sizeReservationRequest) noName() error {
	if givenString(req.Name) {
		return invalid("name %s: size reservations have no name here; use description or labels", quote(*req.Name))
	}
	return nil
}

func (s *Server) listSizeReservations(w http.ResponseWriter, r *http.Request) {
	rvs, err := s.kit.Machines.ListReservations(r.Context(), machine.ReservationFilter{})
	replyWith(s, w, r, http.StatusOK, rvs, err, newSizeReservationResponses)
}

// sizeReservationFindRequest is metal-api's v1.SizeReservationListRequest;
// the library applies every one of its filters.
type sizeReservationFindRequest struct {
	ID          *string `json:"id"`
	SizeID      *string `json:"sizeid"`
	ProjectID   *string `json:"projectid"`
	PartitionID *string `json:"partitionid"`
}

func (req *sizeReservationFindRequest) filter() (machine.ReservationFilter, error) {
	return machine.ReservationFilter{ID: deref(req.ID), SizeID: deref(req.SizeID), ProjectID: deref(req.ProjectID), PartitionID: deref(req.PartitionID)}, nil
}

func (s *Server) findSizeReservations(w http.ResponseWriter, r *http.Request) {
	f, err := findAs(r, (*sizeReservationFindRequest).filter)
	var rvs []*machine.SizeReservation
	if err == nil {
		rvs, err = s.kit.Machines.ListReservations(r.Context(), f)
	}
	replyWith(s, w, r, http.StatusOK, rvs, err, newSizeReservationResponses)
}

func (s *Server) getSizeReservation(w http.ResponseWriter, r *http.Request) {
	rv, err := s.kit.Machines.GetReservation(r.Context(), r.PathValue("id"))
	replyWith(s, w, r, http.StatusOK, rv, err, newSizeReservationResponse)
}

func (s *Server) createSizeReservation(w http.ResponseWriter, r *http.Request) {
	var req sizeReservationRequest
	if err := decodeBody(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := req.noName(); err != nil {
		s.fail(w, r, err)
		return
	}
	rv := machine.SizeReservation{
		ID: deref(req.ID), SizeID: deref(req.SizeID), PartitionIDs: req.PartitionIDs, ProjectID: deref(req.ProjectID),
		Description: deref(req.Description), Labels: req.Labels,
	}
	if req.Amount != nil {
		rv.Amount = *req.Amount
	}
	created, err := s.kit.Machines.CreateReservation(r.Context(), rv)
	replyWith(s, w, r, http.StatusCreated, created, err, newSizeReservationResponse)
}

// updateSizeReservation changes the given fields of a reservation, read
// and written in one transaction.
func (s *Server) updateSizeReservation(w http.ResponseWriter, r *http.Request) {
	var req sizeReservationRequest
	if err := decodeBody(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []error
	if !givenString(req.ID) {
		errs = append(errs, invalid("id is required: it names the size reservation to update"))
	}
	if err := joinInvalid(append(errs, req.noName())); err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := kitUpdate(r.Context(), s.kit, func(tx *metalkit.Tx) (*machine.SizeReservation, error) {
		old, err := tx.Machines.GetReservation(*req.ID)
		if err != nil {
			return nil, err
		}
		rv := *old
		if req.Description != nil {
			rv.Description = *req.Description
		}
		if req.Labels != nil {
			rv.Labels = req.Labels
			if len(req.Labels) == 0 {
				rv.Labels = nil
			}
		}
		if req.Amount != nil {
			rv.Amount = *req.Amount
		}
		if len(req.PartitionIDs) > 0 {
			rv.PartitionIDs = req.PartitionIDs
		}
		return tx.Machines.UpdateReservation(rv)
	})
	replyWith(s, w, r, http.StatusOK, out, err, newSizeReservationResponse)
}

func (s *Server) deleteSizeReservation(w http.ResponseWriter, r *http.Request) {
	rv, err := s.kit.Machines.DeleteReservation(r.Context(), r.PathValue("id"))
	replyWith(s, w, r, http.StatusOK, rv, err, newSizeReservationResponse)
}

// sizeReservationUsage is metal-api's v1.SizeReservationUsageResponse: one
// reservation in one of its partitions.
type sizeReservationUsage struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	SizeID      string `json:"sizeid"`
	PartitionID string `json:"partitionid"`
	ProjectID   string `json:"projectid"`
	Amount      int    `json:"amount"`
	// UsedAmount is how much of the amount the project's machines use.
	UsedAmount int `json:"usedamount"`
	// ProjectAllocations counts the project's machines of the size in the
	// partition.
	ProjectAllocations int               `json:"projectallocations"`
	Labels             map[string]string `json:"labels,omitempty"`
}

// allocationKey counts allocated machines per project, partition and
// size.
type allocationKey struct{ project, partition, size string }

// allocationCounts counts the allocated machines of tx by project,
// partition and size. One scan of the machines.
func allocationCounts(tx *metalkit.Tx) (map[allocationKey]int, error) {
	allocated := true
	ms, err := tx.Machines.List(machine.Filter{Allocated: &allocated})
	if err != nil {
		return nil, err
	}
	return countAllocations(ms), nil
}

// countAllocations counts the allocated machines of ms by project,
// partition and size.
func countAllocations(ms []*machine.Machine) map[allocationKey]int {
	out := map[allocationKey]int{}
	for _, m := range ms {
		if m.Allocated() {
			out[allocationKey{m.Allocation.Project, m.PartitionID, m.SizeID}]++
		}
	}
	return out
}

// sizeReservationsUsage answers, for every reservation the filter
// selects, one row per partition (only the requested one when the filter
// names a partition) with how many of the project's machines of the size
// are allocated there. Reservations and machines are read in one
// transaction.
func (s *Server) sizeReservationsUsage(w http.ResponseWriter, r *http.Request) {
	f, err := findAs(r, (*sizeReservationFindRequest).filter)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := kitView(r.Context(), s.kit, func(tx *metalkit.Tx) ([]*sizeReservationUsage, error) {
		rvs, err := tx.Machines.ListReservations(f)
		if err != nil {
			return nil, err
		}
		counts, err := allocationCounts(tx)
		if err != nil {
			return nil, err
		}
		out := []*sizeReservationUsage{}
		for _, rv := range rvs {
			for _, p := range rv.PartitionIDs {
				if f.PartitionID != "" && p != f.PartitionID {
					continue
				}
				n := counts[allocationKey{rv.ProjectID, p, rv.SizeID}]
				out = append(out, &sizeReservationUsage{
					ID: rv.ID, Description: rv.Description, SizeID: rv.SizeID, PartitionID: p, ProjectID: rv.ProjectID,
					Amount: rv.Amount, UsedAmount: min(rv.Amount, n), ProjectAllocations: n, Labels: rv.Labels,
				})
			}
		}
		return out, nil
	})
	s.reply(w, r, http.StatusOK, out, err)
}
