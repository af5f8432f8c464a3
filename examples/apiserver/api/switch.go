package api

import (
	"net/http"
	"time"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/switchstate"
)

// switchResponse is metal-api's v1.SwitchResponse. The library keeps no
// created and changed times of switches, so they are not answered.
type switchResponse struct {
	ID             string                  `json:"id"`
	Name           string                  `json:"name"`
	Description    string                  `json:"description"`
	RackID         string                  `json:"rack_id"`
	Mode           string                  `json:"mode"`
	OS             *switchstate.OS         `json:"os"`
	ManagementIP   string                  `json:"management_ip"`
	ManagementUser string                  `json:"management_user"`
	ConsoleCommand string                  `json:"console_command"`
	Nics           []switchNic             `json:"nics"`
	Partition      *partition              `json:"partition"`
	Connections    []switchConnection      `json:"connections"`
	LastSync       *switchstate.SyncResult `json:"last_sync"`
	LastSyncError  *switchstate.SyncResult `json:"last_sync_error"`
}

// switchNic is metal-api's v1.SwitchNic. Under a switch's nics, actual is
// the state the port should have (the desired one while an admin's wish
// is pending, else the observed one), as the document describes them;
// under connections it is the observed state.
type switchNic struct {
	MAC          string        `json:"mac"`
	Name         string        `json:"name"`
	Identifier   string        `json:"identifier"`
	Vrf          string        `json:"vrf"`
	Actual       string        `json:"actual"`
	BGPPortState *bgpPortState `json:"bgp_port_state"`
}

// bgpPortState is metal-api's metal.SwitchBGPPortState, with its
// capitalised names.
type bgpPortState struct {
	Neighbor              string `json:"Neighbor"`
	PeerGroup             string `json:"PeerGroup"`
	VrfName               string `json:"VrfName"`
	BgpState              string `json:"BgpState"`
	BgpTimerUpEstablished int64  `json:"BgpTimerUpEstablished"`
	SentPrefixCounter     int64  `json:"SentPrefixCounter"`
	AcceptedPrefixCounter int64  `json:"AcceptedPrefixCounter"`
}

// switchConnection is metal-api's v1.SwitchConnection.
type switchConnection struct {
	Nic       switchNic `json:"nic"`
	MachineID string    `json:"machine_id"`
}

// switchNotifyResponse is metal-api's v1.SwitchNotifyResponse.
type switchNotifyResponse struct {
	ID            string                  `json:"id"`
	Name          string                  `json:"name"`
	Description   string                  `json:"description"`
	LastSync      *switchstate.SyncResult `json:"last_sync"`
	LastSyncError *switchstate.SyncResult `json:"last_sync_error"`
}

func newSwitchNic(n switchstate.Nic, desired bool) switchNic {
	out := switchNic{MAC: n.MAC, Name: n.Name, Identifier: n.Identifier, Vrf: string(n.Vrf), Actual: string(n.Actual)}
	if desired && n.Desired != "" {
		out.Actual = string(n.Desired)
	}
	if out.Actual == "" {
		out.Actual = string(switchstate.PortUnknown)
	}
	if b := n.BGPPortState; b != nil {
		out.BGPPortState = &bgpPortState{
			Neighbor: b.Neighbor, PeerGroup: b.PeerGroup, VrfName: b.VrfName, BgpState: string(b.BgpState),
			BgpTimerUpEstablished: b.BgpTimerUpEstablished, SentPrefixCounter: b.SentPrefixCounter, AcceptedPrefixCounter: b.AcceptedPrefixCounter,
		}
	}
	return out
}

// newSwitchResponse shapes a switch with its partition (nil: only the id
// is known).
func newSwitchResponse(sw *switchstate.Switch, p *partition) *switchResponse {
	if p == nil {
		p = &partition{ID: sw.PartitionID, Labels: map[string]string{}}
	}
	out := &switchResponse{
		ID:             sw.ID,
		Name:           sw.Name,
		Description:    sw.Description,
		RackID:         sw.RackID,
		Mode:           string(sw.Mode),
		OS:             &sw.OS,
		ManagementUser: sw.ManagementUser,
		ConsoleCommand: sw.ConsoleCommand,
		Nics:           mapAll(sw.Nics, func(n switchstate.Nic) switchNic { return newSwitchNic(n, true) }),
		Partition:      p,
		Connections: mapAll(sw.Connections, func(c switchstate.Connection) switchConnection {
			return switchConnection{Nic: newSwitchNic(c.Nic, false), MachineID: c.MachineID}
		}),
		LastSync:      sw.LastSync,
		LastSyncError: sw.LastSyncError,
	}
	if sw.ManagementIP.IsValid() {
		out.ManagementIP = sw.ManagementIP.String()
	}
	return out
}

