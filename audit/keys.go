package audit

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Storage layout. Every bucket name and key encoding of the trail is here.
//
//	audit/<YYYY-MM-DD>  one bucket per UTC day; key entryKey, value the entry
//	                    as JSON, or a compressed block (blockMarker first)
//	                    keyed by its first entry's key
//	audit/days          day index; key "YYYY-MM-DD", value dayInfo as JSON
//	audit/rqid          request id index; key rqidKey, empty value
//	audit/seq           hash chain: key seqKey, value the entry key
//	audit/chain         hash chain: keys "head" and "anchor", chainPoint JSON
//
// Numbers are big-endian and fixed width, so byte order is numeric order.
const (
	bucketPrefix = "audit/"
	daysBucket   = "audit/days"
	rqidBucket   = "audit/rqid"
	seqBucket    = "audit/seq"
	chainBucket  = "audit/chain"

	dayLayout = "2006-01-02"

	// entryKeyLen is 8 bytes of nanoseconds since 1970, 1 byte of phase
	// order and 16 bytes of id.
	entryKeyLen = 8 + 1 + 16

	// blockMarker starts every compressed block value; an entry's JSON
	// starts with '{'.
	blockMarker = 0x00
)

var (
	headKey   = []byte("head")
	anchorKey = []byte("anchor")
)

// dayOf returns the name of the UTC day of t, e.g. "2024-05-10".
func dayOf(t time.Time) string { return t.UTC().Format(dayLayout) }

// dayBucket returns the bucket of the UTC day named day.
func dayBucket(day string) string { return bucketPrefix + day }

// entryKey encodes the key of an entry in its day bucket.
func entryKey(ts time.Time, phase Phase, id [16]byte) []byte {
	k := make([]byte, entryKeyLen)
	binary.BigEndian.PutUint64(k, uint64(ts.UnixNano()))
	k[8] = byte(phase.Order())
	copy(k[9:], id[:])
	return k
}

// keyTime returns the timestamp encoded in an entry key.
func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC()
}

// keyDay returns the day of the entry key k.
func keyDay(k []byte) string { return dayOf(keyTime(k)) }

// keyID returns the id encoded in an entry key.
func keyID(k []byte) [16]byte {
	var id [16]byte
	copy(id[:], k[9:])
	return id
}

// timeFloor is the smallest entry key at ts; timeCeil the largest.
func timeFloor(ts time.Time) []byte {
	k := make([]byte, entryKeyLen)
	binary.BigEndian.PutUint64(k, uint64(ts.UnixNano()))
	return k
}

func timeCeil(ts time.Time) []byte {
	k := bytes.Repeat([]byte{0xff}, entryKeyLen)
	binary.BigEndian.PutUint64(k, uint64(ts.UnixNano()))
	return k
}

// rqidPrefix is the rqid index prefix of rqid: its length as 2 bytes, then
// the rqid, so that no rqid's prefix is a prefix of another's.
func rqidPrefix(rqid string) []byte {
	p := make([]byte, 2, 2+len(rqid)+entryKeyLen)
	binary.BigEndian.PutUint16(p, uint16(len(rqid)))
	return append(p, rqid...)
}

// rqidKey is the rqid index key of the entry with key ek.
func rqidKey(rqid string, ek []byte) []byte {
	return append(rqidPrefix(rqid), ek...)
}

// seqKey is the seq index key of seq.
func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}
