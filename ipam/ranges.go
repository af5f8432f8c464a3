package ipam

import (
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// rangeSet is the free-range machinery shared by addresses and integer
// pools: a set of disjoint, non-adjacent closed ranges [start, end] kept in
// one bucket, keyed by start. Every method costs at most two seeks and two
// writes, whatever the number of ranges.
type rangeSet struct {
	tx     backends.Tx
	bucket string
}

func decodeRange(k, v []byte) (s, e u128, err error) {
	if len(k) != 16 || len(v) != 16 {
		return s, e, errdefs.Errorf(ErrCorrupt, "ipam: corrupt free range %x -> %x", k, v)
	}
	return getU128(k), getU128(v), nil
}

// seek returns the first range at or after from (asc) or at or before from
// (desc); a nil from starts at the end of the bucket.
func (r rangeSet) seek(from []byte, asc bool) (s, e u128, ok bool, err error) {
	fn := func(k, v []byte) (bool, error) {
		s, e, err = decodeRange(k, v)
		ok = err == nil
		return false, err
	}
	if asc {
		err = r.tx.Ascend(r.bucket, from, fn)
	} else {
		err = r.tx.Descend(r.bucket, from, fn)
	}
	return s, e, ok && err == nil, err
}

func (r rangeSet) put(s, e u128) error { return r.tx.Put(r.bucket, numKey(s), numKey(e)) }
func (r rangeSet) del(s u128) error    { return r.tx.Delete(r.bucket, numKey(s)) }

// takeFirst removes and returns the lowest free value.
func (r rangeSet) takeFirst() (u128, bool, error) {
	s, e, ok, err := r.seek(nil, true)
	if err != nil || !ok {
		return u128{}, false, err
	}
	if err := r.del(s); err != nil {
		return u128{}, false, err
	}
	if s != e {
		if err := r.put(s.inc(), e); err != nil {
			return u128{}, false, err
		}
	}
	return s, true, nil
}

// take removes x; it reports false (and changes nothing) if x is not free.
func (r rangeSet) take(x u128) (bool, error) {
	s, e, ok, err := r.seek(numKey(x), false)
	if err != nil || !ok || e.cmp(x) < 0 {
		return false, err
	}
	if s.cmp(x) < 0 {
		if err := r.put(s, x.dec()); err != nil {
			return false, err
		}
	} else if err := r.del(s); err != nil {
		return false, err
	}
	if x.cmp(e) < 0 {
		if err := r.put(x.inc(), e); err != nil {
			return false, err
		}
	}
	return true, nil
}

// release adds x back, merging with its neighbours; it reports false (and
// changes nothing) if x is already free. The caller checks that x lies in
// the set's domain.
func (r rangeSet) release(x u128) (bool, error) {
	ps, pe, pok, err := r.seek(numKey(x), false)
	if err != nil {
		return false, err
	}
	if pok && pe.cmp(x) >= 0 {
		return false, nil
	}
	prevAdj := pok && pe.inc() == x
	var ns, ne u128
	var nextAdj bool
	if x != u128Max {
		var nok bool
		ns, ne, nok, err = r.seek(numKey(x.inc()), true)
		if err != nil {
			return false, err
		}
		nextAdj = nok && ns == x.inc()
	}
	switch {
	case prevAdj && nextAdj:
		if err := r.del(ns); err != nil {
			return false, err
		}
		return true, r.put(ps, ne)
	case prevAdj:
		return true, r.put(ps, x)
	case nextAdj:
		if err := r.del(ns); err != nil {
			return false, err
		}
		return true, r.put(x, ne)
	default:
		return true, r.put(x, x)
	}
}

// releaseSeeks are the seeks release makes for x: the range at or before x
// and the one after it.
func releaseSeeks(bucket string, x u128) []backends.Read {
	reads := []backends.Read{backends.ReadDescend(bucket, numKey(x), 1)}
	if x != u128Max {
		reads = append(reads, backends.ReadAscend(bucket, numKey(x.inc()), 1))
	}
	return reads
}
