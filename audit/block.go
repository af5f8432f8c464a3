package audit

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// blockSize is the most entries one compressed block holds.
const blockSize = 256

// stored is an entry as it is kept: its key and its JSON.
type stored struct {
	key []byte
	raw []byte
}

func isBlock(v []byte) bool { return len(v) > 0 && v[0] == blockMarker }

// encodeBlock packs entries, in ascending key order, into a block value:
// the marker, then flate of (key, uvarint length, JSON) per entry.
func encodeBlock(entries []stored) ([]byte, error) {
	var plain []byte
	for _, s := range entries {
		plain = append(plain, s.key...)
		plain = binary.AppendUvarint(plain, uint64(len(s.raw)))
		plain = append(plain, s.raw...)
	}
	var b bytes.Buffer
	b.WriteByte(blockMarker)
	w, err := flate.NewWriter(&b, flate.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// decodeBlock unpacks a block value into its entries in ascending order.
func decodeBlock(v []byte) ([]stored, error) {
	if !isBlock(v) {
		return nil, errdefs.Errorf(ErrCorrupt, "audit: not a block")
	}
	plain, err := io.ReadAll(flate.NewReader(bytes.NewReader(v[1:])))
	if err != nil {
		return nil, errdefs.Errorf(ErrCorrupt, "audit: block: %v", err)
	}
	var out []stored
	for len(plain) > 0 {
		if len(plain) < entryKeyLen {
			return nil, errdefs.Errorf(ErrCorrupt, "audit: block: short key")
		}
		key := plain[:entryKeyLen:entryKeyLen]
		n, w := binary.Uvarint(plain[entryKeyLen:])
		if w <= 0 || uint64(len(plain)-entryKeyLen-w) < n {
			return nil, errdefs.Errorf(ErrCorrupt, "audit: block: bad length")
		}
		start := entryKeyLen + w
		out = append(out, stored{key: key, raw: plain[start : start+int(n) : start+int(n)]})
		plain = plain[start+int(n):]
	}
	return out, nil
}

// noBlocksAbove is the Cursor of a day that has no block yet: every key is
// at or above it.
var noBlocksAbove = []byte{0}

// direct reports whether the plain entry with key k of a day in state d
// can lie inside no block, so that a descending scan may emit it at once.
func (d dayInfo) direct(k []byte) bool {
	return d.State == dayOpen || (d.Cursor != nil && bytes.Compare(k, d.Cursor) >= 0)
}

// scanDay calls emit for the entries of day with keys <= start (nil: all),
// in descending key order, merging compressed blocks and plain entries,
// until emit returns false. It stops once no entry at or above lo (nil:
// none) can follow; entries outside [lo, start] may still be passed and are
// for emit to skip.
func scanDay(tx backends.Tx, day string, d dayInfo, start, lo []byte, emit func(s stored) (bool, error)) error {
	var pending []stored // entries read but not yet emitted
	stopped := false
	flush := func() (bool, error) {
		slices.SortFunc(pending, func(a, b stored) int { return bytes.Compare(b.key, a.key) })
		p := pending
		pending = nil
		for _, s := range p {
			more, err := emit(s)
			if err != nil || !more {
				stopped = true
				return false, err
			}
		}
		return true, nil
	}
	err := tx.Descend(dayBucket(day), start, func(k, v []byte) (bool, error) {
		below := lo != nil && bytes.Compare(k, lo) < 0
		if isBlock(v) {
			if d.State == dayOpen {
				return false, errdefs.Errorf(ErrCorrupt, "audit: block %x in open day %s", k, day)
			}
			es, err := decodeBlock(v)
			if err != nil {
				return false, err
			}
			pending = append(pending, es...)
			// No entry still unread lies at or above k: blocks are
			// disjoint and every plain key left is below k.
			more, err := flush()
			return more && !below, err
		}
		if d.direct(k) {
			if below {
				return false, nil
			}
			s := stored{key: k, raw: v}
			if len(pending) == 0 {
				more, err := emit(s)
				if err != nil || !more {
					stopped = true
				}
				return more, err
			}
			pending = append(pending, s)
			return true, nil
		}
		// A late entry of a compressed day: a block further down may hold
		// later entries, so it waits for the next block.
		if !below {
			pending = append(pending, stored{key: k, raw: v})
		}
		return true, nil
	})
	if err != nil || stopped {
		return err
	}
	_, err = flush()
	return err
}

// reader reads entries by key inside one transaction, caching day states
// and decoded blocks.
type reader struct {
	tx     backends.Tx
	days   map[string]*dayInfo // nil value: no such day
	blocks map[string][]stored
}

func newReader(tx backends.Tx) *reader {
	return &reader{tx: tx, days: map[string]*dayInfo{}, blocks: map[string][]stored{}}
}

// day returns the day index entry of day, nil when there is none.
func (r *reader) day(day string) (*dayInfo, error) {
	if d, ok := r.days[day]; ok {
		return d, nil
	}
	d, err := getDay(r.tx, day)
	var dp *dayInfo
	switch {
	case err == nil:
		dp = &d
	case !errors.Is(err, backends.ErrNotFound):
		return nil, err
	}
	r.days[day] = dp
	return dp, nil
}

// get returns the JSON of the entry with key k, plain or inside a block, or
// an error wrapping backends.ErrNotFound.
func (r *reader) get(k []byte) ([]byte, error) {
	day := keyDay(k)
	bucket := dayBucket(day)
	v, err := r.tx.Get(bucket, k)
	if err == nil && !isBlock(v) {
		return v, nil
	}
	if err != nil && !errors.Is(err, backends.ErrNotFound) {
		return nil, err
	}
	d, derr := r.day(day)
	if derr != nil {
		return nil, derr
	}
	if d == nil || d.direct(k) {
		return nil, fmt.Errorf("audit: entry %x: %w", k, backends.ErrNotFound)
	}
	var bkey, bval []byte
	err = r.tx.Descend(bucket, k, func(key, val []byte) (bool, error) {
		if isBlock(val) {
			bkey, bval = key, val
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if bkey == nil {
		return nil, fmt.Errorf("audit: entry %x: %w", k, backends.ErrNotFound)
	}
	es, ok := r.blocks[string(bkey)]
	if !ok {
		if es, err = decodeBlock(bval); err != nil {
			return nil, err
		}
		r.blocks[string(bkey)] = es
	}
	i, found := slices.BinarySearchFunc(es, k, func(s stored, k []byte) int { return bytes.Compare(s.key, k) })
	if !found {
		return nil, fmt.Errorf("audit: entry %x: %w", k, backends.ErrNotFound)
	}
	return es[i].raw, nil
}
