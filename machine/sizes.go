package machine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"

	"github.com/metalkit/metalkit/backends"
)

// ListSizes returns every size, ordered by id.
func (t *Tx) ListSizes() ([]*Size, error) { return listSizes(t.tx) }

func listSizes(tx backends.Tx) ([]*Size, error) {
	out := []*Size{}
	err := tx.Ascend(bucketSizes, nil, func(k, v []byte) (bool, error) {
		s := &Size{}
		if err := json.Unmarshal(v, s); err != nil {
			return false, corrupt("bucket %s key %s: size does not decode: %v", bucketSizes, q(string(k)), err)
		}
		out = append(out, s)
		return true, nil
	})
	return out, err
}

// GetSize returns a size, or an error matching ErrNotFound.
func (t *Tx) GetSize(id string) (*Size, error) {
	if err := checkID("size id", id); err != nil {
		return nil, err
	}
	v, err := t.tx.Get(bucketSizes, idKey(id))
	if errors.Is(err, backends.ErrNotFound) {
		return nil, notFound("size %s does not exist", q(id))
	}
	if err != nil {
		return nil, err
	}
	s := &Size{}
	if err := json.Unmarshal(v, s); err != nil {
		return nil, corrupt("bucket %s key %s: size does not decode: %v", bucketSizes, q(id), err)
	}
	return s, nil
}

// CreateSize stores a new size (an admin's operation). The id must be new;
// ValidateSize's rules and the overlap rule (CheckSizeOverlap) apply, every
// problem reported together.
func (t *Tx) CreateSize(s Size) (*Size, error) {
	if err := t.scope.adminOnly("creating a size"); err != nil {
		return nil, err
	}
	if err := ValidateSize(s); err != nil {
		return nil, err
	}
	if _, err := t.GetSize(s.ID); err == nil {
		return nil, conflict("size %s already exists", q(s.ID))
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return t.putSize(s, "size.create", func(n *Size) { n.Created = n.Changed })
}

// UpdateSize replaces an existing size's name, description, constraints and
// labels, with the rules of CreateSize. Machines keep their size until
// they register again.
func (t *Tx) UpdateSize(s Size) (*Size, error) {
	if err := t.scope.adminOnly("updating a size"); err != nil {
		return nil, err
	}
	if err := ValidateSize(s); err != nil {
		return nil, err
	}
	old, err := t.GetSize(s.ID)
	if err != nil {
		return nil, err
	}
	return t.putSize(s, "size.update", func(n *Size) { n.Created = old.Created })
}

func (t *Tx) putSize(s Size, detail string, stamp func(*Size)) (*Size, error) {
	all, err := listSizes(t.tx)
	if err != nil {
		return nil, err
	}
	others := make([]Size, len(all))
	for i, o := range all {
		others[i] = *o
	}
	if err := CheckSizeOverlap(s, others); err != nil {
		return nil, err
	}
	n := s
	n.Constraints = slices.Clone(s.Constraints)
	n.Changed = t.now()
	stamp(&n)
	b, err := json.Marshal(&n)
	if err != nil {
		return nil, err
	}
	if err := t.tx.Put(bucketSizes, idKey(n.ID), b); err != nil {
		return nil, err
	}
	return &n, t.record(detail, "size/"+n.ID, s)
}

// DeleteSize deletes a size and returns it. A size named by a size
// reservation is refused (ErrConflict); machines keep the id until they
// register again.
func (t *Tx) DeleteSize(id string) (*Size, error) {
	if err := t.scope.adminOnly("deleting a size"); err != nil {
		return nil, err
	}
	s, err := t.GetSize(id)
	if err != nil {
		return nil, err
	}
	rs, err := listReservations(t.tx)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.SizeID == id {
			return nil, conflict("size %s is named by size reservation %s", q(id), q(r.ID))
		}
	}
	if err := t.tx.Delete(bucketSizes, idKey(id)); err != nil {
		return nil, err
	}
	return s, t.record("size.delete", "size/"+id, map[string]string{"id": id})
}

// listReservations returns every reservation in creation order.
func listReservations(tx backends.Tx) ([]*SizeReservation, error) {
	out := []*SizeReservation{}
	err := tx.Ascend(bucketReservations, nil, func(k, v []byte) (bool, error) {
		r := &SizeReservation{}
		if err := json.Unmarshal(v, r); err != nil {
			return false, corrupt("bucket %s key %x: size reservation does not decode: %v", bucketReservations, k, err)
		}
		out = append(out, r)
		return true, nil
	})
	return out, err
}

// ReservationFilter selects reservations; every set field must match.
type ReservationFilter struct {
	ID          string `json:"id,omitempty"`
	SizeID      string `json:"sizeid,omitempty"`
	ProjectID   string `json:"projectid,omitempty"`
	PartitionID string `json:"partitionid,omitempty"`
}

func (f ReservationFilter) match(r *SizeReservation) bool {
	return (f.ID == "" || r.ID == f.ID) && (f.SizeID == "" || r.SizeID == f.SizeID) &&
		(f.ProjectID == "" || r.ProjectID == f.ProjectID) &&
		(f.PartitionID == "" || slices.Contains(r.PartitionIDs, f.PartitionID))
}

// ListReservations returns the reservations matching f in creation order.
func (t *Tx) ListReservations(f ReservationFilter) ([]*SizeReservation, error) {
	all, err := listReservations(t.tx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(r *SizeReservation) bool { return !f.match(r) || !t.scope.owns(r.ProjectID) }), nil
}

