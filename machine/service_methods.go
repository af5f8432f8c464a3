package machine

import "context"

// The service's methods: each runs the Tx method of the same name in a
// transaction of its own. Catalog hooks that need no store run before the
// transaction opens.

type registered struct {
	m       *Machine
	created bool
}

// Register runs Tx.Register in its own transaction; the partition hook
// runs before it opens.
func (s *Service) Register(ctx context.Context, req RegisterRequest) (*Machine, bool, error) {
	if err := req.validate(); err != nil {
		return nil, false, err
	}
	if err := s.checkPartition(ctx, req.PartitionID); err != nil {
		return nil, false, err
	}
	r, err := mutate(ctx, s, func(t *Tx) (registered, error) {
		m, created, err := t.Register(req)
		return registered{m, created}, err
	})
	return r.m, r.created, err
}

// Event runs Tx.Event in its own transaction.
func (s *Service) Event(ctx context.Context, id, event, message string) (*EventContainer, error) {
	return mutate(ctx, s, func(t *Tx) (*EventContainer, error) { return t.Event(id, event, message) })
}

// PlannedReboot runs Tx.PlannedReboot in its own transaction.
func (s *Service) PlannedReboot(ctx context.Context, id, message string) (*EventContainer, error) {
	return mutate(ctx, s, func(t *Tx) (*EventContainer, error) { return t.PlannedReboot(id, message) })
}

// GetEvents runs Tx.GetEvents in its own read transaction.
func (s *Service) GetEvents(ctx context.Context, id string) (*EventContainer, error) {
	return read(ctx, s, func(t *Tx) (*EventContainer, error) { return t.GetEvents(id) })
}

// SetState runs Tx.SetState in its own transaction.
func (s *Service) SetState(ctx context.Context, id, value, description string) (*Machine, error) {
	return mutate(ctx, s, func(t *Tx) (*Machine, error) { return t.SetState(id, value, description) })
}

// SetLED runs Tx.SetLED in its own transaction.
func (s *Service) SetLED(ctx context.Context, id, value, description string) (*Machine, error) {
	return mutate(ctx, s, func(t *Tx) (*Machine, error) { return t.SetLED(id, value, description) })
}

// SetIPMI runs Tx.SetIPMI in its own transaction.
func (s *Service) SetIPMI(ctx context.Context, id string, ipmi IPMI) (*Machine, error) {
	return mutate(ctx, s, func(t *Tx) (*Machine, error) { return t.SetIPMI(id, ipmi) })
}

// Get runs Tx.Get in its own read transaction.
func (s *Service) Get(ctx context.Context, id string) (*Machine, error) {
	return read(ctx, s, func(t *Tx) (*Machine, error) { return t.Get(id) })
}

// List runs Tx.List in its own read transaction.
func (s *Service) List(ctx context.Context, f Filter) ([]*Machine, error) {
	return read(ctx, s, func(t *Tx) ([]*Machine, error) { return t.List(f) })
}

// Delete runs Tx.Delete in its own transaction.
func (s *Service) Delete(ctx context.Context, id string) (*Machine, error) {
	return mutate(ctx, s, func(t *Tx) (*Machine, error) { return t.Delete(id) })
}

// Issues runs Tx.Issues in its own read transaction.
func (s *Service) Issues(ctx context.Context, p IssueParams) ([]MachineIssues, error) {
	return read(ctx, s, func(t *Tx) ([]MachineIssues, error) { return t.Issues(p) })
}

// Report runs Tx.Report in its own transaction.
func (s *Service) Report(ctx context.Context, id string, r ReportRequest) (*Machine, error) {
	return mutate(ctx, s, func(t *Tx) (*Machine, error) { return t.Report(id, r) })
}

// AbortReinstall runs Tx.AbortReinstall in its own transaction.
func (s *Service) AbortReinstall(ctx context.Context, id string, primaryDiskWiped bool) (*BootInfo, error) {
	return mutate(ctx, s, func(t *Tx) (*BootInfo, error) { return t.AbortReinstall(id, primaryDiskWiped) })
}

