package machine

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
)

// Buckets and key encodings of the machine package, all in this file.
// Numbers are big-endian and fixed-width, so byte order is numeric order.
//
//	machine/machines                 id -> Machine (JSON)
//	machine/events                   id -> EventContainer (JSON)
//	machine/sizes                    id -> Size (JSON)
//	machine/reservations             seq(8) -> SizeReservation (JSON), creation order
//	machine/reservation-ids          id -> seq(8); a new reservation takes the
//	                                 newest seq plus one
//	machine/free/<partition>\0<size> id -> nil: every free machine of a partition and size
//	machine/cand/<partition>\0<size> rack \0 hash(id)(8) id -> nil: the candidates
//	                                 (free, available, waiting, Alive), grouped by rack
//	machine/candn/<partition>\0<size> rack -> count(4): candidates per rack
//	machine/alloc/<project>          partition \0 id -> allocIndex (JSON): the
//	                                 project's allocated machines
//
// The candidate index orders a rack's candidates by a hash of their id, so
// that a seek to a random point picks a uniformly spread candidate in
// O(log n) store operations, whatever the number of candidates. Each
// (partition, size) has buckets of its own, so allocations of different
// sizes do not touch the same bucket.
const (
	bucketMachines       = "machine/machines"
	bucketEvents         = "machine/events"
	bucketSizes          = "machine/sizes"
	bucketReservations   = "machine/reservations"
	bucketReservationIDs = "machine/reservation-ids"
	prefixFree           = "machine/free/"
	prefixCandidates     = "machine/cand/"
	prefixCandidateCount = "machine/candn/"
	prefixAllocated      = "machine/alloc/"
)

// asnPool is the ipam integer pool of ASN offsets: an allocation's ASN is
// ASNBase plus the lowest free value of 1..MaxASNOffset.
const asnPool = "machine/asn"

// The ASN range of allocations.
const (
	ASNBase      = 4210000000
	MaxASNOffset = 131072
)

func idKey(id string) []byte { return []byte(id) }

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func pairKey(a, b string) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}

func freeBucket(partition, size string) string {
	return prefixFree + partition + "\x00" + size
}

func candidateBucket(partition, size string) string {
	return prefixCandidates + partition + "\x00" + size
}

func candidateCountBucket(partition, size string) string {
	return prefixCandidateCount + partition + "\x00" + size
}

func allocatedBucket(project string) string { return prefixAllocated + project }

// idHash spreads ids uniformly over 64 bits.
func idHash(id string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return h.Sum64()
}

// candidateKey is rack \0 hash(id) id.
func candidateKey(rack, id string) []byte {
	k := make([]byte, 0, len(rack)+1+8+len(id))
	k = append(k, rack...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, idHash(id))
	return append(k, id...)
}

// candidatePoint is where a seek for a random candidate of rack starts.
func candidatePoint(rack string, point uint64) []byte {
	k := make([]byte, 0, len(rack)+1+8)
	k = append(k, rack...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, point)
}

// splitCandidateKey returns the rack and machine id of a candidate key; ok
// is false when k has no rack and hash.
func splitCandidateKey(k []byte) (rack, id string, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) < i+1+8 {
		return "", "", false
	}
	return string(k[:i]), string(k[i+1+8:]), true
}

func rackPrefix(rack string) []byte { return append([]byte(rack), 0) }
