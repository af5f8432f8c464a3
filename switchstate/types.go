package switchstate

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/metalkit/metalkit/errdefs"
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
	return "", errdefs.Errorf(ErrInvalidArgument, "switchstate: os vendor %q is neither %s nor %s", s, VendorSONiC, VendorCumulus)
}

// Mode is a switch's mode: ModeOperational or ModeReplace. In replace
// mode, the switch is being exchanged for new hardware: its next
// registration takes the wiring from its twin (see Tx.Register).
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
func ParsePortState(s string) (PortState, error) { return parsePortState("port state", s) }

func parsePortState(field, s string) (PortState, error) {
	for _, p := range []PortState{PortUp, PortDown, PortUnknown} {
		if strings.EqualFold(s, string(p)) {
			return p, nil
		}
	}
	return "", errdefs.Errorf(ErrInvalidArgument, "switchstate: %s %s is not one of UP, DOWN, UNKNOWN", field, errdefs.Quote(s))
}

// PortVRF is what a switch port's vrf field tells the switch agent the
// port is: VRFNone (unprovisioned, PXE), VRFDefault (a firewall port) or a
// tenant VRF "vrf<N>", N being the VNI of the machine's primary network
// (network.Network.VRF). TenantVRF builds one from the number.
type PortVRF string

// The port VRFs without a number.
const (
	VRFNone    PortVRF = ""
	VRFDefault PortVRF = "default"
)

// TenantVRF returns the port VRF of the tenant VRF n: "vrf<n>".
func TenantVRF(n uint32) PortVRF { return PortVRF("vrf" + strconv.FormatUint(uint64(n), 10)) }

// Number returns N of a tenant VRF "vrf<N>", and false for VRFNone,
// VRFDefault or a malformed value.
func (v PortVRF) Number() (uint32, bool) {
	rest, ok := strings.CutPrefix(string(v), "vrf")
	if !ok || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 32)
	return uint32(n), err == nil
}

// check accepts VRFNone, VRFDefault and "vrf<N>".
func (v PortVRF) check(field string) error {
	if v == VRFNone || v == VRFDefault {
		return nil
	}
	if _, ok := v.Number(); ok {
		return nil
	}
	return errdefs.Errorf(ErrInvalidArgument, "switchstate: %s %s must be empty, \"default\" or vrf<N>", field, errdefs.Quote(string(v)))
}

// BGPState is a BGP session state as FRR reports it. The known states are
// the constants; other values are kept as sent.
type BGPState string

// BGP session states as FRR spells them.
const (
	BGPIdle        BGPState = "Idle"
	BGPConnect     BGPState = "Connect"
	BGPActive      BGPState = "Active"
	BGPOpenSent    BGPState = "OpenSent"
	BGPOpenConfirm BGPState = "OpenConfirm"
	BGPEstablished BGPState = "Established"
)

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
	Vrf          PortVRF       `json:"vrf"`
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
	Time time.Time `json:"time"`
	// Duration is how long the cycle took; in JSON, nanoseconds.
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
	ManagementIP   netip.Addr   `json:"management_ip"`
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
	// Neighbor is the peer's hostname, "" when FRR does not know it.
	Neighbor string `json:"Neighbor"`
	// PeerGroup is FRR's peer group, e.g. FABRIC, FIREWALL, MACHINE.
	PeerGroup string `json:"PeerGroup"`
	// VrfName is the VRF of the session.
	VrfName  string   `json:"VrfName"`
	BgpState BGPState `json:"BgpState"`
	// BgpTimerUpEstablished is when the session came up, in Unix seconds;
	// 0 when it never did.
	BgpTimerUpEstablished int64 `json:"BgpTimerUpEstablished"`
	// SentPrefixCounter and AcceptedPrefixCounter are summed over the IPv4
	// and IPv6 unicast families.
	SentPrefixCounter     int64 `json:"SentPrefixCounter"`
	AcceptedPrefixCounter int64 `json:"AcceptedPrefixCounter"`

	Reported time.Time `json:"Reported,omitzero"`
	Stale    bool      `json:"Stale,omitempty"`
}

// stored returns the state with the read-only fields cleared.
func (b BGPPortState) stored() BGPPortState {
	b.Reported, b.Stale = time.Time{}, false
	return b
}

// BGPTransition is one change of a port's BgpState. From is "" when the
// session appeared, To is "" when it was cleared; Established to
// Established means the session dropped and came back between two reports.
type BGPTransition struct {
	Time time.Time `json:"time"`
	From BGPState  `json:"from"`
	To   BGPState  `json:"to"`
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
