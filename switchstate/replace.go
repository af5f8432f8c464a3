package switchstate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
)

// replaceTx registers new hardware for a switch stored in mode replace: it
// takes vrfs and connections from its twin, starts with empty port and BGP
// states and becomes operational.
func (s *Service) replaceTx(tx backends.Tx, old *Switch, req *RegisterRequest, vendor Vendor) error {
	if req.PartitionID != old.PartitionID || req.RackID != old.RackID {
		return errdefs.Errorf(ErrInvalidArgument, "switchstate: switch %q is being replaced in partition %q rack %q, the request names partition %q rack %q", old.ID, old.PartitionID, old.RackID, req.PartitionID, req.RackID)
	}
	twin, err := findTwin(tx, old)
	if err != nil {
		return err
	}
	names := make([]string, len(twin.Nics))
	for i, n := range twin.Nics {
		names[i] = n.Name
	}
	tr, err := TranslatePortNames(names, twin.OS.Vendor, vendor)
	if err != nil {
		return fmt.Errorf("switch %q replaces its twin %q: %w", old.ID, twin.ID, err)
	}
	ports := map[string]RegisterNic{}
	for _, n := range req.Nics {
		ports[n.Name] = n
	}
	var missing []string
	for _, n := range names {
		if _, ok := ports[tr[n]]; !ok {
			missing = append(missing, tr[n])
		}
	}
	if len(missing) > 0 {
		slices.SortFunc(missing, ComparePortNames)
		return errdefs.Errorf(ErrInvalidArgument, "switchstate: switch %q lacks the ports %s of its twin %q; check the breakout configuration of the new switch", old.ID, strings.Join(missing, ", "), twin.ID)
	}
	vrfs := map[string]PortVRF{}
	for _, n := range twin.Nics {
		vrfs[tr[n.Name]] = n.Vrf
	}
	sw := cloneSwitch(old)
	applyRegisterFields(sw, req, vendor)
	sw.Mode = ModeOperational
	sw.Nics = make([]Nic, 0, len(req.Nics))
	for _, r := range req.Nics {
		n := Nic{MAC: r.MAC, Name: r.Name, Identifier: r.Identifier, Vrf: r.Vrf, Actual: PortUnknown}
		if v, ok := vrfs[r.Name]; ok {
			n.Vrf = v
		}
		sw.Nics = append(sw.Nics, n)
	}
	sw.Connections = []Connection{}
	var renames []PortRename
	for _, c := range twin.Connections {
		p := sw.nic(tr[c.Nic.Name])
		if p == nil {
			return errdefs.Errorf(ErrConflict, "switchstate: connection of machine %q on twin %q port %q names no port of the twin", c.MachineID, twin.ID, c.Nic.Name)
		}
		np := Nic{Name: p.Name, Identifier: p.Identifier, MAC: p.MAC}
		sw.Connections = append(sw.Connections, Connection{MachineID: c.MachineID, Nic: np})
		if oldPort, ok := previousPort(old, c, twin.OS.Vendor); ok {
			renames = append(renames, PortRename{MachineID: c.MachineID, OldSwitch: old.ID, OldPort: oldPort, NewSwitch: sw.ID, NewPort: np})
		}
	}
	if _, err := backends.DeletePrefix(tx, bgpBucket(sw.ID), nil); err != nil {
		return err
	}
	if _, err := backends.DeletePrefix(tx, historyBucket(sw.ID), nil); err != nil {
		return err
	}
	if err := putSwitch(tx, old, sw); err != nil {
		return err
	}
	return s.portsRenamed(tx, renames)
}

// previousPort finds the port of the replaced switch that mirrored the
// twin's connection c: the stored connection of the same machine on the
// same line, else the stored port on that line.
func previousPort(old *Switch, c Connection, twinVendor Vendor) (string, bool) {
	line, err := PortLine(c.Nic.Name, twinVendor)
	if err != nil {
		return "", false
	}
	onLine := func(name string) bool {
		l, err := PortLine(name, old.OS.Vendor)
		return err == nil && l == line
	}
	for _, oc := range old.Connections {
		if oc.MachineID == c.MachineID && onLine(oc.Nic.Name) {
			return oc.Nic.Name, true
		}
	}
	for _, n := range old.Nics {
		if onLine(n.Name) {
			return n.Name, true
		}
	}
	return "", false
}

// findTwin returns the only other switch of sw's partition and rack that is
// not in replace mode and has at least one connection.
func findTwin(tx backends.Tx, sw *Switch) (*Switch, error) {
	ids, err := partitionSwitches(tx, sw.PartitionID, sw.RackID, false)
	if err != nil {
		return nil, err
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == sw.ID })
	others, err := loadSwitches(tx, ids)
	if err != nil {
		return nil, err
	}
	var twins []*Switch
	for _, o := range others {
		if o.Mode != ModeReplace && len(o.Connections) > 0 {
			twins = append(twins, o)
		}
	}
	if len(twins) != 1 {
		return nil, errdefs.Errorf(ErrConflict, "switchstate: switch %q in replace mode needs exactly one operational twin with connections in partition %q rack %q, found %d", sw.ID, sw.PartitionID, sw.RackID, len(twins))
	}
	return twins[0], nil
}

