package switchstate

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
)

// NotifyRequest is what a switch agent sends after every reconfiguration
// cycle, failed ones too.
//
// PortStates nil means "no port states"; BGPPortStates nil means "no BGP
// report" and keeps the stored states, while an empty, non-nil map is a
// report of no sessions and clears them all. In JSON, an absent member or
// null gives nil and {} gives an empty map.
type NotifyRequest struct {
	SyncDuration  time.Duration           `json:"sync_duration"`
	Error         *string                 `json:"error"`
	PortStates    map[string]PortState    `json:"port_states"`
	BGPPortStates map[string]BGPPortState `json:"bgp_port_states"`
}

// NotifyResponse is Notify's answer.
type NotifyResponse struct {
	ID            string      `json:"id"`
	LastSync      *SyncResult `json:"last_sync"`
	LastSyncError *SyncResult `json:"last_sync_error"`
}

// Notify records an agent's report: the sync status (always written), the
// port states (each named stored port through Nic.SetState; unknown names
// are ignored) and the BGP port states with the report time (one key per
// port; a port absent from a present map is cleared, a present one is
// stored unless its seven fields are unchanged; BGP states for names that
// are not ports of the switch, e.g. numbered peers, are ignored). Every
// change of a port's BgpState is appended to its history.
//
// The switch record is written only when a port state changed, so a report
// whose only news are BGP counters rewrites the BGP keys and the status
// record and nothing else. An unknown switch is ErrNotFound and an invalid
// port state ErrInvalidArgument; both write nothing. Notify records an audit
// event only with Options.AuditNotify.
func (t *Tx) Notify(id string, req NotifyRequest) (*NotifyResponse, error) {
	if err := t.adminOnly("notifying switch state"); err != nil {
		return nil, err
	}
	if err := limits.ID("switch id", id); err != nil {
		return nil, invalid(err)
	}
	var ports map[string]PortState
	if req.PortStates != nil {
		ports = make(map[string]PortState, len(req.PortStates))
		var errs []error
		for _, name := range slices.Sorted(maps.Keys(req.PortStates)) {
			p, err := parsePortState(fmt.Sprintf("port_states[%q]", name), string(req.PortStates[name]))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ports[name] = p
		}
		if err := joinErrs(errs); err != nil {
			return nil, err
		}
	}
	out, err := t.s.notifyTx(t.tx, id, &req, ports, t.s.opts.Clock())
	if err != nil {
		return nil, err
	}
	if t.s.opts.AuditNotify {
		if err := t.rec.Record("switch.notify", switchPath(id), req); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Service) notifyTx(tx backends.Tx, id string, req *NotifyRequest, ports map[string]PortState, now time.Time) (*NotifyResponse, error) {
	old, err := loadSwitch(tx, id)
	if err != nil {
		return nil, err
	}
	st, err := loadStatus(tx, id)
	if err != nil {
		return nil, err
	}
	res := &SyncResult{Time: now, Duration: req.SyncDuration}
	if req.Error == nil {
		st.LastSync = res
	} else {
		e := *req.Error
		res.Error = &e
		st.LastSyncError = res
	}
	if ports != nil {
		var sw *Switch
		for i := range old.Nics {
			p, ok := ports[old.Nics[i].Name]
			if !ok {
				continue
			}
			if sw == nil {
				n := old.Nics[i]
				if !n.SetState(p) {
					continue
				}
				sw = cloneSwitch(old)
			}
			sw.Nics[i].SetState(p)
		}
		if sw != nil {
			if err := putSwitch(tx, old, sw); err != nil {
				return nil, err
			}
		}
	}
	if req.BGPPortStates != nil {
		st.LastBGPReport = now
		if err := s.storeBGP(tx, old, req.BGPPortStates, now); err != nil {
			return nil, err
		}
	}
	if err := putStatus(tx, id, st); err != nil {
		return nil, err
	}
	return &NotifyResponse{ID: id, LastSync: st.LastSync, LastSyncError: st.LastSyncError}, nil
}

// storeBGP applies one BGP report of a switch. The stored form is compared
// as bytes, so an unchanged session costs one encode and no decode.
func (s *Service) storeBGP(tx backends.Tx, sw *Switch, report map[string]BGPPortState, now time.Time) error {
	stored, err := loadBGPRaw(tx, sw.ID)
	if err != nil {
		return err
	}
	isPort := make(map[string]bool, len(sw.Nics))
	for _, n := range sw.Nics {
		isPort[n.Name] = true
	}
	// Visit ports in a fixed order so that the history keys written are the
	// same on every run of the transaction.
	names := make([]string, 0, len(stored)+len(report))
	for name := range stored {
		names = append(names, name)
	}
	for name := range report {
		if _, dup := stored[name]; !dup && isPort[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		oldRaw, had := stored[name]
		cur, has := report[name]
		has = has && isPort[name]
		var curRaw []byte
		if has {
			if curRaw, err = encodeBGP(cur); err != nil {
				return fmt.Errorf("switchstate: encode BGP state of %q port %q: %w", sw.ID, name, err)
			}
			if had && bytes.Equal(oldRaw, curRaw) {
				continue
			}
		}
		var old BGPPortState
		if had {
			if old, err = decodeBGP(sw.ID, name, oldRaw); err != nil {
				return err
			}
		}
		if has {
			err = tx.Put(bgpBucket(sw.ID), bgpKey(name), curRaw)
		} else {
			err = tx.Delete(bgpBucket(sw.ID), bgpKey(name))
		}
		if err != nil {
			return err
		}
		var from, to BGPState
		if had {
			from = old.BgpState
		}
		if has {
			to = cur.BgpState
		}
		reestablished := had && has && from == BGPEstablished && to == BGPEstablished &&
			old.BgpTimerUpEstablished != cur.BgpTimerUpEstablished
		if from != to || reestablished {
			if err := appendHistory(tx, sw.ID, name, BGPTransition{Time: now, From: from, To: to}, s.opts.BGPHistory); err != nil {
				return err
			}
		}
	}
	return nil
}

// Toggle asks for a port to be brought up or down: status must be UP or
// DOWN (any case), the switch must exist and the port name must match
// case-insensitively (else ErrNotFound naming it). Any port may be
// toggled, connected or not. The wish is stored as the port's desired
// state through Nic.WantState, written only if it changed, and the switch
// is returned.
func (t *Tx) Toggle(id, nic string, status PortState) (*Switch, error) {
	if err := t.adminOnly("toggling a switch port"); err != nil {
		return nil, err
	}
	want := PortState(strings.ToUpper(string(status)))
	if want != PortUp && want != PortDown {
		return nil, errdefs.Errorf(ErrInvalidArgument, "switchstate: the status %s must be concrete", errdefs.Quote(string(status)))
	}
	old, err := loadSwitch(t.tx, id)
	if err != nil {
		return nil, err
	}
	sw := cloneSwitch(old)
	var port *Nic
	for i := range sw.Nics {
		if strings.EqualFold(sw.Nics[i].Name, nic) {
			port = &sw.Nics[i]
			break
		}
	}
	if port == nil {
		return nil, notFoundPort(id, nic)
	}
	if port.WantState(want) {
		if err := putSwitch(t.tx, old, sw); err != nil {
			return nil, err
		}
		if err := t.rec.Record("switch.toggle", switchPath(id), map[string]string{"nic": nic, "status": string(want)}); err != nil {
			return nil, err
		}
	}
	return t.s.viewer().read(t.tx, id)
}
