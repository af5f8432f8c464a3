package switchstate

import (
	"encoding/binary"
	"strings"

	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
)

// Buckets and keys. Every key of the package is built here.
//
//	switchstate/switch                 id -> switch record (JSON), without status and BGP states
//	switchstate/status                 id -> status record (JSON): last_sync, last_sync_error, last_bgp_report
//	switchstate/bgp/<id>               port name -> BGP port state (JSON), one key per port
//	switchstate/bgphist/<id>           port name, 0x00, 8-byte big-endian sequence -> transition (JSON)
//	switchstate/partition/<partition>  rack, 0x00, id -> empty (switches of a partition and rack)
//	switchstate/machine/<machine id>   switch id -> empty (switches holding the machine's connections)
//
// Per-switch and per-partition buckets keep unrelated writes apart: the
// notify of one switch never touches a bucket another switch's notify
// scans. Names, partitions, racks and port names must not contain a NUL
// byte, which separates key parts.
const (
	bucketSwitch          = "switchstate/switch"
	bucketStatus          = "switchstate/status"
	bucketBGPPrefix       = "switchstate/bgp/"
	bucketHistoryPrefix   = "switchstate/bgphist/"
	bucketPartitionPrefix = "switchstate/partition/"
	bucketMachinePrefix   = "switchstate/machine/"
)

func switchKey(id string) []byte { return []byte(id) }

func bgpBucket(switchID string) string { return bucketBGPPrefix + switchID }

func bgpKey(port string) []byte { return []byte(port) }

func historyBucket(switchID string) string { return bucketHistoryPrefix + switchID }

// historyPrefix is the common prefix of every history key of port.
func historyPrefix(port string) []byte {
	return append([]byte(port), 0)
}

func historyKey(port string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(historyPrefix(port), seq)
}

// historySeq decodes the sequence number of a history key of port.
func historySeq(port string, key []byte) (uint64, bool) {
	p := historyPrefix(port)
	if len(key) != len(p)+8 || string(key[:len(p)]) != string(p) {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[len(p):]), true
}

func partitionBucket(partition string) string { return bucketPartitionPrefix + partition }

func rackKey(rack, id string) []byte {
	return []byte(rack + "\x00" + id)
}

// rackPrefix is the common prefix of the index keys of one rack.
func rackPrefix(rack string) []byte { return []byte(rack + "\x00") }

// splitRackKey returns the switch id of an index key.
func splitRackKey(key []byte) (rack, id string, err error) {
	r, i, ok := strings.Cut(string(key), "\x00")
	if !ok {
		return "", "", errdefs.Errorf(ErrCorrupt, "switchstate: corrupt partition index key %q", key)
	}
	return r, i, nil
}

func machineBucket(machineID string) string { return bucketMachinePrefix + machineID }

// checkName checks an id or name that becomes part of a key: required
// ones must not be empty, none may hold control characters (a NUL would
// break the key layout), invalid UTF-8 or more than limits.MaxID bytes.
func checkName(field, value string, required bool) error {
	check := limits.ID
	if !required {
		check = limits.OptionalID
	}
	if err := check(field, value); err != nil {
		return invalid(err)
	}
	return nil
}
