package switchstate

import (
	"fmt"
	"net/netip"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
)

// RegisterNic is a port as a switch agent registers it.
type RegisterNic struct {
	MAC        string  `json:"mac"`
	Name       string  `json:"name"`
	Identifier string  `json:"identifier"`
	Vrf        PortVRF `json:"vrf"`
}

func (n RegisterNic) effectiveIdentifier() string {
	if n.Identifier != "" {
		return n.Identifier
	}
	return n.MAC
}

// RegisterRequest is what a switch agent sends when it starts. Name and
// Description are applied only when given (non-nil); OS is required.
type RegisterRequest struct {
	ID             string        `json:"id"`
	Name           *string       `json:"name,omitempty"`
	Description    *string       `json:"description,omitempty"`
	PartitionID    string        `json:"partition_id"`
	RackID         string        `json:"rack_id"`
	Nics           []RegisterNic `json:"nics"`
	OS             *OS           `json:"os"`
	ManagementIP   netip.Addr    `json:"management_ip"`
	ManagementUser string        `json:"management_user"`
	ConsoleCommand string        `json:"console_command"`
}

// validate checks the request and returns the canonical vendor. All
// problems are reported together.
func (r *RegisterRequest) validate() (Vendor, error) {
	var errs []error
	if err := checkName("id", r.ID, true); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct{ field, value string }{{"partition_id", r.PartitionID}, {"rack_id", r.RackID}} {
		if err := checkName(f.field, f.value, false); err != nil {
			errs = append(errs, err)
		}
	}
	if r.Name != nil {
		if err := limits.Name("name", *r.Name); err != nil {
			errs = append(errs, invalid(err))
		}
	}
	if r.Description != nil {
		if err := limits.Description("description", *r.Description); err != nil {
			errs = append(errs, invalid(err))
		}
	}
	for _, f := range []struct{ field, value string }{{"management_user", r.ManagementUser}, {"console_command", r.ConsoleCommand}} {
		if err := limits.Description(f.field, f.value); err != nil {
			errs = append(errs, invalid(err))
		}
	}

	if r.ManagementIP.IsValid() && r.ManagementIP.Zone() != "" {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "switchstate: management_ip %s: zones are not allowed", r.ManagementIP))
	}
	var vendor Vendor
	if r.OS == nil {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "switchstate: os is required"))
	} else {
		v, err := ParseVendor(string(r.OS.Vendor))
		if err != nil {
			errs = append(errs, err)
		}
		vendor = v
	}
	if err := limits.Count("nics", len(r.Nics)); err != nil {
		return "", joinErrs(append(errs, invalid(err)))
	}
	names := map[string]bool{}
	ids := map[string]string{}
	for i, n := range r.Nics {
		if err := checkName(fmt.Sprintf("nics[%d].name", i), n.Name, true); err != nil {
			errs = append(errs, err)
			continue
		}
		if n.effectiveIdentifier() == "" {
			errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "switchstate: nics[%d] (port %q) has neither identifier nor mac", i, n.Name))
			continue
		}
		if err := checkName(fmt.Sprintf("nics[%d].identifier", i), n.effectiveIdentifier(), true); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := n.Vrf.check(fmt.Sprintf("nics[%d].vrf", i)); err != nil {
			errs = append(errs, err)
		}
		if names[n.Name] {
			errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "switchstate: two ports named %q", n.Name))
		}
		names[n.Name] = true
		if other, dup := ids[n.effectiveIdentifier()]; dup {
			errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "switchstate: ports %q and %q have the same identifier %q", other, n.Name, n.effectiveIdentifier()))
		}
		ids[n.effectiveIdentifier()] = n.Name
	}
	return vendor, joinErrs(errs)
}

// Register creates the switch or updates it from its agent's request and
// reports whether it was created.
//
// A new id is created in mode operational without connections. A switch
// stored in mode replace takes its wiring from its twin (see the package
// spec: the only other switch of its partition and rack that is
// operational and has connections). Otherwise name and description change
// only when given; partition, rack, os and management ip and user are
// replaced (partition and rack only while the switch has no connections);
// the console command and connections are kept; ports merge by effective
// identifier: a stored port missing from the request is dropped unless a
// machine is connected to it, a port in both keeps its vrf, states and BGP
// state and takes the new name (unless connected) and MAC, and a new port
// is added as sent. Registering the same request again writes nothing and
// records no event. The partition goes through Options.Catalog.
func (t *Tx) Register(req RegisterRequest) (*Switch, bool, error) {
	if err := t.adminOnly("registering a switch"); err != nil {
		return nil, false, err
	}
	vendor, err := req.validate()
	if err != nil {
		return nil, false, err
	}
	if err := t.checkPartition(req.PartitionID); err != nil {
		return nil, false, err
	}
	return t.register(req, vendor)
}