// Reinstall runs Tx.Reinstall in its own transaction; the image hook runs
// inside it, once the machine's role and size are known.
func (s *Service) Reinstall(ctx context.Context, id, imageID string) (*Machine, error) {
	return mutate(ctx, s, func(t *Tx) (*Machine, error) { return t.Reinstall(id, imageID) })
}

// Free runs Tx.Free in its own transaction.
func (s *Service) Free(ctx context.Context, id string) (*Machine, error) {
	return mutate(ctx, s, func(t *Tx) (*Machine, error) { return t.Free(id) })
}

// Update runs Tx.Update in its own transaction.
func (s *Service) Update(ctx context.Context, req UpdateRequest) (*Machine, error) {
	return mutate(ctx, s, func(t *Tx) (*Machine, error) { return t.Update(req) })
}

// CreateSize runs Tx.CreateSize in its own transaction.
func (s *Service) CreateSize(ctx context.Context, sz Size) (*Size, error) {
	return mutate(ctx, s, func(t *Tx) (*Size, error) { return t.CreateSize(sz) })
}

// UpdateSize runs Tx.UpdateSize in its own transaction.
func (s *Service) UpdateSize(ctx context.Context, sz Size) (*Size, error) {
	return mutate(ctx, s, func(t *Tx) (*Size, error) { return t.UpdateSize(sz) })
}

// DeleteSize runs Tx.DeleteSize in its own transaction.
func (s *Service) DeleteSize(ctx context.Context, id string) (*Size, error) {
	return mutate(ctx, s, func(t *Tx) (*Size, error) { return t.DeleteSize(id) })
}

// GetSize runs Tx.GetSize in its own read transaction.
func (s *Service) GetSize(ctx context.Context, id string) (*Size, error) {
	return read(ctx, s, func(t *Tx) (*Size, error) { return t.GetSize(id) })
}

// ListSizes runs Tx.ListSizes in its own read transaction.
func (s *Service) ListSizes(ctx context.Context) ([]*Size, error) {
	return read(ctx, s, func(t *Tx) ([]*Size, error) { return t.ListSizes() })
}

// CreateReservation runs Tx.CreateReservation in its own transaction; the
// project and partition hooks run before it opens.
func (s *Service) CreateReservation(ctx context.Context, r SizeReservation) (*SizeReservation, error) {
	if r.ID == "" {
		r.ID = s.ids() // one id, however often the transaction runs
	}
	if err := ValidateReservation(r); err != nil {
		return nil, err
	}
	if err := s.reservationRefs(ctx, r); err != nil {
		return nil, err
	}
	return mutate(ctx, s, func(t *Tx) (*SizeReservation, error) { return t.CreateReservation(r) })
}

// UpdateReservation runs Tx.UpdateReservation in its own transaction; the
// project and partition hooks run before it opens.
func (s *Service) UpdateReservation(ctx context.Context, r SizeReservation) (*SizeReservation, error) {
	if err := ValidateReservation(r); err != nil {
		return nil, err
	}
	if err := s.reservationRefs(ctx, r); err != nil {
		return nil, err
	}
	return mutate(ctx, s, func(t *Tx) (*SizeReservation, error) { return t.UpdateReservation(r) })
}

// DeleteReservation runs Tx.DeleteReservation in its own transaction.
func (s *Service) DeleteReservation(ctx context.Context, id string) (*SizeReservation, error) {
	return mutate(ctx, s, func(t *Tx) (*SizeReservation, error) { return t.DeleteReservation(id) })
}

// GetReservation runs Tx.GetReservation in its own read transaction.
func (s *Service) GetReservation(ctx context.Context, id string) (*SizeReservation, error) {
	return read(ctx, s, func(t *Tx) (*SizeReservation, error) { return t.GetReservation(id) })
}

// ListReservations runs Tx.ListReservations in its own read transaction.
func (s *Service) ListReservations(ctx context.Context, f ReservationFilter) ([]*SizeReservation, error) {
	return read(ctx, s, func(t *Tx) ([]*SizeReservation, error) { return t.ListReservations(f) })
}
