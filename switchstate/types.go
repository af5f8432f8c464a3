package switchstate

import (
	"fmt"
	"strings"
	"time"
)

// Vendor is a switch operating system: VendorSONiC or VendorCumulus.
type Vendor string

// The switch operating systems the package knows.
const (
	VendorSONiC   Vendor = "SONiC"
	VendorCumulus Vendor = "Cumulus"
)

// ParseVendor reads a vendor name case-insensitively ("sonic", "CUMULUS")
// and returns its canonical spelling, or an error wrapping
// ErrInvalidArgument for any other value.
func ParseVendor(s string) (Vendor, error) {
	switch {
	case strings.EqualFold(s, string(VendorSONiC)):
		return VendorSONiC, nil
	case strings.EqualFold(s, string(VendorCumulus)):
		return VendorCumulus, nil
	}
	return "", fmt.Errorf("%w: os vendor %q is neither %s nor %s", ErrInvalidArgument, s, VendorSONiC, VendorCumulus)
}

// Mode is a switch's mode: ModeOperational or ModeReplace.
type Mode string

// Switch modes. A switch in ModeReplace takes its wiring from its twin the
// next time it registers (see Service.Register).
const (
	ModeOperational Mode = "operational"
	ModeReplace     Mode = "replace"
)

// PortState is the state of a switch port: PortUp, PortDown or
// PortUnknown.
type PortState string

// Port states. PortUnknown is the actual state of a port until its switch
// reports one; it is never a desired state.
const (
	PortUp      PortState = "UP"
	PortDown    PortState = "DOWN"
	PortUnknown PortState = "UNKNOWN"
)

