package ipam

import (
	"context"
	"errors"
	"net/netip"
	"slices"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/check"
	"github.com/metalkit/metalkit/errdefs"
)

// Check verifies the engine's state: for every prefix, in one read
// transaction each, that the counters equal a recount of the free ranges,
// children and free blocks (used addresses = capacity - free addresses,
// used children = child entries, free blocks per length = the block
// indexes), that the free ranges lie in the usable range without
// overlapping, that the free blocks and the children tile the prefix
// without overlap, that both block indexes hold the same blocks, and that
// every child is registered with this prefix as its parent; for every pool,
// that its counter equals the recount. Wrong counters are repairable.
// Cost: one transaction per prefix and pool, each reading that prefix's
// (or pool's) buckets.
func Check(ctx context.Context, store backends.Store, opts check.Options) ([]check.Finding, error) {
	col := check.NewCollector("ipam", opts)
	var prefixes []netip.Prefix
	var pools []string
	err := col.View(ctx, store, func(tx backends.Tx) error {
		var err error
		if prefixes, err = Prefixes(tx); err != nil {
			return err
		}
		pools = nil
		return tx.Ascend(bucketPools, nil, func(k, _ []byte) (bool, error) {
			pools = append(pools, string(k))
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, p := range prefixes {
		if err := col.View(ctx, store, func(tx backends.Tx) error { return checkPrefixTx(tx, p, col.Add) }); err != nil {
			return nil, err
		}
	}
	for _, name := range pools {
		if err := col.View(ctx, store, func(tx backends.Tx) error { return checkPoolTx(tx, name, col.Add) }); err != nil {
			return nil, err
		}
	}
	return col.Findings(), nil
}

// addFunc records a finding, as check.Collector.Add does.
type addFunc func(invariant string, repair func(tx backends.Tx) error, keys []check.Key, format string, args ...any)

// noFindings is the addFunc of a recount that reports nothing.
func noFindings(string, func(backends.Tx) error, []check.Key, string, ...any) {}

// recount is the state of a prefix computed from its buckets.
type recount struct {
	usedIPs      u128
	usedChildren u128
	free         [129]uint64
}

func prefixRecordKey(p netip.Prefix) check.Key {
	return check.Key{Bucket: bucketPrefixes, Key: prefixKey(p)}
}

func checkPrefixTx(tx backends.Tx, p netip.Prefix, add addFunc) error {
	sp, r, err := loadRecord(tx, p, nil)
	if errors.Is(err, ErrCorrupt) {
		add("record", nil, []check.Key{prefixRecordKey(p)}, "prefix %s: %v", p, err)
		return nil
	}
	if err != nil {
		return err
	}
	rc, ok, err := recountPrefix(tx, sp, add)
	if err != nil || !ok {
		return err
	}
	if rc.usedIPs != r.usedIPs || rc.usedChildren != r.usedChildren || rc.free != r.free {
		add("counters", repairCounters(p), []check.Key{prefixRecordKey(p)},
			"prefix %s: counters say %s addresses and %s children taken, a recount finds %s and %s (or the free blocks per length differ)",
			p, r.usedIPs, r.usedChildren, rc.usedIPs, rc.usedChildren)
	}
	return nil
}

// recountPrefix recounts a prefix's state from its buckets, reporting
// every structural problem through add; ok is false when the structure is
// too broken to count.
func recountPrefix(tx backends.Tx, sp span, add addFunc) (recount, bool, error) {
	var rc recount
	p := sp.p
	// report records a finding about key, which has no repair, and goes on
	// with the scan.
	report := func(invariant string, key check.Key, format string, args ...any) (bool, error) {
		add(invariant, nil, []check.Key{key}, format, args...)
		return true, nil
	}
	// Free address ranges: inside the usable range, ordered, apart.
	lo, hi, usable := sp.usable()
	var free u128
	var prevEnd u128
	first, ok := true, true
	err := tx.Ascend(ipBucket(p), nil, func(k, v []byte) (bool, error) {
		s, e, err := decodeRange(k, v)
		if err != nil {
			ok = false
			return report("free-range", check.Key{Bucket: ipBucket(p), Key: k}, "prefix %s: %v", p, err)
		}
		switch {
		case !usable || s.cmp(e) > 0 || s.cmp(lo) < 0 || e.cmp(hi) > 0:
			ok = false
			return report("free-range", check.Key{Bucket: ipBucket(p), Key: k},
				"prefix %s: free range %s-%s lies outside the usable addresses", p, sp.addr(s), sp.addr(e))
		case !first && s.cmp(prevEnd.inc()) <= 0:
			ok = false
			return report("free-range", check.Key{Bucket: ipBucket(p), Key: k},
				"prefix %s: free range %s-%s overlaps or touches the previous one", p, sp.addr(s), sp.addr(e))
		}
		first, prevEnd = false, e
		free = free.add(e.sub(s).inc())
		return true, nil
	})
	if err != nil {
		return rc, false, err
	}
	capacity := lowMask(sp.w - sp.bits).inc() // 2^(w-bits); wraps to 0 for ::/0, never registered
	rc.usedIPs = capacity.sub(free)
	// Children: registered with this prefix as parent.
	type block struct {
		start u128
		bits  int
	}
	var taken []block
	err = tx.Ascend(childBucket(p), nil, func(k, _ []byte) (bool, error) {
		if len(k) != 17 {
			ok = false
			return report("child", check.Key{Bucket: childBucket(p), Key: k}, "prefix %s: corrupt child key %x", p, k)
		}
		c := sp.prefixAt(getU128(k[:16]), int(k[16]))
		rc.usedChildren = rc.usedChildren.inc()
		taken = append(taken, block{getU128(k[:16]), int(k[16])})
		_, cr, err := loadRecord(tx, c, nil)
		switch {
		case errors.Is(err, ErrNotFound):
			return report("child", check.Key{Bucket: childBucket(p), Key: k}, "prefix %s: child %s is not registered", p, c)
		case err != nil && !errors.Is(err, ErrCorrupt):
			return false, err
		case err == nil && cr.parent != p:
			return report("child", prefixRecordKey(c), "prefix %s: child %s names %s as its parent", p, c, cr.parent)
		}
		return true, nil
	})
	if err != nil {
		return rc, false, err
	}
	// Free blocks: both indexes agree; blocks and children tile the prefix.
	var blocks []block
	err = tx.Ascend(addrBucket(p), nil, func(k, v []byte) (bool, error) {
		if len(k) != 16 || len(v) != 1 || int(v[0]) < sp.bits || int(v[0]) > sp.w {
			ok = false
			return report("free-block", check.Key{Bucket: addrBucket(p), Key: k}, "prefix %s: corrupt free block entry %x -> %x", p, k, v)
		}
		b := block{getU128(k), int(v[0])}
		blocks = append(blocks, b)
		rc.free[b.bits]++
		if _, err := tx.Get(sizeBucket(p), sizeKey(b.bits, b.start)); errors.Is(err, backends.ErrNotFound) {
			ok = false
			return report("free-block", check.Key{Bucket: sizeBucket(p), Key: sizeKey(b.bits, b.start)},
				"prefix %s: free block %s is missing from the size index", p, sp.prefixAt(b.start, b.bits))
		} else if err != nil {
			return false, err
		}
		return true, nil
	})
	if err != nil {
		return rc, false, err
	}
	var bySize uint64
	err = tx.Ascend(sizeBucket(p), nil, func(k, _ []byte) (bool, error) {
		bySize++
		return true, nil
	})
	if err != nil {
		return rc, false, err
	}
	if bySize != uint64(len(blocks)) {
		ok = false
		add("free-block", nil, []check.Key{{Bucket: sizeBucket(p)}},
			"prefix %s: the size index holds %d free blocks, the address index %d", p, bySize, len(blocks))
	}
	// Tiling: every address of the prefix in exactly one block or child.
	all := append(append([]block{}, blocks...), taken...)
	sortBlocks := func(a, b block) int { return a.start.cmp(b.start) }
	slices.SortFunc(all, sortBlocks)
	next, covered := sp.start, u128{}
	for i, b := range all {
		end := b.start.or(lowMask(sp.w - b.bits))
		if i > 0 && b.start.cmp(next) < 0 {
			ok = false
			add("tiling", nil, []check.Key{prefixRecordKey(p)}, "prefix %s: %s overlaps another free block or child", p, sp.prefixAt(b.start, b.bits))
		}
		covered = covered.add(lowMask(sp.w - b.bits).inc())
		next = end.inc()
	}
	if ok && covered != lowMask(sp.w-sp.bits).inc() {
		ok = false
		add("tiling", nil, []check.Key{prefixRecordKey(p)},
			"prefix %s: free blocks and children cover %s of its %s addresses", p, covered, lowMask(sp.w-sp.bits).inc())
	}
	return rc, ok, nil
}

// repairCounters rewrites a prefix's counters from a recount, inside the
// repair transaction.
func repairCounters(p netip.Prefix) func(tx backends.Tx) error {
	return func(tx backends.Tx) error {
		sp, r, err := loadRecord(tx, p, nil)
		if err != nil {
			return err
		}
		rc, ok, err := recountPrefix(tx, sp, noFindings)
		if err != nil || !ok {
			return err
		}
		r.usedIPs, r.usedChildren, r.free = rc.usedIPs, rc.usedChildren, rc.free
		return saveRecord(tx, sp, &r)
	}
}

func checkPoolTx(tx backends.Tx, name string, add addFunc) error {
	p, err := GetPool(tx, name)
	key := check.Key{Bucket: bucketPools, Key: []byte(name)}
	if errors.Is(err, ErrCorrupt) {
		add("pool", nil, []check.Key{key}, "pool %q: %v", name, err)
		return nil
	}
	if err != nil {
		return err
	}
	free, err := poolFree(tx, name, p)
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			add("pool", nil, []check.Key{{Bucket: poolBucket(name)}}, "pool %q: %v", name, err)
			return nil
		}
		return err
	}
	if used := p.Max - p.Min + 1 - free; used != p.Used {
		add("pool-counter", repairPool(name), []check.Key{key},
			"pool %q: its counter says %d values taken, a recount finds %d", name, p.Used, used)
	}
	return nil
}

// poolFree counts a pool's free values from its ranges.
func poolFree(tx backends.Tx, name string, p Pool) (uint64, error) {
	var free uint64
	err := tx.Ascend(poolBucket(name), nil, func(k, v []byte) (bool, error) {
		s, e, err := decodeRange(k, v)
		if err != nil {
			return false, err
		}
		if s.hi != 0 || e.hi != 0 || s.lo < p.Min || e.lo > p.Max || s.lo > e.lo {
			return false, errdefs.Errorf(ErrCorrupt, "ipam: pool %q: free range %d-%d lies outside %d..%d", name, s.lo, e.lo, p.Min, p.Max)
		}
		free += e.lo - s.lo + 1
		return true, nil
	})
	return free, err
}

func repairPool(name string) func(tx backends.Tx) error {
	return func(tx backends.Tx) error {
		p, err := GetPool(tx, name)
		if err != nil {
			return err
		}
		free, err := poolFree(tx, name, p)
		if err != nil {
			return err
		}
		p.Used = p.Max - p.Min + 1 - free
		return tx.Put(bucketPools, []byte(name), p.encode())
	}
}

// IsTaken reports whether address a of prefix p is taken: reserved, or not
// in any free range. It costs one seek.
func IsTaken(tx backends.Tx, p netip.Prefix, a netip.Addr) (bool, error) {
	sp, _, u, ok, err := loadAddr(tx, p, a, nil)
	if err != nil {
		return false, err
	}
	if ok {
		return true, nil // reserved
	}
	s, e, found, err := sp.ips(tx).seek(numKey(u), false)
	if err != nil {
		return false, err
	}
	return !(found && s.cmp(u) <= 0 && e.cmp(u) >= 0), nil
}

// EachTaken calls fn, in address order from from on (the prefix's first
// address when from is not valid), with every taken address of prefix p
// that is not reserved, until fn returns false or an error: the gaps
// between the free ranges. It reads the free ranges once.
func EachTaken(tx backends.Tx, p netip.Prefix, from netip.Addr, fn func(a netip.Addr) (bool, error)) error {
	sp, _, err := loadRecord(tx, p, nil)
	if err != nil {
		return err
	}
	lo, hi, usable := sp.usable()
	if !usable {
		return nil
	}
	cur := lo
	if from.IsValid() {
		if f := addrToU(from); f.cmp(cur) > 0 {
			cur = f
		}
	}
	// emit calls fn for cur..last, both included.
	emit := func(last u128) (bool, error) {
		for cur.cmp(last) <= 0 {
			more, err := fn(sp.addr(cur))
			if err != nil || !more || cur == last {
				return more && err == nil, err
			}
			cur = cur.inc()
		}
		return true, nil
	}
	start := numKey(cur)
	if s, e, found, err := sp.ips(tx).seek(start, false); err != nil {
		return err
	} else if found && e.cmp(cur) >= 0 && s.cmp(cur) <= 0 {
		if e == hi {
			return nil
		}
		cur = e.inc()
	}
	done := false
	err = tx.Ascend(ipBucket(p), numKey(cur), func(k, v []byte) (bool, error) {
		s, e, err := decodeRange(k, v)
		if err != nil {
			return false, err
		}
		if s.cmp(cur) > 0 {
			more, err := emit(s.dec())
			if err != nil || !more {
				done = true
				return false, err
			}
		}
		if e == hi {
			done = true
			return false, nil
		}
		cur = e.inc()
		return true, nil
	})
	if err != nil || done {
		return err
	}
	_, err = emit(hi)
	return err
}

// EachTakenInt calls fn, in ascending order, with every taken value of pool
// name until fn returns false or an error: the gaps between its free
// ranges.
func EachTakenInt(tx backends.Tx, name string, fn func(v uint64) (bool, error)) error {
	p, err := GetPool(tx, name)
	if err != nil {
		return err
	}
	// emit calls fn for from..to, both included; false stops the walk.
	emit := func(from, to uint64) (bool, error) {
		for v := from; v <= to; v++ {
			if more, err := fn(v); err != nil || !more {
				return false, err
			}
			if v == to {
				break
			}
		}
		return true, nil
	}
	cur, end := p.Min, false
	stopped := false
	err = tx.Ascend(poolBucket(name), nil, func(k, v []byte) (bool, error) {
		s, e, err := decodeRange(k, v)
		if err != nil {
			return false, err
		}
		if s.lo > cur {
			more, err := emit(cur, s.lo-1)
			if err != nil || !more {
				stopped = true
				return false, err
			}
		}
		if e.lo >= p.Max {
			end = true
			return false, nil
		}
		cur = e.lo + 1
		return true, nil
	})
	if err != nil || stopped || end {
		return err
	}
	_, err = emit(cur, p.Max)
	return err
}