// switchResponsesTx shapes switches with their partitions, read in tx
// (each partition once). A partition the catalog no longer has is
// answered with its id only.
func switchResponsesTx(tx backends.Tx, sws []*switchstate.Switch) ([]*switchResponse, error) {
	parts := map[string]*partition{}
	out := make([]*switchResponse, len(sws))
	for i, sw := range sws {
		p, err := cached(parts, sw.PartitionID, func(id string) (*partition, error) { return partitionOrNilTx(tx, id) })
		if err != nil {
			return nil, err
		}
		out[i] = newSwitchResponse(sw, p)
	}
	return out, nil
}

// switchResponseTx shapes one switch with its partition, read in tx.
func switchResponseTx(tx backends.Tx, sw *switchstate.Switch) (*switchResponse, error) {
	out, err := switchResponsesTx(tx, []*switchstate.Switch{sw})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// switchRegisterRequest is metal-api's v1.SwitchRegisterRequest. Mode and
// the nics' states, filters and BGP states are answers, not input: they
// are ignored, as metal-api ignores them.
type switchRegisterRequest struct {
	ID             *string        `json:"id"`
	Name           *string        `json:"name"`
	Description    *string        `json:"description"`
	PartitionID    *string        `json:"partition_id"`
	RackID         *string        `json:"rack_id"`
	Nics           []*switchNicIn `json:"nics"`
	OS             *switchOSIn    `json:"os"`
	ManagementIP   *string        `json:"management_ip"`
	ManagementUser *string        `json:"management_user"`
	ConsoleCommand *string        `json:"console_command"`
}

type switchNicIn struct {
	MAC        *string `json:"mac"`
	Name       *string `json:"name"`
	Identifier *string `json:"identifier"`
	Vrf        *string `json:"vrf"`
}

type switchOSIn struct {
	Vendor           *string `json:"vendor"`
	Version          *string `json:"version"`
	MetalCoreVersion *string `json:"metal_core_version"`
}

func (req *switchRegisterRequest) library() (switchstate.RegisterRequest, error) {
	out := switchstate.RegisterRequest{
		ID:             deref(req.ID),
		Name:           req.Name,
		Description:    req.Description,
		PartitionID:    deref(req.PartitionID),
		RackID:         deref(req.RackID),
		ManagementUser: deref(req.ManagementUser),
		ConsoleCommand: deref(req.ConsoleCommand),
		Nics:           make([]switchstate.RegisterNic, 0, len(req.Nics)),
	}
	var errs []error
	if out.ID == "" {
		// metal-api checks this first.
		errs = append(errs, invalid("id is required"))
	}
	if o := req.OS; o != nil {
		out.OS = &switchstate.OS{Vendor: switchstate.Vendor(deref(o.Vendor)), Version: deref(o.Version), MetalCoreVersion: deref(o.MetalCoreVersion)}
	}
	if givenString(req.ManagementIP) {
		a, err := parseAddr("management_ip", *req.ManagementIP)
		errs = append(errs, err)
		out.ManagementIP = a
	}
	for i, n := range req.Nics {
		if n == nil {
			errs = append(errs, invalid("nics[%d] is null", i))
			continue
		}
		out.Nics = append(out.Nics, switchstate.RegisterNic{
			MAC: deref(n.MAC), Name: deref(n.Name), Identifier: deref(n.Identifier), Vrf: switchstate.PortVRF(deref(n.Vrf)),
		})
	}
	return out, joinInvalid(errs)
}

// switchNotifyRequest is metal-api's v1.SwitchNotifyRequest. A null or
// absent error is a successful sync; absent or null port_states change no
// port; absent or null bgp_port_states keep the BGP states, {} clears
// them.
type switchNotifyRequest struct {
	SyncDuration  *int64                     `json:"sync_duration"`
	Error         *string                    `json:"error"`
	PortStates    map[string]string          `json:"port_states"`
	BGPPortStates map[string]*bgpPortStateIn `json:"bgp_port_states"`
}

// bgpPortStateIn is metal-api's v1.SwitchBGPPortState; null fields are
// zero.
type bgpPortStateIn struct {
	Neighbor              *string `json:"Neighbor"`
	PeerGroup             *string `json:"PeerGroup"`
	VrfName               *string `json:"VrfName"`
	BgpState              *string `json:"BgpState"`
	BgpTimerUpEstablished *int64  `json:"BgpTimerUpEstablished"`
	SentPrefixCounter     *int64  `json:"SentPrefixCounter"`
	AcceptedPrefixCounter *int64  `json:"AcceptedPrefixCounter"`
}

func (req *switchNotifyRequest) library() (switchstate.NotifyRequest, error) {
	out := switchstate.NotifyRequest{SyncDuration: time.Duration(deref(req.SyncDuration)), Error: req.Error}
	var errs []error
	if out.SyncDuration < 0 {
		errs = append(errs, invalid("sync_duration %d is negative", out.SyncDuration))
	}
	if req.PortStates != nil {
		out.PortStates = make(map[string]switchstate.PortState, len(req.PortStates))
		for name, st := range req.PortStates {
			out.PortStates[name] = switchstate.PortState(st)
		}
	}
	if req.BGPPortStates != nil {
		out.BGPPortStates = make(map[string]switchstate.BGPPortState, len(req.BGPPortStates))
		for name, b := range req.BGPPortStates {
			if b == nil {
				errs = append(errs, invalid("bgp_port_states[%s] is null", quote(name)))
				continue
			}
			out.BGPPortStates[name] = switchstate.BGPPortState{
				Neighbor: deref(b.Neighbor), PeerGroup: deref(b.PeerGroup), VrfName: deref(b.VrfName),
				BgpState: switchstate.BGPState(deref(b.BgpState)), BgpTimerUpEstablished: deref(b.BgpTimerUpEstablished),
				SentPrefixCounter: deref(b.SentPrefixCounter), AcceptedPrefixCounter: deref(b.AcceptedPrefixCounter),
			}
		}
	}
	return out, joinInvalid(errs)
}

// switchUpdateRequest is metal-api's v1.SwitchUpdateRequest. As in
// metal-api, only description (when given), console_command (absent
// clears it) and mode change; an absent mode keeps the stored one. The
// other members describe the switch its agent registers and are ignored.
type switchUpdateRequest struct {
	ID             *string `json:"id"`
	Description    *string `json:"description"`
	ConsoleCommand *string `json:"console_command"`
	Mode           *string `json:"mode"`
}

// switchFindRequest is metal-api's v1.SwitchFindRequest.
type switchFindRequest struct {
	ID          *string `json:"id"`
	Name        *string `json:"name"`
	PartitionID *string `json:"partitionid"`
	RackID      *string `json:"rackid"`
	OSVendor    *string `json:"osvendor"`
	OSVersion   *string `json:"osversion"`
}

// filter returns the library's filter: it applies every filter of the
// request.
func (req *switchFindRequest) filter() switchstate.ListFilter {
	return switchstate.ListFilter{
		ID: deref(req.ID), Name: deref(req.Name), PartitionID: deref(req.PartitionID), RackID: deref(req.RackID),
		OSVendor: deref(req.OSVendor), OSVersion: deref(req.OSVersion),
	}
}

func (s *Server) listSwitches(w http.ResponseWriter, r *http.Request) {
	s.answerSwitches(w, r, switchstate.ListFilter{})
}

func (s *Server) findSwitches(w http.ResponseWriter, r *http.Request) {
	var req switchFindRequest
	if err := decodeFind(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerSwitches(w, r, req.filter())
}

// answerSwitches answers the switches matching f with their partitions,
// all read in one transaction.
func (s *Server) answerSwitches(w http.ResponseWriter, r *http.Request, f switchstate.ListFilter) {
	out, err := kitView(r.Context(), s.kit, func(tx *metalkit.Tx) ([]*switchResponse, error) {
		sws, err := tx.Switches.List(f)
		if err != nil {
			return nil, err
		}
		return switchResponsesTx(tx.Backend(), sws)
	})
	s.reply(w, r, http.StatusOK, out, err)
}

func (s *Server) getSwitch(w http.ResponseWriter, r *http.Request) {
	out, err := kitView(r.Context(), s.kit, func(tx *metalkit.Tx) (*switchResponse, error) {
		sw, err := tx.Switches.Get(r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return switchResponseTx(tx.Backend(), sw)
	})
	s.reply(w, r, http.StatusOK, out, err)
}

// changedSwitch answers the switch a change returned, with status, its
// partition read in a transaction of its own, or err.
func (s *Server) changedSwitch(w http.ResponseWriter, r *http.Request, status int, sw *switchstate.Switch, err error) {
	var out *switchResponse
	if err == nil {
		out, err = viewValue(r.Context(), s.cat, func(tx backends.Tx) (*switchResponse, error) { return switchResponseTx(tx, sw) })
	}
	s.reply(w, r, status, out, err)
}

// registerSwitch answers 201 for a new switch and 200 for a known one.
func (s *Server) registerSwitch(w http.ResponseWriter, r *http.Request) {
	req, err := decodeAs(r, (*switchRegisterRequest).library)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sw, created, err := s.kit.Switches.Register(r.Context(), req)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.changedSwitch(w, r, status, sw, err)
}

// updateSwitch reads the stored mode when none is given and updates in
// the same transaction.
func (s *Server) updateSwitch(w http.ResponseWriter, r *http.Request) {
	var body switchUpdateRequest
	if err := decodeBody(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if !givenString(body.ID) {
		s.fail(w, r, invalid("id is required: it names the switch to update"))
		return
	}
	out, err := kitUpdate(r.Context(), s.kit, func(tx *metalkit.Tx) (*switchResponse, error) {
		// A new request per attempt: the store may run this again.
		req := switchstate.UpdateRequest{ID: *body.ID, Description: body.Description, ConsoleCommand: deref(body.ConsoleCommand), Mode: switchstate.Mode(deref(body.Mode))}
		if req.Mode == "" {
			sw, err := tx.Switches.Get(req.ID)
			if err != nil {
				return nil, err
			}
			req.Mode = sw.Mode
		}
		sw, err := tx.Switches.Update(req)
		if err != nil {
			return nil, err
		}
		return switchResponseTx(tx.Backend(), sw)
	})
	s.reply(w, r, http.StatusOK, out, err)
}

func (s *Server) deleteSwitch(w http.ResponseWriter, r *http.Request) {
	force, err := boolQuery(r, "force")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sw, err := s.kit.Switches.Delete(r.Context(), r.PathValue("id"), force)
	s.changedSwitch(w, r, http.StatusOK, sw, err)
}

func newSwitchNotifyResponse(res *switchstate.NotifyResponse) *switchNotifyResponse {
	return &switchNotifyResponse{ID: res.ID, LastSync: res.LastSync, LastSyncError: res.LastSyncError}
}

func (s *Server) notifySwitch(w http.ResponseWriter, r *http.Request) {
	req, err := decodeAs(r, (*switchNotifyRequest).library)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.kit.Switches.Notify(r.Context(), r.PathValue("id"), req)
	replyWith(s, w, r, http.StatusOK, res, err, newSwitchNotifyResponse)
}

// switchPortToggleRequest is metal-api's v1.SwitchPortToggleRequest.
type switchPortToggleRequest struct {
	Nic    *string `json:"nic"`
	Status *string `json:"status"`
}

func (s *Server) toggleSwitchPort(w http.ResponseWriter, r *http.Request) {
	var body switchPortToggleRequest
	if err := decodeBody(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	sw, err := s.kit.Switches.Toggle(r.Context(), r.PathValue("id"), deref(body.Nic), switchstate.PortState(deref(body.Status)))
	s.changedSwitch(w, r, http.StatusOK, sw, err)
}

// switchMigrateRequest is metal-api's v1.SwitchMigrateRequest.
type switchMigrateRequest struct {
	OldSwitchID *string `json:"old_switch_id"`
	NewSwitchID *string `json:"new_switch_id"`
}

func (s *Server) migrateSwitch(w http.ResponseWriter, r *http.Request) {
	var body switchMigrateRequest
	if err := decodeBody(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	sw, err := s.kit.Switches.Migrate(r.Context(), deref(body.OldSwitchID), deref(body.NewSwitchID))
	s.changedSwitch(w, r, http.StatusOK, sw, err)
}
