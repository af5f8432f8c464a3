package redisstore

import (
	"bytes"

	"github.com/google/btree"
)

// span is a range of keys [lo, hi) of one bucket whose content in Redis an
// attempt knows in full: every key in it is in remote.entries. An empty lo
// starts at the first key; open spans reach past the last key (hi is then
// unused).
type span struct {
	lo   []byte
	hi   []byte
	open bool
}

func spanLess(a, b span) bool { return bytes.Compare(a.lo, b.lo) < 0 }

// remote is what an attempt read of one bucket in Redis: the keys and
// values it saw and the spans it saw in full. Gets add spans of one key,
// scan batches the range they covered. What the attempt read is WATCHed
// (or was read in one atomic step), so it stays true for the attempt.
type remote struct {
	spans   *btree.BTreeG[span]
	entries *btree.BTreeG[entry]
	// exists is set once a read found a key of the bucket in Redis: the
	// bucket is then in the registry (and stays there while watched).
	exists bool
}

func (r *remote) init() {
	if r.spans == nil {
		r.spans = btree.NewG(treeDegree, spanLess)
		r.entries = btree.NewG(treeDegree, entryLess)
	}
}

// spanAt returns the span that holds k.
func (r *remote) spanAt(k []byte) (span, bool) {
	if r.spans == nil {
		return span{}, false
	}
	var s span
	ok := false
	r.spans.DescendLessOrEqual(span{lo: k}, func(x span) bool {
		s, ok = x, true
		return false
	})
	if !ok || !s.open && bytes.Compare(k, s.hi) >= 0 {
		return span{}, false
	}
	return s, true
}

// spanBelow returns the span that holds the keys just below hi (with inf,
// the last keys of the bucket): the next ones a descending scan reaches.
func (r *remote) spanBelow(hi []byte, inf bool) (span, bool) {
	if r.spans == nil {
		return span{}, false
	}
	if inf {
		s, ok := r.spans.Max()
		return s, ok && s.open
	}
	var s span
	ok := false
	r.spans.DescendLessOrEqual(span{lo: hi}, func(x span) bool {
		if bytes.Equal(x.lo, hi) {
			return true
		}
		s, ok = x, true
		return false
	})
	if !ok || !s.open && bytes.Compare(hi, s.hi) > 0 {
		return span{}, false
	}
	return s, true
}

// lookup answers a Get from what was read: known reports whether key lies
// in a span, found whether Redis holds it.
func (r *remote) lookup(key []byte) (val []byte, found, known bool) {
	if _, ok := r.spanAt(key); !ok {
		return nil, false, false
	}
	e, ok := r.entries.Get(entry{key: key})
	return e.val, ok, true
}

// covers reports whether the first keys of the scan op are known.
func (r *remote) covers(op *readOp) bool {
	if op.desc {
		_, ok := r.spanBelow(op.key, op.inf)
		return ok
	}
	_, ok := r.spanAt(op.key)
	return ok
}

// learn records the result of op, a Get or a scan batch of this bucket.
func (r *remote) learn(op *readOp) {
	r.init()
	switch op.kind {
	case opGet:
		if op.found {
			r.entries.ReplaceOrInsert(entry{key: op.key, val: op.val})
			r.exists = true
		}
		r.add(span{lo: op.key, hi: append(bytes.Clone(op.key), 0)})
	case opScan:
		for _, e := range op.kvs {
			r.entries.ReplaceOrInsert(e)
		}
		if op.card > 0 {
			r.exists = true
		}
		full := op.members < op.limit
		var s span
		switch {
		case !op.desc && full:
			s = span{lo: op.key, open: true}
		case !op.desc:
			s = span{lo: op.key, hi: append(bytes.Clone(op.last), 0)}
		case full:
			s = span{hi: op.key, open: op.inf}
		default:
			s = span{lo: op.last, hi: op.key, open: op.inf}
		}
		r.add(s)
		if int64(r.entries.Len()) == op.card {
			// Every key of the bucket is known: later scans and Gets of
			// it need no round trip.
			r.add(span{open: true})
		}
	}
}

// add merges s with the spans it overlaps or touches.
func (r *remote) add(s span) {
	var drop []span
	lo, hi, open := s.lo, s.hi, s.open
	widen := func(x span) {
		drop = append(drop, x)
		if bytes.Compare(x.lo, lo) < 0 {
			lo = x.lo
		}
		if x.open {
			open = true
		} else if !open && bytes.Compare(x.hi, hi) > 0 {
			hi = x.hi
		}
	}
	r.spans.DescendLessOrEqual(span{lo: s.lo}, func(x span) bool {
		if x.open || bytes.Compare(x.hi, s.lo) >= 0 {
			widen(x)
		}
		return false
	})
	r.spans.AscendGreaterOrEqual(span{lo: s.lo}, func(x span) bool {
		if !open && bytes.Compare(x.lo, hi) > 0 {
			return false
		}
		if len(drop) > 0 && bytes.Equal(x.lo, drop[0].lo) {
			return true // the left neighbour, merged already
		}
		widen(x)
		return true
	})
	for _, x := range drop {
		r.spans.Delete(x)
	}
	if open {
		hi = nil
	}
	r.spans.ReplaceOrInsert(span{lo: lo, hi: hi, open: open})
}