// ParsePortState reads a port state case-insensitively and returns its
// canonical spelling, or an error wrapping ErrInvalidArgument.
func ParsePortState(s string) (PortState, error) {
	for _, p := range []PortState{PortUp, PortDown, PortUnknown} {
		if strings.EqualFold(s, string(p)) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: port state %q is not one of UP, DOWN, UNKNOWN", ErrInvalidArgument, s)
}

// OS describes a switch's operating system and agent.
type OS struct {
	Vendor           Vendor `json:"vendor"`
	Version          string `json:"version"`
	MetalCoreVersion string `json:"metal_core_version"`
}

// Nic is a switch port.
//
// Actual and Desired are separate fields everywhere: Actual is what the
// switch last reported (PortUnknown until it reports), Desired is an admin
// request made with Toggle and is empty when there is none. BGPPortState is
// filled on read from the port's BGP key and is nil when the switch
// reported no BGP session on the port.
type Nic struct {
	MAC          string        `json:"mac"`
	Name         string        `json:"name"`
	Identifier   string        `json:"identifier"`
	Vrf          string        `json:"vrf"`
	Actual       PortState     `json:"actual"`
	Desired      PortState     `json:"desired,omitempty"`
	BGPPortState *BGPPortState `json:"bgp_port_state,omitempty"`
}

// EffectiveIdentifier returns the port's identifier, or its MAC when the
// identifier is empty. All matching of ports uses it.
func (n Nic) EffectiveIdentifier() string {
	if n.Identifier != "" {
		return n.Identifier
	}
	return n.MAC
}

// SetState applies a state reported by the switch and reports whether the
// port changed:
//
//	stored            reported = actual     reported != actual
//	no state          -                     actual = reported
//	no desired        no change             actual = reported
//	desired=reported  desired cleared       actual = reported, desired cleared
//	desired!=reported no change             actual = reported, desired kept
func (n *Nic) SetState(reported PortState) bool {
	changed := false
	if n.Actual != reported {
		n.Actual = reported
		changed = true
	}
	if n.Desired != "" && n.Desired == reported {
		n.Desired = ""
		changed = true
	}
	return changed
}

// WantState records an admin's wish s (PortUp or PortDown) and reports
// whether the port changed:
//
//	stored       WantState(s)
//	no state     actual UNKNOWN, desired s
//	actual = s   desired cleared (a change only if one was set)
//	actual != s  desired = s (a change only if it differed)
func (n *Nic) WantState(s PortState) bool {
	changed := false
	if n.Actual == "" {
		n.Actual = PortUnknown
		changed = true
	}
	want := s
	if n.Actual == s {
		want = ""
	}
	if n.Desired != want {
		n.Desired = want
		changed = true
	}
	return changed
}

// Connection says that a machine is wired to a switch port. Nic is the
// switch port; on read it shows the port's current vrf and states.
type Connection struct {
	Nic       Nic    `json:"nic"`
	MachineID string `json:"machine_id"`
}

// SyncResult is the outcome of one reconfiguration cycle of a switch agent.
type SyncResult struct {
	Time     time.Time     `json:"time"`
	Duration time.Duration `json:"duration"`
	Error    *string       `json:"error"`
}

// Switch is a leaf switch as stored and returned by the package.
//
// Nics are sorted by name (digit runs compared as numbers), Connections by
// machine id and then port name. LastSync and LastSyncError come from the
// switch's status record.
type Switch struct {
	ID             string       `json:"id"`
	Name           string       `json:"name"`
	Description    string       `json:"description"`
	PartitionID    string       `json:"partition_id"`
	RackID         string       `json:"rack_id"`
	Mode           Mode         `json:"mode"`
	OS             OS           `json:"os"`
	ManagementIP   string       `json:"management_ip"`
	ManagementUser string       `json:"management_user"`
	ConsoleCommand string       `json:"console_command"`
	Nics           []Nic        `json:"nics"`
	Connections    []Connection `json:"connections"`
	LastSync       *SyncResult  `json:"last_sync"`
	LastSyncError  *SyncResult  `json:"last_sync_error"`
}

// nic returns the port named name, or nil.
func (s *Switch) nic(name string) *Nic {
	for i := range s.Nics {
		if s.Nics[i].Name == name {
			return &s.Nics[i]
		}
	}
	return nil
}

// machineConnections returns the connections of machineID.
func (s *Switch) machineConnections(machineID string) []Connection {
	var out []Connection
	for _, c := range s.Connections {
		if c.MachineID == machineID {
			out = append(out, c)
		}
	}
	return out
}

// BGPPortState is the BGP session a switch reported on one port, with
// metal-api's capitalised field names.
//
// The first seven fields are stored. Reported (the switch's last BGP
// report) and Stale (Reported is older than StaleAfter sync intervals) are
// filled on read; a stale state is still returned.
type BGPPortState struct {
	Neighbor              string `json:"Neighbor"`
	PeerGroup             string `json:"PeerGroup"`
	VrfName               string `json:"VrfName"`
	BgpState              string `json:"BgpState"`
	BgpTimerUpEstablished int64  `json:"BgpTimerUpEstablished"`
	SentPrefixCounter     int64  `json:"SentPrefixCounter"`
	AcceptedPrefixCounter int64  `json:"AcceptedPrefixCounter"`

	Reported time.Time `json:"Reported,omitzero"`
	Stale    bool      `json:"Stale,omitempty"`
}

// sameStored reports whether the seven stored fields are equal.
func (b BGPPortState) sameStored(o BGPPortState) bool {
	return b.Neighbor == o.Neighbor && b.PeerGroup == o.PeerGroup && b.VrfName == o.VrfName &&
		b.BgpState == o.BgpState && b.BgpTimerUpEstablished == o.BgpTimerUpEstablished &&
		b.SentPrefixCounter == o.SentPrefixCounter && b.AcceptedPrefixCounter == o.AcceptedPrefixCounter
}

// stored returns the state with the read-only fields cleared.
func (b BGPPortState) stored() BGPPortState {
	b.Reported, b.Stale = time.Time{}, false
	return b
}

// BGP session states as FRR spells them. Other values are kept as sent.
const (
	BGPIdle        = "Idle"
	BGPConnect     = "Connect"
	BGPActive      = "Active"
	BGPOpenSent    = "OpenSent"
	BGPOpenConfirm = "OpenConfirm"
	BGPEstablished = "Established"
)

// BGPTransition is one change of a port's BgpState. From is "" when the
// session appeared, To is "" when it was cleared; Established to
// Established means the session dropped and came back between two reports.
type BGPTransition struct {
	Time time.Time `json:"time"`
	From string    `json:"from"`
	To   string    `json:"to"`
}

// status is the status record of a switch, stored under its own key and
// written on every notify.
type status struct {
	LastSync      *SyncResult `json:"last_sync"`
	LastSyncError *SyncResult `json:"last_sync_error"`
	LastBGPReport time.Time   `json:"last_bgp_report,omitzero"`
}

// PortRename tells the owner of the machines' LLDP neighbour entries that a
// machine's connection moved from one switch port to another (Replace and
// Migrate). OldSwitch and NewSwitch are equal after a replace.
type PortRename struct {
	MachineID string `json:"machine_id"`
	OldSwitch string `json:"old_switch"`
	OldPort   string `json:"old_port"`
	NewSwitch string `json:"new_switch"`
	// NewPort is the new switch port: name, identifier and MAC.
	NewPort Nic `json:"new_port"`
}