// register is Register after its checks: req is valid, vendor its canonical
// vendor and its partition went through the catalog.
func (t *Tx) register(req RegisterRequest, vendor Vendor) (*Switch, bool, error) {
	created, changed, err := t.s.registerTx(t.tx, &req, vendor)
	if err != nil {
		return nil, false, err
	}
	out, err := t.s.viewer().read(t.tx, req.ID)
	if err != nil {
		return nil, false, err
	}
	if changed {
		if err := t.rec.Record("switch.register", switchPath(req.ID), req); err != nil {
			return nil, false, err
		}
	}
	return out, created, nil
}

func (s *Service) registerTx(tx backends.Tx, req *RegisterRequest, vendor Vendor) (created, changed bool, err error) {
	old, err := loadSwitch(tx, req.ID)
	switch {
	case isNotFound(err):
		sw := &Switch{ID: req.ID, Mode: ModeOperational, ConsoleCommand: req.ConsoleCommand, Connections: []Connection{}}
		applyRegisterFields(sw, req, vendor)
		for _, n := range req.Nics {
			sw.Nics = append(sw.Nics, Nic{MAC: n.MAC, Name: n.Name, Identifier: n.Identifier, Vrf: n.Vrf, Actual: PortUnknown})
		}
		return true, true, putSwitch(tx, nil, sw)
	case err != nil:
		return false, false, err
	case old.Mode == ModeReplace:
		return false, true, s.replaceTx(tx, old, req, vendor)
	}
	sw := cloneSwitch(old)
	if (old.PartitionID != req.PartitionID || old.RackID != req.RackID) && len(old.Connections) > 0 {
		return false, false, errdefs.Errorf(ErrConflict, "switchstate: switch %q has connections and cannot move from partition %q rack %q to partition %q rack %q", old.ID, old.PartitionID, old.RackID, req.PartitionID, req.RackID)
	}
	applyRegisterFields(sw, req, vendor)
	renames, err := mergePorts(sw, req)
	if err != nil {
		return false, false, err
	}
	if recordEqual(old, sw) {
		return false, false, nil
	}
	if err := moveBGPState(tx, old, sw, renames); err != nil {
		return false, false, err
	}
	return false, true, putSwitch(tx, old, sw)
}

func applyRegisterFields(sw *Switch, req *RegisterRequest, vendor Vendor) {
	if req.Name != nil {
		sw.Name = *req.Name
	}
	if req.Description != nil {
		sw.Description = *req.Description
	}
	sw.PartitionID, sw.RackID = req.PartitionID, req.RackID
	sw.OS = *req.OS
	sw.OS.Vendor = vendor
	sw.ManagementIP, sw.ManagementUser = req.ManagementIP, req.ManagementUser
}

// mergePorts merges the request's ports into sw by effective identifier and
// returns the renamed ports, old name -> new name.
func mergePorts(sw *Switch, req *RegisterRequest) (map[string]string, error) {
	connected := map[string]string{} // port name -> a machine on it
	for _, c := range sw.Connections {
		connected[c.Nic.Name] = c.MachineID
	}
	stored := map[string]Nic{}
	for _, n := range sw.Nics {
		stored[n.EffectiveIdentifier()] = n
	}
	var errs []error
	renames := map[string]string{}
	seen := map[string]bool{}
	nics := make([]Nic, 0, len(req.Nics))
	for _, r := range req.Nics {
		id := r.effectiveIdentifier()
		seen[id] = true
		old, ok := stored[id]
		if !ok {
			nics = append(nics, Nic{MAC: r.MAC, Name: r.Name, Identifier: r.Identifier, Vrf: r.Vrf, Actual: PortUnknown})
			continue
		}
		if old.Name != r.Name {
			if m, ok := connected[old.Name]; ok {
				errs = append(errs, errdefs.Errorf(ErrConflict, "switchstate: port %q is connected to machine %q and cannot be renamed to %q", old.Name, m, r.Name))
				continue
			}
			renames[old.Name] = r.Name
		}
		old.Name, old.MAC, old.Identifier = r.Name, r.MAC, r.Identifier
		nics = append(nics, old)
	}
	for _, n := range sw.Nics {
		if seen[n.EffectiveIdentifier()] {
			continue
		}
		if m, ok := connected[n.Name]; ok {
			errs = append(errs, errdefs.Errorf(ErrConflict, "switchstate: port %q (identifier %q) is missing from the request but connected to machine %q", n.Name, n.EffectiveIdentifier(), m))
		}
	}
	if err := joinErrs(errs); err != nil {
		return nil, err
	}
	sortNics(nics)
	sw.Nics = nics
	for i, c := range sw.Connections {
		if p := sw.nic(c.Nic.Name); p != nil {
			sw.Connections[i].Nic = Nic{Name: p.Name, Identifier: p.Identifier, MAC: p.MAC}
		}
	}
	return renames, nil
}

