package machine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/check"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/network"
	"github.com/metalkit/metalkit/switchstate"
)

// checkBatch is the most machines a check transaction reads.
const checkBatch = 1024

// Check verifies the machine package's state, reading in transactions of
// bounded size: every machine and event container decodes and no
// container is left without its machine; the indexes (free machines,
// candidates and their counts per rack, allocated machines per project)
// hold exactly what the machine records say; every IP of an allocation
// exists and carries the machine's tag; the allocations' ASNs are unique
// and the ASN pool holds exactly them; and every machine a switch holds
// connections of exists. Index entries, candidate counts, ASN pool entries
// and connections of missing machines are repairable.
func Check(ctx context.Context, store backends.Store, opts check.Options) ([]check.Finding, error) {
	c := &checker{col: check.NewCollector("machine", opts)}
	asns := map[uint32]string{} // of the batches checked
	err := c.col.ScanBatches(ctx, store, bucketMachines, checkBatch, func(tx backends.Tx, batch []check.KeyValue) error {
		seen := map[uint32]string{} // of this batch
		for _, kv := range batch {
			if err := c.machine(tx, string(kv.Key), asns, seen); err != nil {
				return err
			}
		}
		c.col.Defer(func() { maps.Copy(asns, seen) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	steps := []func(tx backends.Tx) error{
		c.containers,
		func(tx backends.Tx) error { return c.staleIndexes(tx) },
		func(tx backends.Tx) error { return c.asnPool(tx, asns) },
		c.connections,
	}
	for _, step := range steps {
		if err := c.col.View(ctx, store, step); err != nil {
			return nil, err
		}
	}
	return c.col.Findings(), nil
}

type checker struct {
	col *check.Collector
}

func (c *checker) add(invariant string, repair func(tx backends.Tx) error, key check.Key, format string, args ...any) {
	c.col.Add(invariant, repair, []check.Key{key}, format, args...)
}

func machineKey(id string) check.Key { return check.Key{Bucket: bucketMachines, Key: idKey(id)} }

// machine checks one machine's record, index entries and IPs; its ASN must
// be in neither asns (of the batches checked before) nor seen (of this
// batch), and is added to seen.
func (c *checker) machine(tx backends.Tx, id string, asns, seen map[uint32]string) error {
	e, err := load(tx, id)
	if errors.Is(err, errdefs.ErrCorrupt) {
		c.add("record", nil, machineKey(id), "%v", err)
		return nil
	}
	if err != nil {
		return err
	}
	if e.m == nil {
		return nil
	}
	st := e.was
	for _, x := range expectedEntries(id, st) {
		v, err := tx.Get(x.bucket, x.key)
		if errors.Is(err, backends.ErrNotFound) || (err == nil && !bytes.Equal(v, x.value)) {
			c.add("index", reindex(id), check.Key{Bucket: x.bucket, Key: x.key}, "machine %s is missing from (or stale in) the index %s", q(id), x.bucket)
			continue
		}
		if err != nil {
			return err
		}
	}
	a := e.m.Allocation
	if a == nil {
		return nil
	}
	tag := network.MachineTagPrefix + id
	for _, n := range a.Networks {
		for _, addr := range n.IPs {
			ip, err := network.GetIPTx(tx, addr)
			switch {
			case errors.Is(err, network.ErrNotFound):
				c.add("allocation-ip", nil, machineKey(id), "machine %s: ip %s of network %s is not allocated", q(id), addr, q(n.NetworkID))
			case err != nil && !errors.Is(err, errdefs.ErrCorrupt):
				return err
			case err == nil && !slices.Contains(ip.Tags, tag):
				c.add("allocation-ip", nil, machineKey(id), "machine %s: ip %s does not carry the tag %s", q(id), addr, tag)
			}
		}
	}
	if asn := allocationASN(a); asn != 0 {
		other, dup := asns[asn]
		if !dup {
			other, dup = seen[asn]
		}
		if dup {
			c.add("asn", nil, machineKey(id), "machines %s and %s share the ASN %d", q(other), q(id), asn)
		} else {
			seen[asn] = id
		}
	}
	return nil
}

// indexEntry is one entry an index should hold for a machine.
type indexEntry struct {
	bucket     string
	key, value []byte
}

func expectedEntries(id string, st indexState) []indexEntry {
	if !st.present {
		return nil
	}
	if !st.free {
		return []indexEntry{{allocatedBucket(st.project), pairKey(st.partition, id), st.alloc}}
	}
	out := []indexEntry{{freeBucket(st.partition, st.size), idKey(id), []byte{}}}
	if st.candidate {
		out = append(out, indexEntry{candidateBucket(st.partition, st.size), candidateKey(st.rack, id), []byte{}})
	}
	return out
}

// reindex writes machine id's index entries as its record says, inside the
// repair transaction.
func reindex(id string) func(tx backends.Tx) error {
	return func(tx backends.Tx) error {
		e, err := load(tx, id)
		if err != nil {
			return err
		}
		for _, x := range expectedEntries(id, e.was) {
			if err := tx.Put(x.bucket, x.key, x.value); err != nil {
				return err
			}
		}
		return nil
	}
}

// containers finds event containers without a machine.
func (c *checker) containers(tx backends.Tx) error {
	return tx.Ascend(bucketEvents, nil, func(k, v []byte) (bool, error) {
		if ok, err := backends.Has(tx, bucketMachines, k); err != nil {
			return false, err
		} else if !ok {
			c.add("container", nil, check.Key{Bucket: bucketEvents, Key: k}, "the event container of %s has no machine", q(string(k)))
		}
		if err := json.Unmarshal(v, &EventContainer{}); err != nil {
			c.add("record", nil, check.Key{Bucket: bucketEvents, Key: k}, "the event container of %s does not decode: %v", q(string(k)), err)
		}
		return true, nil
	})
}

// staleIndexes finds index entries the machine records do not explain,
// and candidate counts that differ from the candidates.
func (c *checker) staleIndexes(tx backends.Tx) error {
	type countKey struct{ bucket, rack string }
	counted := map[countKey]int{}
	err := tx.Buckets("machine/", func(name string) (bool, error) {
		var kind string
		for _, p := range []string{prefixFree, prefixCandidates, prefixCandidateCount, prefixAllocated} {
			if strings.HasPrefix(name, p) {
				kind = p
			}
		}
		if !strings.HasPrefix(name, "machine/") {
			return false, nil
		}
		if kind == "" || kind == prefixCandidateCount {
			return true, nil
		}
		return true, tx.Ascend(name, nil, func(k, v []byte) (bool, error) {
			var id string
			switch kind {
			case prefixFree:
				id = string(k)
			case prefixCandidates:
				rack, cid, ok := splitCandidateKey(k)
				if !ok {
					c.add("index", check.DeleteKey(name, k), check.Key{Bucket: name, Key: k}, "corrupt candidate key %x", k)
					return true, nil
				}
				id = cid
				partitionSize := strings.TrimPrefix(name, prefixCandidates)
				counted[countKey{prefixCandidateCount + partitionSize, rack}]++
			case prefixAllocated:
				_, after, ok := bytes.Cut(k, []byte{0})
				if !ok {
					c.add("index", check.DeleteKey(name, k), check.Key{Bucket: name, Key: k}, "corrupt allocation index key %x", k)
					return true, nil
				}
				id = string(after)
			}
			e, err := load(tx, id)
			if err != nil && !errors.Is(err, errdefs.ErrCorrupt) {
				if errors.Is(err, ErrInvalidArgument) {
					c.add("index", check.DeleteKey(name, k), check.Key{Bucket: name, Key: k}, "the index %s holds an invalid machine id %q", name, id)
					return true, nil
				}
				return false, err
			}
			expected := false
			if e != nil {
				for _, x := range expectedEntries(id, e.was) {
					expected = expected || (x.bucket == name && bytes.Equal(x.key, k))
				}
			}
			if !expected {
				c.add("index", check.DeleteKey(name, k), check.Key{Bucket: name, Key: k}, "the index %s lists machine %s, whose record does not", name, q(id))
			}
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	// Candidate counts against the candidates counted above.
	stored := map[countKey]int{}
	err = tx.Buckets(prefixCandidateCount, func(name string) (bool, error) {
		if !strings.HasPrefix(name, prefixCandidateCount) {
			return false, nil
		}
		return true, tx.Ascend(name, nil, func(k, v []byte) (bool, error) {
			n, ok := decodeCount(v)
			if !ok {
				c.add("candidate-count", setCount(name, string(k), counted[countKey{name, string(k)}]), check.Key{Bucket: name, Key: k}, "corrupt candidate count %x", v)
				return true, nil
			}
			stored[countKey{name, string(k)}] = n
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	for k, n := range counted {
		if stored[k] != n {
			c.add("candidate-count", setCount(k.bucket, k.rack, n), check.Key{Bucket: k.bucket, Key: []byte(k.rack)}, "rack %s counts %d candidates, the index holds %d", q(k.rack), stored[k], n)
		}
	}
	for k, n := range stored {
		if _, ok := counted[k]; !ok {
			c.add("candidate-count", setCount(k.bucket, k.rack, 0), check.Key{Bucket: k.bucket, Key: []byte(k.rack)}, "rack %s counts %d candidates, the index holds none", q(k.rack), n)
		}
	}
	return nil
}

func setCount(bucket, rack string, n int) func(tx backends.Tx) error {
	return func(tx backends.Tx) error { return putCount(tx, bucket, rack, n) }
}

// asnPool compares the ASN pool with the allocations' ASNs.
func (c *checker) asnPool(tx backends.Tx, asns map[uint32]string) error {
	poolKey := check.Key{Bucket: ipam.PoolBucket(asnPool)}
	if _, err := ipam.GetPool(tx, asnPool); errors.Is(err, ipam.ErrNotFound) {
		for asn, id := range asns {
			c.add("asn-pool", takeASN(asn), poolKey, "machine %s holds ASN %d, but there is no ASN pool", q(id), asn)
		}
		return nil
	} else if err != nil {
		return err
	}
	taken := map[uint32]bool{}
	err := ipam.EachTakenInt(tx, asnPool, func(v uint64) (bool, error) {
		asn := uint32(ASNBase + v)
		taken[asn] = true
		if _, ok := asns[asn]; !ok {
			c.add("asn-pool", releaseASNValue(asn), poolKey, "ASN %d is taken in the pool but no allocation holds it", asn)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for asn, id := range asns {
		if !taken[asn] {
			c.add("asn-pool", takeASN(asn), poolKey, "machine %s holds ASN %d, which is free in the pool", q(id), asn)
		}
	}
	return nil
}

func releaseASNValue(asn uint32) func(tx backends.Tx) error {
	return func(tx backends.Tx) error { return releaseASN(tx, asn) }
}

func takeASN(asn uint32) func(tx backends.Tx) error {
	return func(tx backends.Tx) error {
		if _, err := ipam.GetPool(tx, asnPool); errors.Is(err, ipam.ErrNotFound) {
			if err := ipam.CreatePool(tx, asnPool, 1, MaxASNOffset); err != nil {
				return err
			}
		}
		err := ipam.AcquireSpecificInt(tx, asnPool, uint64(asn-ASNBase))
		if errors.Is(err, ipam.ErrAlreadyAllocated) {
			return nil
		}
		return err
	}
}

// connections finds switch connections of machines that do not exist.
func (c *checker) connections(tx backends.Tx) error {
	connected, err := switchstate.ConnectedMachineIDs(tx)
	if err != nil {
		return err
	}
	for id, switches := range connected {
		if ok, err := backends.Has(tx, bucketMachines, idKey(id)); err != nil {
			return err
		} else if !ok {
			c.add("connection", disconnect(id), switchstate.MachineIndexKey(id),
				"switches %v hold connections of machine %s, which does not exist", switches, q(id))
		}
	}
	return nil
}

func disconnect(id string) func(tx backends.Tx) error {
	return func(tx backends.Tx) error {
		if _, err := tx.Get(bucketMachines, idKey(id)); err == nil {
			return nil // registered meanwhile
		}
		return switchstate.DisconnectMachine(tx, id)
	}
}
