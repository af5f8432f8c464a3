package machine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/limits"
)

// entry is a machine and its event container as one operation reads and
// changes them. load remembers what was stored, so that save writes only
// what changed and keeps every index in step in the same transaction.
type entry struct {
	id string
	// m is the machine, nil when there is none (an event container may
	// exist without a machine only while a stub is created).
	m *Machine
	// c is the event container, nil when there is none.
	c *EventContainer

	mRaw, cRaw []byte     // the stored bytes, nil when absent
	was        indexState // the index entries as stored
}

// indexState is what the indexes hold of a machine.
type indexState struct {
	present   bool
	partition string
	size      string
	rack      string
	free      bool
	candidate bool
	project   string
	alloc     []byte // allocIndex JSON when allocated
}

// allocIndex is the value of an allocated machine's entry in its
// project's index: what rack spreading, reservations and quota count.
type allocIndex struct {
	Size string   `json:"size"`
	Role Role     `json:"role"`
	Rack string   `json:"rack"`
	Tags []string `json:"tags,omitempty"`
}

func stateOf(m *Machine, c *EventContainer) indexState {
	if m == nil || m.PartitionID == "" {
		return indexState{}
	}
	st := indexState{present: true, partition: m.PartitionID, size: m.SizeID, rack: m.RackID}
	if m.Allocation == nil {
		st.free = true
		st.candidate = m.SizeID != "" && m.SizeID != UnknownSize && IsCandidate(m, c, m.PartitionID, m.SizeID)
		return st
	}
	st.project = m.Allocation.Project
	st.alloc, _ = json.Marshal(allocIndex{Size: m.SizeID, Role: m.Allocation.Role, Rack: m.RackID, Tags: m.Tags})
	return st
}

// checkID checks a machine id: required, within limits.
func checkID(field, id string) error { return limit(limits.ID(field, id)) }

// load reads machine id and its container. A missing machine or container
// leaves the field nil; it is not an error.
func load(tx backends.Tx, id string) (*entry, error) {
	if err := checkID("machine id", id); err != nil {
		return nil, err
	}
	e := &entry{id: id}
	err := backends.Prefetch(tx, backends.ReadKey(bucketMachines, idKey(id)), backends.ReadKey(bucketEvents, idKey(id)))
	if err != nil {
		return nil, err
	}
	if e.mRaw, err = getRaw(tx, bucketMachines, id); err != nil {
		return nil, err
	}
	if e.mRaw != nil {
		e.m = &Machine{}
		if err := json.Unmarshal(e.mRaw, e.m); err != nil {
			return nil, corrupt("bucket %s key %s: machine record does not decode: %v", bucketMachines, q(id), err)
		}
	}
	if e.cRaw, err = getRaw(tx, bucketEvents, id); err != nil {
		return nil, err
	}
	if e.cRaw != nil {
		e.c = &EventContainer{}
		if err := json.Unmarshal(e.cRaw, e.c); err != nil {
			return nil, corrupt("bucket %s key %s: event container does not decode: %v", bucketEvents, q(id), err)
		}
	}
	e.was = stateOf(e.m, e.c)
	return e, nil
}

// loadMachine is load for an operation that needs the machine: a missing
// one is ErrNotFound.
func loadMachine(tx backends.Tx, id string) (*entry, error) {
	e, err := load(tx, id)
	if err != nil {
		return nil, err
	}
	if e.m == nil {
		return nil, notFound("machine %s does not exist", q(id))
	}
	return e, nil
}

