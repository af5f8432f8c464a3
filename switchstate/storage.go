package switchstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// loadSwitch reads the stored switch record: no status, no BGP states.
func loadSwitch(tx backends.Tx, id string) (*Switch, error) {
	if id == "" {
		return nil, errdefs.Errorf(ErrInvalidArgument, "switchstate: switch id is required")
	}
	raw, err := tx.Get(bucketSwitch, switchKey(id))
	if errors.Is(err, backends.ErrNotFound) {
		return nil, errdefs.Errorf(ErrNotFound, "switchstate: switch %q does not exist", id)
	}
	if err != nil {
		return nil, fmt.Errorf("switchstate: read switch %q: %w", id, err)
	}
	var sw Switch
	if err := json.Unmarshal(raw, &sw); err != nil {
		return nil, errdefs.Errorf(ErrCorrupt, "switchstate: decode switch %q: %v", id, err)
	}
	return &sw, nil
}

// loadSwitches reads the stored records of ids, in order, all in one
// batched read (one round trip on a networked store).
func loadSwitches(tx backends.Tx, ids []string) ([]*Switch, error) {
	reads := make([]backends.Read, len(ids))
	for i, id := range ids {
		reads[i] = backends.ReadKey(bucketSwitch, switchKey(id))
	}
	if err := backends.Prefetch(tx, reads...); err != nil {
		return nil, fmt.Errorf("switchstate: read %d switches: %w", len(ids), err)
	}
	out := make([]*Switch, len(ids))
	for i, id := range ids {
		sw, err := loadSwitch(tx, id)
		if err != nil {
			return nil, err
		}
		out[i] = sw
	}
	return out, nil
}

// encodeRecord returns the stored form of sw: no status, no BGP states,
// connection nics reduced to name, identifier and MAC, everything sorted.
func encodeRecord(sw *Switch) ([]byte, error) {
	rec := *sw
	rec.LastSync, rec.LastSyncError = nil, nil
	rec.Nics = make([]Nic, len(sw.Nics))
	for i, n := range sw.Nics {
		n.BGPPortState = nil
		rec.Nics[i] = n
	}
	sortNics(rec.Nics)
	rec.Connections = make([]Connection, len(sw.Connections))
	for i, c := range sw.Connections {
		rec.Connections[i] = Connection{MachineID: c.MachineID, Nic: Nic{Name: c.Nic.Name, Identifier: c.Nic.Identifier, MAC: c.Nic.MAC}}
	}
	sortConnections(rec.Connections)
	raw, err := json.Marshal(&rec)
	if err != nil {
		return nil, fmt.Errorf("switchstate: encode switch %q: %w", sw.ID, err)
	}
	return raw, nil
}

