package machine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/limits"
	"github.com/metalkit/metalkit/switchstate"
)

// Event is one provisioning event as a sender reports it: the machine, the
// event type (any case) and a message.
type Event struct {
	MachineID string `json:"id"`
	Event     string `json:"event"`
	Message   string `json:"message,omitempty"`
}

// Event applies one provisioning event to machine id's container (see
// Transition) and returns the new container. The time is the service's
// clock at reception. An unknown type is ErrInvalidArgument and stores
// nothing. An event for a machine that does not exist creates a stub
// machine (the id only) and its container.
func (t *Tx) Event(id, event, message string) (*EventContainer, error) {
	if err := t.scope.adminOnly("sending provisioning events"); err != nil {
		return nil, err
	}
	typ, err := ParseEventType(event)
	if err != nil {
		return nil, err
	}
	if err := limit(limits.Description("message", message)); err != nil {
		return nil, err
	}
	e, err := load(t.tx, id)
	if err != nil {
		return nil, err
	}
	return t.applyEvent(e, ProvisioningEvent{Event: typ, Message: message})
}

func (t *Tx) applyEvent(e *entry, ev ProvisioningEvent) (*EventContainer, error) {
	if e.m == nil {
		now := t.now()
		e.m = &Machine{ID: e.id, Created: now, Changed: now}
	}
	c := EventContainer{ID: e.id}
	if e.c != nil {
		c = *e.c
	}
	next, err := Transition(c, ev, t.now())
	if err != nil {
		return nil, err
	}
	e.c = &next
	if err := e.save(t.tx); err != nil {
		return nil, err
	}
	if t.s.opts.AuditEvents {
		if err := t.record("machine.event", machinePath(e.id), ev); err != nil {
			return nil, err
		}
	}
	return &next, nil
}

// PlannedReboot records a Planned Reboot event for machine id (the library
// sends no power command).
func (t *Tx) PlannedReboot(id, message string) (*EventContainer, error) {
	return t.Event(id, string(EventPlannedReboot), message)
}

// GetEvents returns machine id's event container, or an error matching
// ErrNotFound.
func (t *Tx) GetEvents(id string) (*EventContainer, error) {
	e, err := load(t.tx, id)
	if err != nil {
		return nil, err
	}
	if e.m != nil && !t.scope.sees(e.m) {
		return nil, notFound("machine %s does not exist", q(id))
	}
	if e.c == nil {
		return nil, notFound("machine %s has no event container", q(id))
	}
	return e.c, nil
}

// EventBatchResult is the outcome of a batch of events.
type EventBatchResult struct {
	// Events counts the events stored or applied.
	Events int `json:"events"`
	// Failed names the machines whose events were not applied, with why.
	Failed []EventFailure `json:"failed,omitempty"`
}

// EventFailure is a machine whose events of a batch failed.
type EventFailure struct {
	MachineID string `json:"id"`
	Err       error  `json:"-"`
	// Message is Err's text.
	Message string `json:"message"`
}

// SendEvents applies a batch of events, one machine per transaction (its
// events in the order given): a machine whose events fail (an unknown
// type, a store error) changes nothing and is named in the result, while
// the other machines' events commit. The error is non-nil only when ctx
// ended before every machine was tried.
func (s *Service) SendEvents(ctx context.Context, events []Event) (*EventBatchResult, error) {
	if err := scopeOf(ctx).adminOnly("sending provisioning events"); err != nil {
		return nil, err
	}
	byMachine := map[string][]Event{}
	var ids []string
	for _, ev := range events {
		if _, ok := byMachine[ev.MachineID]; !ok {
			ids = append(ids, ev.MachineID)
		}
		byMachine[ev.MachineID] = append(byMachine[ev.MachineID], ev)
	}
	res := &EventBatchResult{}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		evs := byMachine[id]
		_, err := mutate(ctx, s, func(t *Tx) (struct{}, error) {
			for _, ev := range evs {
				if _, err := t.Event(id, ev.Event, ev.Message); err != nil {
					return struct{}{}, err
				}
			}
			return struct{}{}, nil
		})
		if err != nil {
			res.Failed = append(res.Failed, EventFailure{MachineID: id, Err: err, Message: err.Error()})
			continue
		}
		res.Events += len(evs)
	}
	return res, nil
}

