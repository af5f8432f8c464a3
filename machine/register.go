package machine

import (
	"errors"
	"fmt"
	"slices"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/limits"
	"github.com/metalkit/metalkit/switchstate"
)

// RegisterRequest is what metal-hammer sends when it has inventoried a
// machine. JSON names are metal-api's.
type RegisterRequest struct {
	// ID is the machine's hardware UUID; required.
	ID string `json:"uuid"`
	// PartitionID is the partition metal-hammer runs in; the machine's
	// partition is then that of the switches it is wired to.
	PartitionID string `json:"partitionid"`
	// Hardware is required; its NICs carry the LLDP neighbours the switch
	// wiring is derived from.
	Hardware *Hardware `json:"hardware"`
	// BIOS is required.
	BIOS *BIOS `json:"bios"`
	// IPMI, when given, replaces the stored one; nil keeps it.
	IPMI *IPMI `json:"ipmi,omitempty"`
	// Tags are a new machine's tags; an existing machine keeps its own.
	Tags               []string `json:"tags,omitempty"`
	MetalHammerVersion string   `json:"metal_hammer_version,omitempty"`
}

func (r *RegisterRequest) validate() error {
	errs := []error{
		checkID("uuid", r.ID),
		limit(limits.OptionalID("partitionid", r.PartitionID)),
		limit(limits.Tags("tags", r.Tags)),
		limit(limits.Name("metal_hammer_version", r.MetalHammerVersion)),
	}
	if r.Hardware == nil {
		errs = append(errs, invalid("hardware is required"))
	} else {
		for _, c := range []struct {
			f string
			n int
		}{{"hardware.cpus", len(r.Hardware.CPUs)}, {"hardware.block_devices", len(r.Hardware.Disks)}, {"hardware.network_interfaces", len(r.Hardware.NICs)}, {"hardware.gpus", len(r.Hardware.GPUs)}} {
			errs = append(errs, limit(limits.Count(c.f, c.n)))
		}
		for i, n := range r.Hardware.NICs {
			errs = append(errs, limit(limits.Count(fmt.Sprintf("hardware.network_interfaces[%d].neighbors", i), len(n.Neighbors))))
		}
	}
	if r.BIOS == nil {
		errs = append(errs, invalid("bios is required"))
	}
	return errors.Join(errs...)
}

// switchNics converts a machine's NICs for switchstate.ConnectMachine.
func switchNics(nics []NIC) []switchstate.MachineNic {
	out := make([]switchstate.MachineNic, len(nics))
	for i, n := range nics {
		ns := make([]switchstate.Neighbor, len(n.Neighbors))
		for j, nb := range n.Neighbors {
			ns[j] = switchstate.Neighbor{MAC: nb.MacAddress, Name: nb.Name, Identifier: nb.Identifier, Hostname: nb.Hostname}
		}
		out[i] = switchstate.MachineNic{MAC: n.MacAddress, Name: n.Name, Identifier: n.Identifier, Neighbors: ns}
	}
	return out
}

// Register creates or updates a machine from metal-hammer's inventory and
// reports whether it created it, in one transaction:
//
//   - the size is identified from the sizes and the hardware (UnknownSize
//     when none or several match);
//   - the switch connections are derived through switchstate: exactly two
//     switches in one rack must see the machine, else an error naming the
//     count; rack and partition are the switches';
//   - a new machine gets state available with the hammer version, LED
//     LED-OFF "Machine registered", the request's tags and IPMI; an
//     existing one has size, hardware, BIOS, hammer version, partition and
//     rack overwritten, IPMI only when the request carries one, and keeps
//     its tags, state and allocation;
//   - the event container is created (liveliness Alive) when missing.
//
// The partition goes through the catalog. Any failure writes nothing, not
// even the machine.
func (t *Tx) Register(req RegisterRequest) (*Machine, bool, error) {
	if err := t.scope.adminOnly("registering a machine"); err != nil {
		return nil, false, err
	}
	if !t.checked {
		if err := req.validate(); err != nil {
			return nil, false, err
		}
		if err := t.s.checkPartition(t.ctx, req.PartitionID); err != nil {
			return nil, false, err
		}
	}
	e, err := load(t.tx, req.ID)
	if err != nil {
		return nil, false, err
	}
	sizes, err := listSizes(t.tx)
	if err != nil {
		return nil, false, err
	}
	all := make([]Size, len(sizes))
	for i, s := range sizes {
		all[i] = *s
	}
	sizeID, _ := Identify(all, *req.Hardware)
	rack, partition, err := switchstate.ConnectMachine(t.tx, req.ID, req.PartitionID, switchNics(req.Hardware.NICs))
	if err != nil {
		return nil, false, fmt.Errorf("machine: register %s: %w", q(req.ID), err)
	}
	now := t.now()
	created := e.m == nil
	m := e.m
	if created {
		m = &Machine{
			ID:       req.ID,
			State:    State{Value: StateAvailable},
			LEDState: LEDState{Value: LEDOff, Description: "Machine registered"},
			Tags:     slices.Clone(req.Tags),
			Created:  now,
		}
	} else {
		c := *m
		m = &c
	}
	m.PartitionID, m.RackID, m.SizeID = partition, rack, sizeID
	m.Hardware, m.BIOS = cloneHardware(*req.Hardware), *req.BIOS
	m.State.MetalHammerVersion = req.MetalHammerVersion
	if req.IPMI != nil {
		m.IPMI = *req.IPMI
	}
	m.Changed = now
	e.m = m
	if e.c == nil {
		e.c = &EventContainer{ID: req.ID, Liveliness: Alive}
	}
	if err := e.save(t.tx); err != nil {
		return nil, false, err
	}
	if err := t.record("machine.register", machinePath(req.ID), req); err != nil {
		return nil, false, err
	}
	return m, created, nil
}

func cloneHardware(h Hardware) Hardware {
	h.CPUs = slices.Clone(h.CPUs)
	h.Disks = slices.Clone(h.Disks)
	h.GPUs = slices.Clone(h.GPUs)
	nics := make([]NIC, len(h.NICs))
	for i, n := range h.NICs {
		n.Neighbors = slices.Clone(n.Neighbors)
		nics[i] = n
	}
	h.NICs = nics
	return h
}

// PortsRenamed rewrites the LLDP neighbour entries of the machines whose
// switch ports moved (switchstate replace and migrate), inside the
// switch operation's transaction; wire it as switchstate's
// Options.PortsRenamed. A machine that does not exist is skipped.
func PortsRenamed(tx backends.Tx, renames []switchstate.PortRename) error {
	byMachine := map[string][]switchstate.PortRename{}
	var ids []string
	for _, r := range renames {
		if _, ok := byMachine[r.MachineID]; !ok {
			ids = append(ids, r.MachineID)
		}
		byMachine[r.MachineID] = append(byMachine[r.MachineID], r)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e, err := load(tx, id)
		if err != nil {
			return err
		}
		if e.m == nil {
			continue
		}
		m := *e.m
		m.Hardware = cloneHardware(m.Hardware)
		for i := range m.Hardware.NICs {
			for j := range m.Hardware.NICs[i].Neighbors {
				nb := &m.Hardware.NICs[i].Neighbors[j]
				for _, r := range byMachine[id] {
					if nb.Hostname == r.OldSwitch && nb.Name == r.OldPort {
						nb.Hostname, nb.Name = r.NewSwitch, r.NewPort.Name
						nb.Identifier, nb.MacAddress = r.NewPort.Identifier, r.NewPort.MAC
						break
					}
				}
			}
		}
		e.m = &m
		if err := e.save(tx); err != nil {
			return err
		}
	}
	return nil
}
