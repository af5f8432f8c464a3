package redisstore

import (
	"bytes"
	"errors"
	"slices"

	"github.com/google/btree"

	"github.com/metalkit/metalkit/backends"
)

// Ascend implements backends.Tx.
func (t *tx) Ascend(bucket string, from []byte, fn func(key, value []byte) (bool, error)) error {
	return t.scan(bucket, from, false, fn)
}

// Descend implements backends.Tx.
func (t *tx) Descend(bucket string, from []byte, fn func(key, value []byte) (bool, error)) error {
	return t.scan(bucket, from, true, fn)
}

// scan merges the bucket's keys in Redis with the transaction's overlay.
func (t *tx) scan(bucket string, from []byte, desc bool, fn func(key, value []byte) (bool, error)) error {
	if err := backends.CheckScanStart(bucket, from); err != nil {
		return err
	}
	if err := t.usable(); err != nil {
		return err
	}
	rc := newRemoteCursor(t, t.bucket(bucket), from, desc)
	defer func() { t.log.scan(bucket, from, desc, rc.pulled) }()
	oc := &overlayCursor{tree: t.overlay[bucket], desc: desc, pivot: from}
	for {
		re, rok, err := rc.peek()
		if err != nil {
			return err
		}
		oe, ook := oc.peek()
		var k, v []byte
		switch {
		case !rok && !ook:
			return nil
		case rok && ook:
			c := bytes.Compare(re.key, oe.key)
			if desc {
				c = -c
			}
			if c < 0 {
				k, v = re.key, re.val
				rc.next()
				break
			}
			if c == 0 {
				rc.next() // the transaction's own write wins
			}
			oc.next()
			if oe.del {
				continue
			}
			k, v = oe.key, oe.val
		case rok:
			k, v = re.key, re.val
			rc.next()
		default:
			oc.next()
			if oe.del {
				continue
			}
			k, v = oe.key, oe.val
		}
		more, err := fn(bytes.Clone(k), bytes.Clone(v))
		if err != nil || !more {
			return err
		}
	}
}

// chunk is how many entries a cursor copies out of a tree at a time.
const chunk = 64

// overlayCursor walks a bucket's overlay in scan order in chunks (fn may
// not write to the scanned bucket, so the tree is stable meanwhile). The
// first chunk is of one entry, since most scans are seeks; later chunks
// grow up to chunk entries.
type overlayCursor struct {
	tree  *btree.BTreeG[entry]
	desc  bool
	pivot []byte // where the next chunk starts; nil: at the end
	skip  bool   // the pivot itself was already returned
	buf   []entry
	size  int // of the next chunk
	pos   int
	done  bool
}

func (c *overlayCursor) peek() (entry, bool) {
	if c.pos < len(c.buf) {
		return c.buf[c.pos], true
	}
	if c.done || c.tree == nil {
		return entry{}, false
	}
	c.buf, c.pos = c.buf[:0], 0
	size := max(c.size, 1)
	c.size = min(4*size, chunk)
	collect := func(e entry) bool {
		if c.skip && bytes.Equal(e.key, c.pivot) {
			return true
		}
		c.buf = append(c.buf, e)
		return len(c.buf) < size
	}
	switch {
	case c.pivot == nil && !c.desc:
		c.tree.Ascend(collect)
	case c.pivot == nil:
		c.tree.Descend(collect)
	case !c.desc:
		c.tree.AscendGreaterOrEqual(entry{key: c.pivot}, collect)
	default:
		c.tree.DescendLessOrEqual(entry{key: c.pivot}, collect)
	}
	if len(c.buf) < size {
		c.done = true
	} else {
		c.pivot, c.skip = c.buf[len(c.buf)-1].key, true
	}
	if len(c.buf) == 0 {
		return entry{}, false
	}
	return c.buf[0], true
}

func (c *overlayCursor) next() { c.pos++ }

// remoteCursor walks a bucket's keys in Redis in scan order, from what the
// attempt knows of the bucket where it can and with a scan batch where it
// must. Batches start at firstScanBatch keys and grow fourfold up to
// Options.ScanBatch.
type remoteCursor struct {
	t    *tx
	b    *bucket
	desc bool
	// pos is where the next keys start: ascending the smallest key still
	// to come (empty: the first key), descending the bound they are all
	// below, unless inf (from the last key).
	pos    []byte
	inf    bool
	done   bool
	buf    []entry
	i      int
	limit  int
	pulled int // keys handed to the scan, for the replay of the attempt
}

func newRemoteCursor(t *tx, b *bucket, from []byte, desc bool) *remoteCursor {
	op := newScanOp(b, from, desc, 0)
	return &remoteCursor{t: t, b: b, desc: desc, pos: op.key, inf: op.inf, limit: min(firstScanBatch, t.s.batch)}
}

var errLost = errors.New("redisstore: a scan batch was read but not recorded")

func (c *remoteCursor) peek() (entry, bool, error) {
	for c.i >= len(c.buf) {
		if c.done {
			return entry{}, false, nil
		}
		if err := c.fill(); err != nil {
			return entry{}, false, err
		}
	}
	return c.buf[c.i], true, nil
}

func (c *remoteCursor) next() { c.i++ }

func (c *remoteCursor) span() (span, bool) {
	if c.desc {
		return c.b.spanBelow(c.pos, c.inf)
	}
	return c.b.spanAt(c.pos)
}

// fill copies the next chunk of known keys into buf, reading a batch from
// Redis first when the keys at pos are not known.
func (c *remoteCursor) fill() error {
	s, ok := c.span()
	if !ok {
		op := &readOp{kind: opScan, b: c.b, key: c.pos, inf: c.inf, desc: c.desc, limit: c.limit}
		if err := c.t.read(op); err != nil {
			return err
		}
		c.limit = min(4*c.limit, c.t.s.batch)
		if s, ok = c.span(); !ok {
			return errLost
		}
	}
	c.buf, c.i = c.buf[:0], 0
	if c.desc {
		visit := func(e entry) bool {
			if !c.inf && bytes.Compare(e.key, c.pos) >= 0 {
				return true // pos itself is not below pos
			}
			if bytes.Compare(e.key, s.lo) < 0 {
				return false
			}
			c.buf = append(c.buf, e)
			return len(c.buf) < chunk
		}
		if c.inf {
			c.b.entries.Descend(visit)
		} else {
			c.b.entries.DescendLessOrEqual(entry{key: c.pos}, visit)
		}
		switch {
		case len(c.buf) == chunk:
			c.pos, c.inf = c.buf[len(c.buf)-1].key, false
		case len(s.lo) == 0:
			c.done = true
		default:
			c.pos, c.inf = s.lo, false
		}
	} else {
		c.b.entries.AscendGreaterOrEqual(entry{key: c.pos}, func(e entry) bool {
			if !s.open && bytes.Compare(e.key, s.hi) >= 0 {
				return false
			}
			c.buf = append(c.buf, e)
			return len(c.buf) < chunk
		})
		switch {
		case len(c.buf) == chunk:
			c.pos = append(slices.Clip(c.buf[len(c.buf)-1].key), 0)
		case s.open:
			c.done = true
		default:
			c.pos = s.hi
		}
	}
	c.pulled += len(c.buf)
	return nil
}
