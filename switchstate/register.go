package switchstate

import (
	"context"
	"fmt"
	"strings"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
)

// RegisterNic is a port as a switch agent registers it.
type RegisterNic struct {
	MAC        string `json:"mac"`
	Name       string `json:"name"`
	Identifier string `json:"identifier"`
	Vrf        string `json:"vrf"`
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
	ManagementIP   string        `json:"management_ip"`
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
	for field, v := range map[string]string{"partition_id": r.PartitionID, "rack_id": r.RackID} {
		if err := checkName(field, v, false); err != nil {
			errs = append(errs, err)
		}
	}
	var vendor Vendor
	if r.OS == nil {
		errs = append(errs, fmt.Errorf("%w: os is required", ErrInvalidArgument))
	} else {
		v, err := ParseVendor(string(r.OS.Vendor))
		if err != nil {
			errs = append(errs, err)
		}
		vendor = v
	}
	names := map[string]bool{}
	ids := map[string]string{}
	for i, n := range r.Nics {
		if err := checkName(fmt.Sprintf("nics[%d].name", i), n.Name, true); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := checkName(fmt.Sprintf("nics[%d].identifier", i), n.effectiveIdentifier(), true); err != nil {
			errs = append(errs, fmt.Errorf("%w (port %q has neither identifier nor mac)", err, n.Name))
			continue
		}
		if err := checkVrf(n.Vrf); err != nil {
			errs = append(errs, fmt.Errorf("port %q: %w", n.Name, err))
		}
		if names[n.Name] {
			errs = append(errs, fmt.Errorf("%w: two ports named %q", ErrInvalidArgument, n.Name))
		}
		names[n.Name] = true
		if other, dup := ids[n.effectiveIdentifier()]; dup {
			errs = append(errs, fmt.Errorf("%w: ports %q and %q have the same identifier %q", ErrInvalidArgument, other, n.Name, n.effectiveIdentifier()))
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
// records no event.
func (s *Service) Register(ctx context.Context, req RegisterRequest, actor ...audit.Actor) (Switch, bool, error) {
	vendor, err := req.validate()
	if err != nil {
		return Switch{}, false, err
	}
	if s.opts.Partition != nil {
		if err := s.opts.Partition(ctx, req.PartitionID); err != nil {
			return Switch{}, false, fmt.Errorf("switchstate: partition %q: %w", req.PartitionID, err)
		}
	}
	var (
		out     Switch
		created bool
	)
	err = s.update(ctx, true, "switch.register", switchPath(req.ID), req, actor, func(tx backends.Tx) error {
		now := s.opts.Clock()
		v := s.viewer(now)
		var changed bool
		var err error
		created, changed, err = s.registerTx(tx, &req, vendor)
		if err != nil {
			return err
		}
		if out, err = v.read(tx, req.ID); err != nil {
			return err
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
	if err != nil {
		return Switch{}, false, err
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
		return false, false, fmt.Errorf("%w: switch %q has connections and cannot move from partition %q rack %q to partition %q rack %q",
			ErrConflict, old.ID, old.PartitionID, old.RackID, req.PartitionID, req.RackID)
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
				errs = append(errs, fmt.Errorf("%w: port %q is connected to machine %q and cannot be renamed to %q", ErrConflict, old.Name, m, r.Name))
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
			errs = append(errs, fmt.Errorf("%w: port %q (identifier %q) is missing from the request but connected to machine %q", ErrConflict, n.Name, n.EffectiveIdentifier(), m))
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
			if err := clearBucket(tx, historyBucket(sw.ID), historyPrefix(n.Name)); err != nil {
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
func (s *Service) Update(ctx context.Context, req UpdateRequest, actor ...audit.Actor) (Switch, error) {
	if req.ID == "" {
		return Switch{}, fmt.Errorf("%w: id is required", ErrInvalidArgument)
	}
	if req.Mode != ModeOperational && req.Mode != ModeReplace {
		return Switch{}, fmt.Errorf("%w: mode %q must be %q or %q", ErrInvalidArgument, req.Mode, ModeOperational, ModeReplace)
	}
	var out Switch
	err := s.update(ctx, true, "switch.update", switchPath(req.ID), req, actor, func(tx backends.Tx) error {
		old, err := loadSwitch(tx, req.ID)
		if err != nil {
			return err
		}
		sw := cloneSwitch(old)
		if req.Description != nil {
			sw.Description = *req.Description
		}
		sw.ConsoleCommand, sw.Mode = req.ConsoleCommand, req.Mode
		changed := !recordEqual(old, sw)
		if changed {
			if err := putSwitch(tx, old, sw); err != nil {
				return err
			}
		}
		if out, err = s.viewer(s.opts.Clock()).read(tx, req.ID); err != nil {
			return err
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
	return out, err
}

// Delete removes a switch with its status record, BGP states and BGP
// history and returns it as it was. A switch with connections is refused
// (ErrConflict) unless force is set.
func (s *Service) Delete(ctx context.Context, id string, force bool, actor ...audit.Actor) (Switch, error) {
	var out Switch
	body := map[string]any{"id": id, "force": force}
	err := s.update(ctx, true, "switch.delete", switchPath(id), body, actor, func(tx backends.Tx) error {
		var err error
		if out, err = s.viewer(s.opts.Clock()).read(tx, id); err != nil {
			return err
		}
		if len(out.Connections) > 0 && !force {
			return fmt.Errorf("%w: switch %q has %d connections; delete with force to remove it anyway", ErrConflict, id, len(out.Connections))
		}
		return deleteTx(tx, &out)
	})
	if err != nil {
		return Switch{}, err
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
	if err := clearBucket(tx, bgpBucket(sw.ID), nil); err != nil {
		return err
	}
	if err := clearBucket(tx, historyBucket(sw.ID), nil); err != nil {
		return err
	}
	if err := tx.Delete(bucketStatus, switchKey(sw.ID)); err != nil {
		return err
	}
	return tx.Delete(bucketSwitch, switchKey(sw.ID))
}

// checkVrf accepts "", "default" and "vrf<N>".
func checkVrf(vrf string) error {
	if vrf == "" || vrf == "default" {
		return nil
	}
	if n, ok := strings.CutPrefix(vrf, "vrf"); ok {
		if _, err := portNumber(n); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: vrf %q must be empty, \"default\" or vrf<N>", ErrInvalidArgument, vrf)
}