// SetState sets machine id's state (see SetState the function): the
// value case-insensitive ("", AVAILABLE, RESERVED, TAINTED, LOCKED), a
// description for any value but available, the caller in ctx as issuer.
func (t *Tx) SetState(id, value, description string) (*Machine, error) {
	if err := t.scope.adminOnly("setting a machine's state"); err != nil {
		return nil, err
	}
	e, err := loadMachine(t.tx, id)
	if err != nil {
		return nil, err
	}
	st, err := SetState(e.m.State, value, description, caller(t.ctx))
	if err != nil {
		return nil, err
	}
	m := *e.m
	m.State, m.Changed = st, t.now()
	return t.saveMachine(e, &m, "machine.setstate", map[string]string{"value": string(st.Value), "description": description})
}

// SetLED stores machine id's chassis identify LED state (no command is
// sent).
func (t *Tx) SetLED(id, value, description string) (*Machine, error) {
	if err := t.scope.adminOnly("setting a machine's LED"); err != nil {
		return nil, err
	}
	v, err := ParseLEDValue(value)
	if err := errors.Join(err, limit(limits.Description("description", description))); err != nil {
		return nil, err
	}
	e, err := loadMachine(t.tx, id)
	if err != nil {
		return nil, err
	}
	m := *e.m
	m.LEDState, m.Changed = LEDState{Value: v, Description: description}, t.now()
	return t.saveMachine(e, &m, "machine.setled", m.LEDState)
}

