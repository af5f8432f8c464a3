package machine

import (
	"github.com/metalkit/metalkit/backends"
)

// StoreMachine stores machine m and its event container c (nil: none)
// through the package's own storage path, so that the free, candidate and
// allocation indexes are kept in step exactly as registration, Wait and
// allocation keep them. Benchmarks use it to set up thousands of machines
// without registering each one, which reads every switch of the partition.
func StoreMachine(tx backends.Tx, m *Machine, c *EventContainer) error {
	e, err := load(tx, m.ID)
	if err != nil {
		return err
	}
	e.m, e.c = m, c
	return e.save(tx)
}

// CandidateIndex returns what the candidate index of a partition and size
// holds: the rack of every candidate by machine id, and the counter of
// every rack.
func CandidateIndex(tx backends.Tx, partition, size string) (racks map[string]string, counts map[string]int, err error) {
	racks, counts = map[string]string{}, map[string]int{}
	rcs, err := candidateRacks(tx, partition, size)
	if err != nil {
		return nil, nil, err
	}
	for _, rc := range rcs {
		counts[rc.rack] = rc.count
	}
	err = tx.Ascend(candidateBucket(partition, size), nil, func(k, _ []byte) (bool, error) {
		rack, id, ok := splitCandidateKey(k)
		if !ok {
			return false, corrupt("candidate key %q has no rack and hash", k)
		}
		racks[id] = rack
		return true, nil
	})
	return racks, counts, err
}

// SwitchNics converts a machine's NICs for switchstate.ConnectMachine, as
// registration does.
var SwitchNics = switchNics
