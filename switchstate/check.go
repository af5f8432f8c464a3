package switchstate

import (
	"context"
	"errors"
	"strings"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/check"
)

// Check verifies the switch package's state, one switch per transaction:
// every switch record decodes, the partition index lists it under its
// partition and rack, and the machine index lists it for every machine it
// holds connections of; then, in one transaction, that every entry of
// both indexes names a switch that has it. Index entries are repairable.
// Whether the connected machines exist is the machine package's check
// (see ConnectedMachines).
func Check(ctx context.Context, store backends.Store, opts check.Options) ([]check.Finding, error) {
	col := check.NewCollector("switchstate", opts)
	add := func(invariant string, repair func(tx backends.Tx) error, key check.Key, format string, args ...any) {
		col.Add(invariant, repair, []check.Key{key}, format, args...)
	}
	var ids []string
	err := col.View(ctx, store, func(tx backends.Tx) error {
		var err error
		ids, err = bucketIDs(tx, bucketSwitch)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		err := col.View(ctx, store, func(tx backends.Tx) error {
			sw, err := loadSwitch(tx, id)
			switch {
			case errors.Is(err, ErrNotFound):
				return nil
			case errors.Is(err, ErrCorrupt):
				add("record", nil, check.Key{Bucket: bucketSwitch, Key: switchKey(id)}, "%v", err)
				return nil
			case err != nil:
				return err
			}
			pk := rackKey(sw.RackID, sw.ID)
			if ok, err := backends.Has(tx, partitionBucket(sw.PartitionID), pk); err != nil {
				return err
			} else if !ok {
				add("partition-index", check.PutKey(partitionBucket(sw.PartitionID), pk), check.Key{Bucket: partitionBucket(sw.PartitionID), Key: pk},
					"switch %q is missing from the index of partition %q rack %q", sw.ID, sw.PartitionID, sw.RackID)
			}
			for _, m := range connectedIDs(sw) {
				if ok, err := backends.Has(tx, machineBucket(m), switchKey(sw.ID)); err != nil {
					return err
				} else if !ok {
					add("machine-index", check.PutKey(machineBucket(m), switchKey(sw.ID)), check.Key{Bucket: machineBucket(m), Key: switchKey(sw.ID)},
						"switch %q holds connections of machine %q but the machine index does not list it", sw.ID, m)
				}
			}
			if _, err := loadStatus(tx, sw.ID); errors.Is(err, ErrCorrupt) {
				add("record", nil, check.Key{Bucket: bucketStatus, Key: switchKey(sw.ID)}, "%v", err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err = col.View(ctx, store, func(tx backends.Tx) error {
		return tx.Buckets(bucketMachinePrefix, func(name string) (bool, error) {
			switch {
			case strings.HasPrefix(name, bucketPartitionPrefix):
				partition := strings.TrimPrefix(name, bucketPartitionPrefix)
				return true, tx.Ascend(name, nil, func(k, _ []byte) (bool, error) {
					rack, id, err := splitRackKey(k)
					if err != nil {
						add("partition-index", check.DeleteKey(name, k), check.Key{Bucket: name, Key: k}, "%v", err)
						return true, nil
					}
					sw, err := loadSwitch(tx, id)
					if errors.Is(err, ErrNotFound) || (err == nil && (sw.PartitionID != partition || sw.RackID != rack)) {
						add("partition-index", check.DeleteKey(name, k), check.Key{Bucket: name, Key: k},
							"the index of partition %q rack %q lists switch %q, which is not there", partition, rack, id)
					} else if err != nil && !errors.Is(err, ErrCorrupt) {
						return false, err
					}
					return true, nil
				})
			case strings.HasPrefix(name, bucketMachinePrefix):
				machine := strings.TrimPrefix(name, bucketMachinePrefix)
				return true, tx.Ascend(name, nil, func(k, _ []byte) (bool, error) {
					sw, err := loadSwitch(tx, string(k))
					if errors.Is(err, ErrNotFound) || (err == nil && len(sw.machineConnections(machine)) == 0) {
						add("machine-index", check.DeleteKey(name, k), check.Key{Bucket: name, Key: k},
							"the machine index lists switch %q for machine %q, which holds no connection of it", k, machine)
					} else if err != nil && !errors.Is(err, ErrCorrupt) {
						return false, err
					}
					return true, nil
				})
			case name > bucketPartitionPrefix:
				return false, nil // past both indexes
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return col.Findings(), nil
}

func connectedIDs(sw *Switch) []string {
	var ids []string
	seen := map[string]bool{}
	for _, c := range sw.Connections {
		if !seen[c.MachineID] {
			seen[c.MachineID] = true
			ids = append(ids, c.MachineID)
		}
	}
	return ids
}

// MachineIndexKey is the key of a finding about the machine index of
// machine id as a whole: its bucket, no key.
func MachineIndexKey(id string) check.Key { return check.Key{Bucket: machineBucket(id)} }

// ConnectedMachineIDs lists the machines that switches hold connections of,
// with the switches holding them, from the machine index: one listing of
// the index buckets. The machine package's check uses it to find
// connections that name no machine.
func ConnectedMachineIDs(tx backends.Tx) (map[string][]string, error) {
	out := map[string][]string{}
	err := tx.Buckets(bucketMachinePrefix, func(name string) (bool, error) {
		if !strings.HasPrefix(name, bucketMachinePrefix) {
			return false, nil
		}
		ids, err := bucketIDs(tx, name)
		if err != nil {
			return false, err
		}
		if len(ids) > 0 {
			out[strings.TrimPrefix(name, bucketMachinePrefix)] = ids
		}
		return true, nil
	})
	return out, err
}