// SetIPMI stores machine id's IPMI data with LastUpdated now.
func (t *Tx) SetIPMI(id string, ipmi IPMI) (*Machine, error) {
	if err := t.scope.adminOnly("setting a machine's IPMI data"); err != nil {
		return nil, err
	}
	errs := []error{
		limit(limits.Name("ipmi.address", ipmi.Address)),
		limit(limits.Name("ipmi.mac", ipmi.MacAddress)),
		limit(limits.Name("ipmi.user", ipmi.User)),
		limit(limits.Description("ipmi.password", ipmi.Password)),
		limit(limits.Name("ipmi.interface", ipmi.Interface)),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	e, err := loadMachine(t.tx, id)
	if err != nil {
		return nil, err
	}
	m := *e.m
	now := t.now()
	ipmi.LastUpdated = now
	m.IPMI, m.Changed = ipmi, now
	return t.saveMachine(e, &m, "machine.setipmi", ipmi)
}

// setWaiting sets machine id's waiting flag and returns the machine.
func (t *Tx) setWaiting(id string, waiting bool) (*Machine, error) {
	if err := t.scope.adminOnly("waiting for an allocation"); err != nil {
		return nil, err
	}
	e, err := loadMachine(t.tx, id)
	if err != nil {
		return nil, err
	}
	if e.m.Waiting == waiting || (waiting && e.m.Allocated()) {
		return e.m, nil
	}
	m := *e.m
	m.Waiting = waiting
	e.m = &m
	if err := e.save(t.tx); err != nil {
		return nil, err
	}
	if t.s.opts.AuditEvents {
		if err := t.record("machine.wait", machinePath(id), map[string]bool{"waiting": waiting}); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// Wait blocks until machine id is allocated and returns it. It returns at
// once for an allocated machine; otherwise it sets the machine's waiting
// flag (which makes it a candidate for allocations by size) and waits,
// woken by the allocation's commit in this process and re-reading the
// machine every Options.WaitPoll for allocations made elsewhere. The flag
// is cleared whenever the wait ends: allocated, ctx done, or an error (a
// process that dies while waiting leaves it set; liveliness covers that).
func (s *Service) Wait(ctx context.Context, id string) (*Machine, error) {
	ch := s.waiters.add(id)
	defer s.waiters.remove(id, ch)
	m, err := mutate(ctx, s, func(t *Tx) (*Machine, error) { return t.setWaiting(id, true) })
	if err != nil {
		return nil, err
	}
	clear := func(cause error) (*Machine, error) {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		cm, err := mutate(c, s, func(t *Tx) (*Machine, error) { return t.setWaiting(id, false) })
		if cause != nil {
			return nil, errors.Join(cause, err)
		}
		return cm, err
	}
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	for !m.Allocated() {
		select {
		case <-ctx.Done():
			return clear(ctx.Err())
		case <-ch:
		case <-tick.C:
		}
		m, err = s.Get(ctx, id)
		if err != nil {
			return clear(err)
		}
	}
	if _, err := clear(nil); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return m, nil
}

// Get returns machine id, or an error matching ErrNotFound.
func (t *Tx) Get(id string) (*Machine, error) {
	e, err := t.visible(id)
	if err != nil {
		return nil, err
	}
	return e.m, nil
}

// Filter selects machines; every set field must match.
type Filter struct {
	ID          string `json:"id,omitempty"`
	PartitionID string `json:"partitionid,omitempty"`
	RackID      string `json:"rackid,omitempty"`
	SizeID      string `json:"sizeid,omitempty"`
	// Allocated, when set, selects allocated (true) or free (false)
	// machines.
	Allocated *bool  `json:"allocated,omitempty"`
	ProjectID string `json:"projectid,omitempty"`
	Role      Role   `json:"role,omitempty"`
	Hostname  string `json:"hostname,omitempty"`
	// Tags must all be present.
	Tags []string `json:"tags,omitempty"`
	// State matches the state value.
	State   *StateValue `json:"state,omitempty"`
	Waiting *bool       `json:"waiting,omitempty"`
	// Name matches the machine's name.
	Name string `json:"name,omitempty"`
	// AllocationName, ImageID and Succeeded match the allocation's.
	AllocationName string `json:"allocation_name,omitempty"`
	ImageID        string `json:"allocation_image_id,omitempty"`
	Succeeded      *bool  `json:"allocation_succeeded,omitempty"`
	// NetworkIDs must all be networks of the allocation; IPs must all be
	// addresses of it.
	NetworkIDs []string     `json:"network_ids,omitempty"`
	IPs        []netip.Addr `json:"network_ips,omitempty"`
	// Memory matches the hardware's memory in bytes.
	Memory uint64 `json:"hardware_memory,omitempty"`
	// NICMACs must all be MACs of the machine's NICs.
	NICMACs []string `json:"nics_mac_addresses,omitempty"`
	// DiskNames must all be names of the machine's disks.
	DiskNames []string `json:"disk_names,omitempty"`
	// IPMIAddress and IPMIMAC match the BMC's.
	IPMIAddress string `json:"ipmi_address,omitempty"`
	IPMIMAC     string `json:"ipmi_mac,omitempty"`
	// ProductSerial and ChassisSerial match the FRU data.
	ProductSerial string `json:"fru_product_serial,omitempty"`
	ChassisSerial string `json:"fru_chassis_part_serial,omitempty"`
}

func (f Filter) match(m *Machine) bool {
	if (f.ID != "" && m.ID != f.ID) || (f.PartitionID != "" && m.PartitionID != f.PartitionID) ||
		(f.RackID != "" && m.RackID != f.RackID) || (f.SizeID != "" && m.SizeID != f.SizeID) ||
		(f.Allocated != nil && m.Allocated() != *f.Allocated) ||
		(f.State != nil && m.State.Value != *f.State) || (f.Waiting != nil && m.Waiting != *f.Waiting) {
		return false
	}
	if f.ProjectID != "" || f.Role != "" || f.Hostname != "" {
		a := m.Allocation
		if a == nil || (f.ProjectID != "" && a.Project != f.ProjectID) || (f.Role != "" && a.Role != f.Role) ||
			(f.Hostname != "" && a.Hostname != f.Hostname) {
			return false
		}
	}
	for _, tag := range f.Tags {
		if !slices.Contains(m.Tags, tag) {
			return false
		}
	}
	return f.matchMore(m)
}

// matchMore applies the filters of names, hardware, BMC and allocation
// networks.
func (f Filter) matchMore(m *Machine) bool {
	if (f.Name != "" && m.Name != f.Name) || (f.Memory != 0 && m.Hardware.Memory != f.Memory) ||
		(f.IPMIAddress != "" && m.IPMI.Address != f.IPMIAddress) || (f.IPMIMAC != "" && m.IPMI.MacAddress != f.IPMIMAC) ||
		(f.ProductSerial != "" && m.IPMI.FRU.ProductSerial != f.ProductSerial) ||
		(f.ChassisSerial != "" && m.IPMI.FRU.ChassisPartSerial != f.ChassisSerial) {
		return false
	}
	for _, mac := range f.NICMACs {
		if !slices.ContainsFunc(m.Hardware.NICs, func(n NIC) bool { return n.MacAddress == mac }) {
			return false
		}
	}
	for _, d := range f.DiskNames {
		if !slices.ContainsFunc(m.Hardware.Disks, func(b BlockDevice) bool { return b.Name == d }) {
			return false
		}
	}
	if f.AllocationName == "" && f.ImageID == "" && f.Succeeded == nil && len(f.NetworkIDs) == 0 && len(f.IPs) == 0 {
		return true
	}
	a := m.Allocation
	if a == nil || (f.AllocationName != "" && a.Name != f.AllocationName) || (f.ImageID != "" && a.ImageID != f.ImageID) ||
		(f.Succeeded != nil && a.Succeeded != *f.Succeeded) {
		return false
	}
	for _, id := range f.NetworkIDs {
		if !slices.ContainsFunc(a.Networks, func(n MachineNetwork) bool { return n.NetworkID == id }) {
			return false
		}
	}
	for _, ip := range f.IPs {
		if !slices.ContainsFunc(a.Networks, func(n MachineNetwork) bool { return slices.Contains(n.IPs, ip) }) {
			return false
		}
	}
	return true
}

// List returns the machines matching f, ordered by id. With PartitionID
// and SizeID and Allocated false it reads only the free-machine index of
// that partition and size, so its cost grows with the result, not with
// all machines.
func (t *Tx) List(f Filter) ([]*Machine, error) {
	if f.PartitionID != "" && f.SizeID != "" && f.Allocated != nil && !*f.Allocated {
		return t.freeMachines(f)
	}
	out := []*Machine{}
	err := t.tx.Ascend(bucketMachines, nil, func(k, v []byte) (bool, error) {
		m := &Machine{}
		if err := json.Unmarshal(v, m); err != nil {
			return false, corrupt("bucket %s key %s: machine record does not decode: %v", bucketMachines, q(string(k)), err)
		}
		if f.match(m) && t.scope.sees(m) {
			out = append(out, m)
		}
		return true, nil
	})
	return out, err
}

func (t *Tx) freeMachines(f Filter) ([]*Machine, error) {
	keys, err := backends.KeysWithPrefix(t.tx, freeBucket(f.PartitionID, f.SizeID), nil)
	if err != nil {
		return nil, err
	}
	out := make([]*Machine, 0, len(keys))
	found := make([]bool, len(keys))
	err = backends.GetMany(t.tx, bucketMachines, keys, func(i int, raw []byte) error {
		found[i] = true
		m := &Machine{}
		if err := json.Unmarshal(raw, m); err != nil {
			return corrupt("bucket %s key %s: machine record does not decode: %v", bucketMachines, q(string(keys[i])), err)
		}
		if f.match(m) && t.scope.sees(m) {
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if i := slices.Index(found, false); i >= 0 {
		return nil, corrupt("the free index of partition %s size %s names machine %s, which does not exist", q(f.PartitionID), q(f.SizeID), q(string(keys[i])))
	}
	return out, nil
}

// Delete deletes a free machine whose event container is gone or Dead:
// an allocated machine, or one with a container that is not Dead, is
// refused (ErrConflict, "can only delete dead machines"). It removes the
// machine from the connections of every switch, releases the IPs still
// tagged with it (the rules of Free), and deletes the machine, its
// container and its index entries, in one transaction.
func (t *Tx) Delete(id string) (*Machine, error) {
	if err := t.scope.adminOnly("deleting a machine"); err != nil {
		return nil, err
	}
	e, err := loadMachine(t.tx, id)
	if err != nil {
		return nil, err
	}
	if e.m.Allocated() {
		return nil, conflict("machine %s is allocated to project %s; free it before deleting it", q(id), q(e.m.Allocation.Project))
	}
	if e.c != nil && EvaluateLiveliness(false, e.c, t.now()) != Dead {
		return nil, conflict("machine %s is %s; can only delete dead machines", q(id), e.c.Liveliness)
	}
	if err := switchstate.DisconnectMachine(t.tx, id); err != nil {
		return nil, fmt.Errorf("machine: delete %s: %w", q(id), err)
	}
	if err := t.releaseTagged(id, nil); err != nil {
		return nil, err
	}
	m := e.m
	e.m, e.c = nil, nil
	if err := e.save(t.tx); err != nil {
		return nil, err
	}
	return m, t.record("machine.delete", machinePath(id), map[string]string{"id": id})
}

// LivelinessResult counts the machines of a liveliness pass.
type LivelinessResult struct {
	Alive   int `json:"alive"`
	Dead    int `json:"dead"`
	Unknown int `json:"unknown"`
	// Changed counts the containers whose liveliness the pass changed.
	Changed int `json:"changed"`
}

// Liveliness evaluates the liveliness of every machine at the service's
// clock (see EvaluateLiveliness) and writes the containers whose
// liveliness changed, each in a transaction of its own that checks it
// again. It reads every machine and container once, in one read
// transaction.
func (s *Service) Liveliness(ctx context.Context) (*LivelinessResult, error) {
	if err := scopeOf(ctx).adminOnly("evaluating liveliness"); err != nil {
		return nil, err
	}
	now := s.clock()
	type change struct {
		id string
		to Liveliness
	}
	var changes []change
	res, err := read(ctx, s, func(t *Tx) (*LivelinessResult, error) {
		changes = nil
		res := &LivelinessResult{}
		err := eachMachine(t.tx, func(m *Machine, c *EventContainer) error {
			l := EvaluateLiveliness(m.Allocated(), c, now)
			switch l {
			case Alive:
				res.Alive++
			case Dead:
				res.Dead++
			default:
				res.Unknown++
			}
			if c != nil && c.Liveliness != l {
				changes = append(changes, change{m.ID, l})
			}
			return nil
		})
		return res, err
	})
	if err != nil {
		return nil, err
	}
	for _, ch := range changes {
		changed, err := mutate(ctx, s, func(t *Tx) (bool, error) { return t.updateLiveliness(ch.id, now) })
		if err != nil {
			return nil, err
		}
		if changed {
			res.Changed++
		}
	}
	return res, nil
}

func (t *Tx) updateLiveliness(id string, now time.Time) (bool, error) {
	e, err := load(t.tx, id)
	if err != nil || e.m == nil || e.c == nil {
		return false, err
	}
	l := EvaluateLiveliness(e.m.Allocated(), e.c, now)
	if l == e.c.Liveliness {
		return false, nil
	}
	c := *e.c
	c.Liveliness = l
	e.c = &c
	if err := e.save(t.tx); err != nil {
		return false, err
	}
	if t.s.opts.AuditLiveliness {
		return true, t.record("machine.liveliness", machinePath(id), map[string]string{"liveliness": string(l)})
	}
	return true, nil
}

// eachMachine calls fn for every machine, in id order, with its container
// (nil when it has none), reading both buckets in one ordered pass each.
func eachMachine(tx backends.Tx, fn func(m *Machine, c *EventContainer) error) error {
	containers := map[string]*EventContainer{}
	err := tx.Ascend(bucketEvents, nil, func(k, v []byte) (bool, error) {
		c := &EventContainer{}
		if err := json.Unmarshal(v, c); err != nil {
			return false, corrupt("bucket %s key %s: event container does not decode: %v", bucketEvents, q(string(k)), err)
		}
		containers[string(k)] = c
		return true, nil
	})
	if err != nil {
		return err
	}
	return tx.Ascend(bucketMachines, nil, func(k, v []byte) (bool, error) {
		m := &Machine{}
		if err := json.Unmarshal(v, m); err != nil {
			return false, corrupt("bucket %s key %s: machine record does not decode: %v", bucketMachines, q(string(k)), err)
		}
		return true, fn(m, containers[m.ID])
	})
}

// Resurrect frees the free machines that ShouldResurrect selects at the
// service's clock (Dead for more than ResurrectAfter, or a failed
// reclaim), each in a transaction of its own, and returns their ids.
func (s *Service) Resurrect(ctx context.Context) ([]string, error) {
	if err := scopeOf(ctx).adminOnly("resurrecting machines"); err != nil {
		return nil, err
	}
	now := s.clock()
	ids, err := read(ctx, s, func(t *Tx) ([]string, error) {
		var ids []string
		err := eachMachine(t.tx, func(m *Machine, c *EventContainer) error {
			if ShouldResurrect(m.Allocated(), c, now) {
				ids = append(ids, m.ID)
			}
			return nil
		})
		return ids, err
	})
	if err != nil {
		return nil, err
	}
	var done []string
	for _, id := range ids {
		ok, err := mutate(ctx, s, func(t *Tx) (bool, error) {
			e, err := load(t.tx, id)
			if err != nil || e.m == nil || !ShouldResurrect(e.m.Allocated(), e.c, now) {
				return false, err
			}
			if _, err := t.free(e, "machine.resurrect"); err != nil {
				return false, err
			}
			return true, nil
		})
		if err != nil {
			return done, err
		}
		if ok {
			done = append(done, id)
		}
	}
	return done, nil
}

// Issues evaluates the issues of the machines (see FindIssues) at the
// service's clock.
func (t *Tx) Issues(p IssueParams) ([]MachineIssues, error) {
	var machines []Machine
	containers := map[string]*EventContainer{}
	err := eachMachine(t.tx, func(m *Machine, c *EventContainer) error {
		if !t.scope.sees(m) {
			return nil
		}
		machines = append(machines, *m)
		if c != nil {
			containers[m.ID] = c
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return FindIssues(machines, containers, t.now(), p)
}