func getRaw(tx backends.Tx, bucket, id string) ([]byte, error) {
	v, err := tx.Get(bucket, idKey(id))
	if errors.Is(err, backends.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// save writes what changed of the machine and its container (a nil one is
// deleted) and brings the indexes in step.
func (e *entry) save(tx backends.Tx) error {
	if err := putRaw(tx, bucketMachines, e.id, e.m, e.mRaw); err != nil {
		return err
	}
	if e.c != nil {
		if err := CheckEventOrder(e.c); err != nil {
			return err
		}
	}
	if err := putRaw(tx, bucketEvents, e.id, e.c, e.cRaw); err != nil {
		return err
	}
	now := stateOf(e.m, e.c)
	if err := syncIndexes(tx, e.id, e.was, now); err != nil {
		return err
	}
	e.was = now
	return nil
}

// putRaw stores v under id unless its encoding equals old; a nil v deletes.
func putRaw[T any](tx backends.Tx, bucket, id string, v *T, old []byte) error {
	if v == nil {
		if old == nil {
			return nil
		}
		return tx.Delete(bucket, idKey(id))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if old != nil && bytes.Equal(b, old) {
		return nil
	}
	return tx.Put(bucket, idKey(id), b)
}

// syncIndexes moves machine id's index entries from was to now.
func syncIndexes(tx backends.Tx, id string, was, now indexState) error {
	wasFree, nowFree := was.present && was.free, now.present && now.free
	if wasFree && (!nowFree || was.partition != now.partition || was.size != now.size) {
		if err := tx.Delete(freeBucket(was.partition, was.size), idKey(id)); err != nil {
			return err
		}
	}
	if nowFree && (!wasFree || was.partition != now.partition || was.size != now.size) {
		if err := tx.Put(freeBucket(now.partition, now.size), idKey(id), nil); err != nil {
			return err
		}
	}
	wasCand, nowCand := wasFree && was.candidate, nowFree && now.candidate
	sameCand := wasCand && nowCand && was.partition == now.partition && was.size == now.size && was.rack == now.rack
	if wasCand && !sameCand {
		if err := tx.Delete(candidateBucket(was.partition, was.size), candidateKey(was.rack, id)); err != nil {
			return err
		}
		if err := addCount(tx, candidateCountBucket(was.partition, was.size), was.rack, -1); err != nil {
			return err
		}
	}
	if nowCand && !sameCand {
		if err := tx.Put(candidateBucket(now.partition, now.size), candidateKey(now.rack, id), nil); err != nil {
			return err
		}
		if err := addCount(tx, candidateCountBucket(now.partition, now.size), now.rack, 1); err != nil {
			return err
		}
	}
	wasAlloc, nowAlloc := was.present && !was.free, now.present && !now.free
	if wasAlloc && (!nowAlloc || was.project != now.project || was.partition != now.partition) {
		if err := tx.Delete(allocatedBucket(was.project), pairKey(was.partition, id)); err != nil {
			return err
		}
	}
	if nowAlloc && (!wasAlloc || was.project != now.project || was.partition != now.partition || !bytes.Equal(was.alloc, now.alloc)) {
		if err := tx.Put(allocatedBucket(now.project), pairKey(now.partition, id), now.alloc); err != nil {
			return err
		}
	}
	return nil
}

// addCount adds delta to the 4-byte counter under key; zero deletes it.
func addCount(tx backends.Tx, bucket, key string, delta int) error {
	n, err := getCount(tx, bucket, key)
	if err != nil {
		return err
	}
	n += delta
	if n < 0 {
		return corrupt("counter %s in bucket %s would drop below zero", q(key), bucket)
	}
	return putCount(tx, bucket, key, n)
}

// putCount stores n as the 4-byte counter under key; zero deletes it.
func putCount(tx backends.Tx, bucket, key string, n int) error {
	if n == 0 {
		return tx.Delete(bucket, []byte(key))
	}
	return tx.Put(bucket, []byte(key), binary.BigEndian.AppendUint32(nil, uint32(n)))
}

// decodeCount decodes a 4-byte counter; ok is false when v has another
// length.
func decodeCount(v []byte) (n int, ok bool) {
	if len(v) != 4 {
		return 0, false
	}
	return int(binary.BigEndian.Uint32(v)), true
}

func getCount(tx backends.Tx, bucket, key string) (int, error) {
	v, err := tx.Get(bucket, []byte(key))
	if errors.Is(err, backends.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, ok := decodeCount(v)
	if !ok {
		return 0, corrupt("counter %s in bucket %s has %d bytes", q(key), bucket, len(v))
	}
	return n, nil
}

// rackCount is the number of candidates of one rack.
type rackCount struct {
	rack  string
	count int
}

// candidateRacks lists the racks that hold candidates of a partition and
// size, with their counts, in rack order.
func candidateRacks(tx backends.Tx, partition, size string) ([]rackCount, error) {
	var out []rackCount
	err := tx.Ascend(candidateCountBucket(partition, size), nil, func(k, v []byte) (bool, error) {
		n, ok := decodeCount(v)
		if !ok {
			return false, corrupt("candidate counter %s has %d bytes", q(string(k)), len(v))
		}
		out = append(out, rackCount{rack: string(k), count: n})
		return true, nil
	})
	return out, err
}

// allocatedIn lists the project's allocated machines in a partition.
func allocatedIn(tx backends.Tx, project, partition string) (map[string]allocIndex, error) {
	out := map[string]allocIndex{}
	prefix := pairKey(partition, "")
	err := backends.AscendPrefix(tx, allocatedBucket(project), prefix, func(k, v []byte) (bool, error) {
		a, err := decodeAlloc(project, k, v)
		if err != nil {
			return false, err
		}
		out[string(k[len(prefix):])] = a
		return true, nil
	})
	return out, err
}

// countRole counts the project's allocations of role in every partition.
func countRole(tx backends.Tx, project string, role Role) (int, error) {
	n := 0
	err := tx.Ascend(allocatedBucket(project), nil, func(k, v []byte) (bool, error) {
		a, err := decodeAlloc(project, k, v)
		if err != nil {
			return false, err
		}
		if a.Role == role {
			n++
		}
		return true, nil
	})
	return n, err
}

// decodeAlloc decodes the entry under key k of project's allocation index.
func decodeAlloc(project string, k, v []byte) (allocIndex, error) {
	var a allocIndex
	if err := json.Unmarshal(v, &a); err != nil {
		return a, corrupt("allocation index of project %s, key %q does not decode: %v", q(project), k, err)
	}
	return a, nil
}