// moveBGPState carries the BGP state and history of renamed ports over to
// their new names and drops those of ports that are gone.
func moveBGPState(tx backends.Tx, old, sw *Switch, renames map[string]string) error {
	kept := map[string]bool{}
	for _, n := range sw.Nics {
		kept[n.Name] = true
	}
	bgp, err := loadBGP(tx, sw.ID)
	if err != nil {
		return err
	}
	moved := map[string]BGPPortState{}
	for port, st := range bgp {
		if to, ok := renames[port]; ok {
			moved[to] = st
		}
		if _, ok := renames[port]; ok || !kept[port] {
			if err := tx.Delete(bgpBucket(sw.ID), bgpKey(port)); err != nil {
				return err
			}
		}
	}
	for port, st := range moved {
		if err := putBGP(tx, sw.ID, port, st); err != nil {
			return err
		}
	}
	// History: first move renamed ports aside, so that a chain of renames
	// (a->b, b->c) never mixes two ports' histories.
	for from := range renames {
		if err := moveHistory(tx, sw.ID, from, "\x00tmp\x00"+from); err != nil {
			return err
		}
	}
	for _, n := range old.Nics {
		if _, renamed := renames[n.Name]; !renamed && !kept[n.Name] {
			if _, err := backends.DeletePrefix(tx, historyBucket(sw.ID), historyPrefix(n.Name)); err != nil {
				return err
			}
		}
	}
	for from, to := range renames {
		if err := moveHistory(tx, sw.ID, "\x00tmp\x00"+from, to); err != nil {
			return err
		}
	}
	return nil
}

// UpdateRequest is an admin's change of a switch. Description changes when
// given; ConsoleCommand is always set (empty clears it); Mode must be
// "operational" or "replace".
type UpdateRequest struct {
	ID             string  `json:"id"`
	Description    *string `json:"description,omitempty"`
	ConsoleCommand string  `json:"console_command"`
	Mode           Mode    `json:"mode"`
}

// Update applies an admin's change and returns the switch. An unknown mode
// wraps ErrInvalidArgument, an unknown switch ErrNotFound. A request that
// changes nothing writes nothing.
func (t *Tx) Update(req UpdateRequest) (*Switch, error) {
	if err := t.adminOnly("updating a switch"); err != nil {
		return nil, err
	}
	var errs []error
	if err := limits.ID("id", req.ID); err != nil {
		errs = append(errs, invalid(err))
	}
	if req.Mode != ModeOperational && req.Mode != ModeReplace {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "switchstate: mode %s must be %q or %q", errdefs.Quote(string(req.Mode)), ModeOperational, ModeReplace))
	}
	if req.Description != nil {
		if err := limits.Description("description", *req.Description); err != nil {
			errs = append(errs, invalid(err))
		}
	}
	if err := limits.Description("console_command", req.ConsoleCommand); err != nil {
		errs = append(errs, invalid(err))
	}
	if err := joinErrs(errs); err != nil {
		return nil, err
	}
	old, err := loadSwitch(t.tx, req.ID)
	if err != nil {
		return nil, err
	}
	sw := cloneSwitch(old)
	if req.Description != nil {
		sw.Description = *req.Description
	}
	sw.ConsoleCommand, sw.Mode = req.ConsoleCommand, req.Mode
	changed := !recordEqual(old, sw)
	if changed {
		if err := putSwitch(t.tx, old, sw); err != nil {
			return nil, err
		}
		if err := t.rec.Record("switch.update", switchPath(req.ID), req); err != nil {
			return nil, err
		}
	}
	return t.s.viewer().read(t.tx, req.ID)
}

// Delete removes a switch with its status record, BGP states and BGP
// history and returns it as it was. A switch with connections is refused
// (ErrConflict) unless force is set.
func (t *Tx) Delete(id string, force bool) (*Switch, error) {
	if err := t.adminOnly("deleting a switch"); err != nil {
		return nil, err
	}
	out, err := t.s.viewer().read(t.tx, id)
	if err != nil {
		return nil, err
	}
	if len(out.Connections) > 0 && !force {
		return nil, errdefs.Errorf(ErrConflict, "switchstate: switch %q has %d connections; delete with force to remove it anyway", id, len(out.Connections))
	}
	if err := deleteTx(t.tx, out); err != nil {
		return nil, err
	}
	if err := t.rec.Record("switch.delete", switchPath(id), map[string]any{"id": id, "force": force}); err != nil {
		return nil, err
	}
	return out, nil
}

func deleteTx(tx backends.Tx, sw *Switch) error {
	for _, c := range sw.Connections {
		if err := tx.Delete(machineBucket(c.MachineID), switchKey(sw.ID)); err != nil {
			return err
		}
	}
	if err := tx.Delete(partitionBucket(sw.PartitionID), rackKey(sw.RackID, sw.ID)); err != nil {
		return err
	}
	if _, err := backends.DeletePrefix(tx, bgpBucket(sw.ID), nil); err != nil {
		return err
	}
	if _, err := backends.DeletePrefix(tx, historyBucket(sw.ID), nil); err != nil {
		return err
	}
	if err := tx.Delete(bucketStatus, switchKey(sw.ID)); err != nil {
		return err
	}
	return tx.Delete(bucketSwitch, switchKey(sw.ID))
}