// reservationSeq returns the sequence number of reservation id.
func (t *Tx) reservationSeq(id string) (uint64, error) {
	v, err := t.tx.Get(bucketReservationIDs, idKey(id))
	if errors.Is(err, backends.ErrNotFound) {
		return 0, notFound("size reservation %s does not exist", q(id))
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, corrupt("bucket %s key %s holds %d bytes", bucketReservationIDs, q(id), len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// GetReservation returns a size reservation, or an error matching
// ErrNotFound.
func (t *Tx) GetReservation(id string) (*SizeReservation, error) {
	r, _, err := t.getReservation(id)
	return r, err
}

// getReservation is GetReservation that also returns the reservation's
// sequence number.
func (t *Tx) getReservation(id string) (*SizeReservation, uint64, error) {
	if err := checkID("size reservation id", id); err != nil {
		return nil, 0, err
	}
	seq, err := t.reservationSeq(id)
	if err != nil {
		return nil, 0, err
	}
	v, err := t.tx.Get(bucketReservations, seqKey(seq))
	if errors.Is(err, backends.ErrNotFound) {
		return nil, 0, corrupt("size reservation %s: its id index names sequence %d, which holds nothing", q(id), seq)
	}
	if err != nil {
		return nil, 0, err
	}
	r := &SizeReservation{}
	if err := json.Unmarshal(v, r); err != nil {
		return nil, 0, corrupt("bucket %s sequence %d: size reservation does not decode: %v", bucketReservations, seq, err)
	}
	if !t.scope.owns(r.ProjectID) {
		return nil, 0, notFound("size reservation %s does not exist", q(id))
	}
	return r, seq, nil
}

// checkReservation checks a reservation with ValidateReservation's rules
// and runs the catalog hooks for its project and partitions, unless the
// service did both already.
func (t *Tx) checkReservation(r SizeReservation) error {
	if t.checked {
		return nil
	}
	if err := ValidateReservation(r); err != nil {
		return err
	}
	return t.s.reservationRefs(t.ctx, r)
}

func (s *Service) reservationRefs(ctx context.Context, r SizeReservation) error {
	var errs []error
	if err := s.checkProject(ctx, r.ProjectID); err != nil {
		errs = append(errs, err)
	}
	for _, p := range r.PartitionIDs {
		if err := s.checkPartition(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CreateReservation stores a new size reservation (an admin's operation):
// ValidateReservation's rules, the size must exist, the project and the
// partitions go through the catalog. An empty id is generated. The
// reservation takes the next place in the creation order.
func (t *Tx) CreateReservation(r SizeReservation) (*SizeReservation, error) {
	if err := t.scope.adminOnly("creating a size reservation"); err != nil {
		return nil, err
	}
	if r.ID == "" {
		r.ID = t.s.ids()
	}
	if err := t.checkReservation(r); err != nil {
		return nil, err
	}
	if _, err := t.GetSize(r.SizeID); err != nil {
		return nil, err
	}
	if _, err := t.reservationSeq(r.ID); err == nil {
		return nil, conflict("size reservation %s already exists", q(r.ID))
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	seq, err := lastSeq(t.tx)
	if err != nil {
		return nil, err
	}
	seq++
	if err := t.tx.Put(bucketReservationIDs, idKey(r.ID), seqKey(seq)); err != nil {
		return nil, err
	}
	n := r
	n.PartitionIDs = slices.Clone(r.PartitionIDs)
	n.Created = t.now()
	n.Changed = n.Created
	return t.putReservation(seq, &n, "sizereservation.create", r)
}

// lastSeq is the sequence number of the newest reservation, 0 when there
// is none: no counter outlives the reservations.
func lastSeq(tx backends.Tx) (uint64, error) {
	var seq uint64
	err := tx.Descend(bucketReservations, nil, func(k, _ []byte) (bool, error) {
		if len(k) != 8 {
			return false, corrupt("bucket %s: key %x is not a sequence number", bucketReservations, k)
		}
		seq = binary.BigEndian.Uint64(k)
		return false, nil
	})
	return seq, err
}

func (t *Tx) putReservation(seq uint64, r *SizeReservation, detail string, body any) (*SizeReservation, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if err := t.tx.Put(bucketReservations, seqKey(seq), b); err != nil {
		return nil, err
	}
	return r, t.record(detail, "sizereservation/"+r.ID, body)
}

// UpdateReservation replaces a reservation's size, partitions, project,
// amount, description and labels with the rules of CreateReservation; it
// keeps its place in the creation order.
func (t *Tx) UpdateReservation(r SizeReservation) (*SizeReservation, error) {
	if err := t.scope.adminOnly("updating a size reservation"); err != nil {
		return nil, err
	}
	if err := checkID("id", r.ID); err != nil {
		return nil, err
	}
	if err := t.checkReservation(r); err != nil {
		return nil, err
	}
	old, seq, err := t.getReservation(r.ID)
	if err != nil {
		return nil, err
	}
	if _, err := t.GetSize(r.SizeID); err != nil {
		return nil, err
	}
	n := r
	n.PartitionIDs = slices.Clone(r.PartitionIDs)
	n.Created, n.Changed = old.Created, t.now()
	return t.putReservation(seq, &n, "sizereservation.update", r)
}

// DeleteReservation deletes a size reservation and returns it.
func (t *Tx) DeleteReservation(id string) (*SizeReservation, error) {
	if err := t.scope.adminOnly("deleting a size reservation"); err != nil {
		return nil, err
	}
	r, seq, err := t.getReservation(id)
	if err != nil {
		return nil, err
	}
	if err := t.tx.Delete(bucketReservations, seqKey(seq)); err != nil {
		return nil, err
	}
	if err := t.tx.Delete(bucketReservationIDs, idKey(id)); err != nil {
		return nil, err
	}
	return r, t.record("sizereservation.delete", "sizereservation/"+id, map[string]string{"id": id})
}