func (s *Service) portsRenamed(tx backends.Tx, renames []PortRename) error {
	if s.opts.PortsRenamed == nil || len(renames) == 0 {
		return nil
	}
	if err := s.opts.PortsRenamed(tx, renames); err != nil {
		return fmt.Errorf("switchstate: PortsRenamed: %w", err)
	}
	return nil
}

// Migrate moves the wiring of switch oldID onto switch newID (an admin's
// operation, e.g. Cumulus to SONiC): both must exist, newID must have a
// valid os, the same partition and rack, no connections, and every port of
// oldID translated to its naming. newID takes oldID's vrfs and connections
// (translated), oldID keeps its ports and loses its connections, and
// Options.PortsRenamed runs in the same transaction. It returns the new
// switch. Any failure changes neither switch.
func (t *Tx) Migrate(oldID, newID string) (*Switch, error) {
	if err := t.adminOnly("migrating a switch"); err != nil {
		return nil, err
	}
	var errs []error
	if err := limits.ID("old switch id", oldID); err != nil {
		errs = append(errs, invalid(err))
	}
	if err := limits.ID("new switch id", newID); err != nil {
		errs = append(errs, invalid(err))
	}
	if oldID != "" && oldID == newID {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "switchstate: cannot migrate switch %q onto itself", oldID))
	}
	if err := joinErrs(errs); err != nil {
		return nil, err
	}
	if err := t.s.migrateTx(t.tx, oldID, newID); err != nil {
		return nil, err
	}
	if err := t.rec.Record("switch.migrate", switchPath(newID), map[string]string{"old_id": oldID, "new_id": newID}); err != nil {
		return nil, err
	}
	return t.s.viewer().read(t.tx, newID)
}

func (s *Service) migrateTx(tx backends.Tx, oldID, newID string) error {
	old, err := loadSwitch(tx, oldID)
	if err != nil {
		return err
	}
	nw, err := loadSwitch(tx, newID)
	if err != nil {
		return err
	}
	vendor, err := ParseVendor(string(nw.OS.Vendor))
	if err != nil {
		return fmt.Errorf("new switch %q: %w", newID, err)
	}
	if nw.PartitionID != old.PartitionID || nw.RackID != old.RackID {
		return errdefs.Errorf(ErrInvalidArgument, "switchstate: switch %q is in partition %q rack %q, switch %q in partition %q rack %q", oldID, old.PartitionID, old.RackID, newID, nw.PartitionID, nw.RackID)
	}
	if len(nw.Connections) > 0 {
		return errdefs.Errorf(ErrConflict, "switchstate: the new switch %q already has %d connections", newID, len(nw.Connections))
	}
	names := make([]string, len(old.Nics))
	for i, n := range old.Nics {
		names[i] = n.Name
	}
	tr, err := TranslatePortNames(names, old.OS.Vendor, vendor)
	if err != nil {
		return fmt.Errorf("switch %q: %w", oldID, err)
	}
	var missing []string
	for _, n := range names {
		if nw.nic(tr[n]) == nil {
			missing = append(missing, tr[n])
		}
	}
	if len(missing) > 0 {
		slices.SortFunc(missing, ComparePortNames)
		return errdefs.Errorf(ErrInvalidArgument, "switchstate: switch %q lacks the ports %s of switch %q; check the breakout configuration", newID, strings.Join(missing, ", "), oldID)
	}
	updated := cloneSwitch(nw)
	for _, n := range old.Nics {
		updated.nic(tr[n.Name]).Vrf = n.Vrf
	}
	var renames []PortRename
	updated.Connections = []Connection{}
	for _, c := range old.Connections {
		p := updated.nic(tr[c.Nic.Name])
		if p == nil {
			return errdefs.Errorf(ErrConflict, "switchstate: connection of machine %q on switch %q port %q names no port of the switch", c.MachineID, oldID, c.Nic.Name)
		}
		np := Nic{Name: p.Name, Identifier: p.Identifier, MAC: p.MAC}
		updated.Connections = append(updated.Connections, Connection{MachineID: c.MachineID, Nic: np})
		renames = append(renames, PortRename{MachineID: c.MachineID, OldSwitch: oldID, OldPort: c.Nic.Name, NewSwitch: newID, NewPort: np})
	}
	cleared := cloneSwitch(old)
	cleared.Connections = []Connection{}
	if err := putSwitch(tx, nw, updated); err != nil {
		return err
	}
	if err := putSwitch(tx, old, cleared); err != nil {
		return err
	}
	return s.portsRenamed(tx, renames)
}
