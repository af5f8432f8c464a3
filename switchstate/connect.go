package switchstate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// Neighbor is an LLDP neighbour a machine NIC sees: a switch port.
type Neighbor struct {
	MAC        string `json:"mac"`
	Name       string `json:"name"`
	Identifier string `json:"identifier"`
	Hostname   string `json:"hostname"`
}

func (n Neighbor) effectiveIdentifier() string {
	if n.Identifier != "" {
		return n.Identifier
	}
	return n.MAC
}

// MachineNic is a machine's network interface with its LLDP neighbours, as
// the machine package passes it to ConnectMachine.
type MachineNic struct {
	MAC        string     `json:"mac"`
	Name       string     `json:"name"`
	Identifier string     `json:"identifier"`
	Neighbors  []Neighbor `json:"neighbors"`
}

// ConnectMachine derives the switch connections of a machine from its NICs'
// LLDP neighbours and stores them, inside the caller's transaction (machine
// registration). It returns the rack and partition of the two switches.
//
// For each switch of the partition the physical connections are its ports
// whose effective identifier equals a neighbour's identifier, counting only
// neighbours whose hostname is the switch's name (all of them if the switch
// has no name). A switch that stores connections for the machine but sees
// none physically is an error (ErrConflict); otherwise each switch's
// connections for the machine are replaced by the physical ones. Then
// exactly two switches must hold connections for it, with the same number
// of ports, in one rack, each connected port of one mirrored by a
// connected port of the other (names translated between the switches'
// vendors), and no port connected to two machines (ErrInvalidArgument or
// ErrConflict otherwise). On error the caller must roll back its
// transaction; ConnectMachine itself writes only after every check passed.
func ConnectMachine(tx backends.Tx, machineID, partition string, nics []MachineNic) (rack, partitionID string, err error) {
	if err := checkName("machine id", machineID, true); err != nil {
		return "", "", err
	}
	if err := checkName("partition", partition, false); err != nil {
		return "", "", err
	}
	ids, err := partitionSwitches(tx, partition, "", true)
	if err != nil {
		return "", "", err
	}
	sws, err := loadSwitches(tx, ids)
	if err != nil {
		return "", "", err
	}
	type change struct{ old, new *Switch }
	var changes []change
	var connected []*Switch
	for _, sw := range sws {
		seen := map[string]bool{}
		for _, n := range nics {
			for _, nb := range n.Neighbors {
				if sw.Name == "" || nb.Hostname == sw.Name {
					seen[nb.effectiveIdentifier()] = true
				}
			}
		}
		var physical []Connection
		for _, p := range sw.Nics {
			if seen[p.EffectiveIdentifier()] {
				physical = append(physical, Connection{MachineID: machineID, Nic: Nic{Name: p.Name, Identifier: p.Identifier, MAC: p.MAC}})
			}
		}
		stored := sw.machineConnections(machineID)
		if len(stored) > 0 && len(physical) == 0 {
			return "", "", errdefs.Errorf(ErrConflict, "switchstate: machine %q on switch %q exists in the store but not physically; to move a machine to another rack, delete it first", machineID, sw.ID)
		}
		updated := sw
		if !slices.Equal(portNames(stored), portNames(physical)) || !sameConnectionNics(stored, physical) {
			updated = cloneSwitch(sw)
			updated.Connections = slices.DeleteFunc(updated.Connections, func(c Connection) bool { return c.MachineID == machineID })
			updated.Connections = append(updated.Connections, physical...)
			sortConnections(updated.Connections)
			changes = append(changes, change{sw, updated})
		}
		if len(physical) > 0 {
			connected = append(connected, updated)
		}
	}
	if len(connected) != 2 {
		return "", "", errdefs.Errorf(ErrInvalidArgument, "switchstate: machine %s is not connected to exactly two switches, found connections to %d switches", machineID, len(connected))
	}
	a, b := connected[0], connected[1]
	ca, cb := a.machineConnections(machineID), b.machineConnections(machineID)
	if len(ca) != len(cb) {
		return "", "", errdefs.Errorf(ErrInvalidArgument, "switchstate: machine %q has %d connections to switch %q but %d to switch %q", machineID, len(ca), a.ID, len(cb), b.ID)
	}
	if a.RackID != b.RackID {
		return "", "", errdefs.Errorf(ErrInvalidArgument, "switchstate: machine %q is connected to switch %q in rack %q and switch %q in rack %q; both must be in one rack", machineID, a.ID, a.RackID, b.ID, b.RackID)
	}
	var errs []error
	if err := checkMirror(a, b, machineID); err != nil {
		errs = append(errs, err)
	}
	if err := checkMirror(b, a, machineID); err != nil {
		errs = append(errs, err)
	}
	for _, sw := range connected {
		if err := checkShared(sw, machineID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := joinErrs(errs); err != nil {
		return "", "", err
	}
	for _, c := range changes {
		if err := putSwitch(tx, c.old, c.new); err != nil {
			return "", "", err
		}
	}
	return a.RackID, a.PartitionID, nil
}

func portNames(cs []Connection) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Nic.Name
	}
	slices.SortFunc(out, ComparePortNames)
	return out
}

