package switchstate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
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
func (s *Service) Notify(ctx context.Context, id string, req NotifyRequest, actor ...audit.Actor) (NotifyResponse, error) {
	if id == "" {
		return NotifyResponse{}, fmt.Errorf("%w: switch id is required", ErrInvalidArgument)
	}
	var ports map[string]PortState
	if req.PortStates != nil {
		ports = make(map[string]PortState, len(req.PortStates))
		var errs []error
		for name, st := range req.PortStates {
			p, err := ParsePortState(string(st))
			if err != nil {
				errs = append(errs, fmt.Errorf("port_states[%q]: %w", name, err))
				continue
			}
			ports[name] = p
		}
		if err := joinErrs(errs); err != nil {
			return NotifyResponse{}, err
		}
	}
	var out NotifyResponse
	err := s.update(ctx, s.opts.AuditNotify, "switch.notify", switchPath(id), req, actor, func(tx backends.Tx) error {
		var err error
		out, err = s.notifyTx(tx, id, &req, ports, s.opts.Clock())
		return err
	})
	if err != nil {
		return NotifyResponse{}, err
	}
	return out, nil
}

func (s *Service) notifyTx(tx backends.Tx, id string, req *NotifyRequest, ports map[string]PortState, now time.Time) (NotifyResponse, error) {
	old, err := loadSwitch(tx, id)
	if err != nil {
		return NotifyResponse{}, err
	}
	st, err := loadStatus(tx, id)
	if err != nil {
		return NotifyResponse{}, err
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
				return NotifyResponse{}, err
			}
		}
	}
	if req.BGPPortStates != nil {
		st.LastBGPReport = now
		if err := s.storeBGP(tx, old, req.BGPPortStates, now); err != nil {
			return NotifyResponse{}, err
		}
	}
	if err := putStatus(tx, id, st); err != nil {
		return NotifyResponse{}, err
	}
	return NotifyResponse{ID: id, LastSync: st.LastSync, LastSyncError: st.LastSyncError}, nil
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
			if err := json.Unmarshal(oldRaw, &old); err != nil {
				return fmt.Errorf("switchstate: decode BGP state of %q port %q: %w", sw.ID, name, err)
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
		from, to := "", ""
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
func (s *Service) Toggle(ctx context.Context, id, nic string, status PortState, actor ...audit.Actor) (Switch, error) {
	want := PortState(strings.ToUpper(string(status)))
	if want != PortUp && want != PortDown {
		return Switch{}, fmt.Errorf("%w: the status %q must be concrete", ErrInvalidArgument, status)
	}
	var out Switch
	body := map[string]string{"nic": nic, "status": string(want)}
	err := s.update(ctx, true, "switch.toggle", switchPath(id), body, actor, func(tx backends.Tx) error {
		old, err := loadSwitch(tx, id)
		if err != nil {
			return err
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
			return notFoundPort(id, nic)
		}
		changed := port.WantState(want)
		if changed {
			if err := putSwitch(tx, old, sw); err != nil {
				return err
			}
		}
		if out, err = s.viewer(s.opts.Clock()).read(tx, id); err != nil {
			return err
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
	if err != nil {
		return Switch{}, err
	}
	return out, nil
}