// putSwitch writes sw's record and keeps the partition and machine indexes
// in step with it; old is the record it replaces (nil for a new switch).
func putSwitch(tx backends.Tx, old, sw *Switch) error {
	raw, err := encodeRecord(sw)
	if err != nil {
		return err
	}
	if err := tx.Put(bucketSwitch, switchKey(sw.ID), raw); err != nil {
		return err
	}
	if old == nil || old.PartitionID != sw.PartitionID || old.RackID != sw.RackID {
		if old != nil {
			if err := tx.Delete(partitionBucket(old.PartitionID), rackKey(old.RackID, old.ID)); err != nil {
				return err
			}
		}
		if err := tx.Put(partitionBucket(sw.PartitionID), rackKey(sw.RackID, sw.ID), nil); err != nil {
			return err
		}
	}
	before := map[string]bool{}
	if old != nil {
		for _, c := range old.Connections {
			before[c.MachineID] = true
		}
	}
	after := map[string]bool{}
	for _, c := range sw.Connections {
		after[c.MachineID] = true
	}
	for m := range before {
		if !after[m] {
			if err := tx.Delete(machineBucket(m), switchKey(sw.ID)); err != nil {
				return err
			}
		}
	}
	for m := range after {
		if !before[m] {
			if err := tx.Put(machineBucket(m), switchKey(sw.ID), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// recordEqual reports whether two switch records would be stored as the
// same bytes.
func recordEqual(a, b *Switch) bool {
	ra, err1 := encodeRecord(a)
	rb, err2 := encodeRecord(b)
	return err1 == nil && err2 == nil && bytes.Equal(ra, rb)
}

// cloneSwitch returns a deep copy of sw's record fields.
func cloneSwitch(sw *Switch) *Switch {
	c := *sw
	c.Nics = append([]Nic(nil), sw.Nics...)
	c.Connections = append([]Connection(nil), sw.Connections...)
	return &c
}

// partitionSwitches returns the ids of the switches of a partition, of one
// rack when rack is not empty, in rack and id order.
func partitionSwitches(tx backends.Tx, partition, rack string, anyRack bool) ([]string, error) {
	var prefix []byte
	if !anyRack {
		prefix = rackPrefix(rack)
	}
	keys, err := backends.KeysWithPrefix(tx, partitionBucket(partition), prefix)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		_, id, err := splitRackKey(k)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// machineSwitches returns the ids of the switches holding connections of
// machineID.
func machineSwitches(tx backends.Tx, machineID string) ([]string, error) {
	return bucketIDs(tx, machineBucket(machineID))
}

// bucketIDs returns the keys of bucket as ids, in key order.
func bucketIDs(tx backends.Tx, bucket string) ([]string, error) {
	keys, err := backends.KeysWithPrefix(tx, bucket, nil)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = string(k)
	}
	return ids, nil
}

func loadStatus(tx backends.Tx, id string) (status, error) {
	var st status
	raw, err := tx.Get(bucketStatus, switchKey(id))
	if errors.Is(err, backends.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("switchstate: read status of %q: %w", id, err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, errdefs.Errorf(ErrCorrupt, "switchstate: decode status of %q: %v", id, err)
	}
	return st, nil
}

func putStatus(tx backends.Tx, id string, st status) error {
	raw, err := json.Marshal(&st)
	if err != nil {
		return fmt.Errorf("switchstate: encode status of %q: %w", id, err)
	}
	return tx.Put(bucketStatus, switchKey(id), raw)
}

// loadBGP reads every stored BGP port state of a switch.
func loadBGP(tx backends.Tx, id string) (map[string]BGPPortState, error) {
	out := map[string]BGPPortState{}
	err := tx.Ascend(bgpBucket(id), nil, func(k, v []byte) (bool, error) {
		st, err := decodeBGP(id, string(k), v)
		if err != nil {
			return false, err
		}
		out[string(k)] = st
		return true, nil
	})
	return out, err
}

// decodeBGP decodes the stored BGP state of switch id's port.
func decodeBGP(id, port string, raw []byte) (BGPPortState, error) {
	var st BGPPortState
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, errdefs.Errorf(ErrCorrupt, "switchstate: decode BGP state of %q port %q: %v", id, port, err)
	}
	return st, nil
}

// loadBGPRaw reads the stored BGP port states of a switch undecoded.
func loadBGPRaw(tx backends.Tx, id string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := tx.Ascend(bgpBucket(id), nil, func(k, v []byte) (bool, error) {
		out[string(k)] = v
		return true, nil
	})
	return out, err
}

// encodeBGP returns the stored form of a BGP port state: the seven stored
// fields, always in the same order, so equal states give equal bytes.
func encodeBGP(st BGPPortState) ([]byte, error) {
	return json.Marshal(st.stored())
}

func putBGP(tx backends.Tx, id, port string, st BGPPortState) error {
	raw, err := encodeBGP(st)
	if err != nil {
		return fmt.Errorf("switchstate: encode BGP state of %q port %q: %w", id, port, err)
	}
	return tx.Put(bgpBucket(id), bgpKey(port), raw)
}

// appendHistory records a transition of port and drops all but the newest
// keep transitions of the port.
func appendHistory(tx backends.Tx, id, port string, tr BGPTransition, keep int) error {
	bucket := historyBucket(id)
	var next uint64
	err := tx.Descend(bucket, historyKey(port, ^uint64(0)), func(k, _ []byte) (bool, error) {
		if seq, ok := historySeq(port, k); ok {
			next = seq + 1
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	raw, err := json.Marshal(&tr)
	if err != nil {
		return err
	}
	if err := tx.Put(bucket, historyKey(port, next), raw); err != nil {
		return err
	}
	if next < uint64(keep) {
		return nil
	}
	cut := next - uint64(keep) // the newest key to drop
	var drop [][]byte
	err = tx.Ascend(bucket, historyPrefix(port), func(k, _ []byte) (bool, error) {
		seq, ok := historySeq(port, k)
		if !ok || seq > cut {
			return false, nil
		}
		drop = append(drop, k)
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := tx.Delete(bucket, k); err != nil {
			return err
		}
	}
	return nil
}

// loadHistory returns the transitions of port, newest first.
func loadHistory(tx backends.Tx, id, port string) ([]BGPTransition, error) {
	var out []BGPTransition
	err := tx.Descend(historyBucket(id), historyKey(port, ^uint64(0)), func(k, v []byte) (bool, error) {
		if _, ok := historySeq(port, k); !ok {
			return false, nil
		}
		var tr BGPTransition
		if err := json.Unmarshal(v, &tr); err != nil {
			return false, errdefs.Errorf(ErrCorrupt, "switchstate: decode BGP history of %q port %q: %v", id, port, err)
		}
		out = append(out, tr)
		return true, nil
	})
	return out, err
}

// moveHistory renames the history keys of a port.
func moveHistory(tx backends.Tx, id, from, to string) error {
	type kv struct {
		seq uint64
		v   []byte
	}
	var moved []kv
	var old [][]byte
	err := tx.Ascend(historyBucket(id), historyPrefix(from), func(k, v []byte) (bool, error) {
		seq, ok := historySeq(from, k)
		if !ok {
			return false, nil
		}
		moved = append(moved, kv{seq, v})
		old = append(old, k)
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		if err := tx.Delete(historyBucket(id), k); err != nil {
			return err
		}
	}
	for _, m := range moved {
		if err := tx.Put(historyBucket(id), historyKey(to, m.seq), m.v); err != nil {
			return err
		}
	}
	return nil
}

// viewer fills the read-only parts of a switch: status, BGP states with
// Reported and Stale, the connection nics' states, UNKNOWN for ports never
// reported.
type viewer struct {
	now        time.Time
	staleAfter time.Duration
}

func (v viewer) read(tx backends.Tx, id string) (*Switch, error) {
	sw, err := loadSwitch(tx, id)
	if err != nil {
		return nil, err
	}
	return v.complete(tx, sw)
}

// completeAll completes every switch of sws, reading the status and BGP
// states of all of them in one batched read first.
func (v viewer) completeAll(tx backends.Tx, sws []*Switch) ([]*Switch, error) {
	var reads []backends.Read
	for _, sw := range sws {
		// A port has at most one BGP state; the scan reads one key past
		// the last to see the end.
		reads = append(reads, backends.ReadKey(bucketStatus, switchKey(sw.ID)), backends.ReadAscend(bgpBucket(sw.ID), nil, len(sw.Nics)+1))
	}
	if err := backends.Prefetch(tx, reads...); err != nil {
		return nil, fmt.Errorf("switchstate: read the state of %d switches: %w", len(sws), err)
	}
	out := make([]*Switch, len(sws))
	for i, sw := range sws {
		full, err := v.complete(tx, sw)
		if err != nil {
			return nil, err
		}
		out[i] = full
	}
	return out, nil
}

func (v viewer) complete(tx backends.Tx, sw *Switch) (*Switch, error) {
	st, err := loadStatus(tx, sw.ID)
	if err != nil {
		return nil, err
	}
	bgp, err := loadBGP(tx, sw.ID)
	if err != nil {
		return nil, err
	}
	out := *sw
	out.LastSync, out.LastSyncError = st.LastSync, st.LastSyncError
	out.Nics = make([]Nic, len(sw.Nics))
	for i, n := range sw.Nics {
		if n.Actual == "" {
			n.Actual = PortUnknown
		}
		n.BGPPortState = nil
		if b, ok := bgp[n.Name]; ok {
			b.Reported = st.LastBGPReport
			b.Stale = v.now.Sub(st.LastBGPReport) > v.staleAfter
			n.BGPPortState = &b
		}
		out.Nics[i] = n
	}
	out.Connections = make([]Connection, len(sw.Connections))
	for i, c := range sw.Connections {
		if p := out.nic(c.Nic.Name); p != nil {
			c.Nic = *p
			if p.BGPPortState != nil {
				b := *p.BGPPortState
				c.Nic.BGPPortState = &b
			}
		}
		out.Connections[i] = c
	}
	if out.Connections == nil {
		out.Connections = []Connection{}
	}
	return &out, nil
}