func sameConnectionNics(a, b []Connection) bool {
	key := func(cs []Connection) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.Nic.Name + "\x00" + c.Nic.Identifier + "\x00" + c.Nic.MAC
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// checkMirror checks that every port of a connected to the machine,
// translated into b's naming, is a port of b connected to the machine.
func checkMirror(a, b *Switch, machineID string) error {
	names := make([]string, len(a.Nics))
	for i, n := range a.Nics {
		names[i] = n.Name
	}
	tr, err := TranslatePortNames(names, a.OS.Vendor, b.OS.Vendor)
	if err != nil {
		return fmt.Errorf("mirror check of machine %q between switches %q and %q: %w", machineID, a.ID, b.ID, err)
	}
	onB := map[string]bool{}
	for _, c := range b.machineConnections(machineID) {
		onB[c.Nic.Name] = true
	}
	var bad []string
	for _, c := range a.machineConnections(machineID) {
		if !onB[tr[c.Nic.Name]] {
			bad = append(bad, fmt.Sprintf("%s port %s (as %s on %s)", a.ID, c.Nic.Name, tr[c.Nic.Name], b.ID))
		}
	}
	if len(bad) > 0 {
		return errdefs.Errorf(ErrInvalidArgument, "switchstate: machine %q is not wired symmetrically: %s has no mirrored connection", machineID, strings.Join(bad, ", "))
	}
	return nil
}

// checkShared reports ports of sw connected to the machine and to another
// machine.
func checkShared(sw *Switch, machineID string) error {
	others := map[string]string{}
	for _, c := range sw.Connections {
		if c.MachineID != machineID {
			others[c.Nic.Name] = c.MachineID
		}
	}
	var errs []error
	for _, c := range sw.machineConnections(machineID) {
		if m, ok := others[c.Nic.Name]; ok {
			errs = append(errs, errdefs.Errorf(ErrConflict, "switchstate: switch %q port %q is connected to machine %q and machine %q", sw.ID, c.Nic.Name, m, machineID))
		}
	}
	return joinErrs(errs)
}

// SetMachineVRF sets vrf on every switch port connected to the machine,
// inside the caller's transaction: "default" or "vrf<N>" when the machine
// reports its installation, "" when it is freed or reinstalled. A machine
// without connections is not an error.
func SetMachineVRF(tx backends.Tx, machineID string, vrf PortVRF) error {
	if err := checkName("machine id", machineID, true); err != nil {
		return err
	}
	if err := vrf.check("vrf"); err != nil {
		return err
	}
	return editMachineSwitches(tx, machineID, func(sw *Switch) bool {
		changed := false
		for _, c := range sw.machineConnections(machineID) {
			if p := sw.nic(c.Nic.Name); p != nil && p.Vrf != vrf {
				p.Vrf = vrf
				changed = true
			}
		}
		return changed
	})
}

// DisconnectMachine removes the machine's connections from every switch,
// inside the caller's transaction (machine delete). The ports keep their
// vrf and states.
func DisconnectMachine(tx backends.Tx, machineID string) error {
	if err := checkName("machine id", machineID, true); err != nil {
		return err
	}
	return editMachineSwitches(tx, machineID, func(sw *Switch) bool {
		sw.Connections = slices.DeleteFunc(sw.Connections, func(c Connection) bool { return c.MachineID == machineID })
		return true
	})
}

// editMachineSwitches applies edit to a copy of every switch that holds
// connections of the machine and stores the copies edit reports changed.
func editMachineSwitches(tx backends.Tx, machineID string, edit func(sw *Switch) (changed bool)) error {
	ids, err := machineSwitches(tx, machineID)
	if err != nil {
		return err
	}
	olds, err := loadSwitches(tx, ids)
	if err != nil {
		return err
	}
	for _, old := range olds {
		sw := cloneSwitch(old)
		if !edit(sw) {
			continue
		}
		if err := putSwitch(tx, old, sw); err != nil {
			return err
		}
	}
	return nil
}
