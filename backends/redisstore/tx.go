package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/btree"
	"github.com/redis/go-redis/v9"

	"github.com/metalkit/metalkit/backends"
)

var _ backends.Prefetcher = (*tx)(nil)

// mode says how an attempt reads.
type mode int

const (
	// modeWatch: every step WATCHes what it reads before reading it.
	modeWatch mode = iota
	// modeProbe: a View before its first read; a lone Get goes unwatched
	// and becomes the probe, and the attempt continues in modeWatch.
	modeProbe
	// modeSnapshot: a View that ran again and read everything its
	// previous run read in one unwatched step; a further read taints the
	// attempt, which then runs again with the larger read set.
	modeSnapshot
)

// tx is one attempt of a transaction. It is used by one goroutine.
type tx struct {
	s        *Store
	rtx      *redis.Tx
	ctx      context.Context
	readOnly bool
	done     bool
	mode     mode
	// armed is set while keys WATCHed by this tx have not been released by
	// an EXEC or UNWATCH; finish sends UNWATCH then.
	armed bool
	// steps counts the atomic reads whose results fn may have used; a step
	// that re-reads the probe replaces the probe's own step. With more
	// than one, the reads must be validated by EXEC.
	steps int
	// probe is the first read of a View, sent without WATCH: a single
	// read needs no validation. The next step re-reads it under WATCH;
	// if the value changed meanwhile, tainted is set and fn runs again.
	probe   *probe
	tainted bool
	// failed is the first failure of a read: the attempt's result,
	// whatever fn returns.
	failed   error
	watched  map[string]struct{} // value keys (and the registry) WATCHed
	buckets  map[string]*bucket
	registry *registryRead
	overlay  map[string]*btree.BTreeG[entry]
	// inserts are the Inserts whose keys the commit checks to be absent.
	inserts []insertion
	log     readLog
}

var errTxDone = errors.New("redisstore: transaction used after its function returned")

// attempt runs fn once on a connection of its own and commits or validates
// the result. It returns errRetry on a conflict, together with what fn
// read, for the next attempt to fetch in one step.
func (s *Store) attempt(ctx context.Context, fn func(backends.Tx) error, readOnly bool, replay *readLog) (*readLog, error) {
	ran := false
	var t *tx
	err := s.watch(ctx, func(rtx *redis.Tx) error {
		ran = true
		t = &tx{s: s, rtx: rtx, ctx: ctx, readOnly: readOnly}
		if readOnly {
			t.mode = modeProbe
		}
		defer t.finish()
		if replay != nil && !replay.empty() {
			t.replay(replay)
			if t.failed != nil {
				return t.failed
			}
		}
		if err := fn(t); err != nil {
			// fn's error may come from reads that were never consistent:
			// find out before returning it.
			t.done = true
			if terr := t.trust(); terr != nil {
				return terr
			}
			return err
		}
		t.done = true
		if readOnly || len(t.overlay) == 0 {
			return t.trust()
		}
		// EXEC of the commit validates the reads.
		switch {
		case t.failed != nil:
			return t.failed
		case t.tainted:
			return errRetry
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("redisstore: transaction not committed: %w", err)
		}
		return t.commit(context.WithoutCancel(ctx))
	})
	if err != nil && !ran {
		return nil, failure("start transaction", err)
	}
	if t == nil {
		return nil, err
	}
	return &t.log, err
}

// trust returns nil when what the attempt read is consistent (validating
// it if that takes an EXEC), errRetry when it is not, and an error wrapping
// backends.ErrUnavailable when a read failed or the validation could not be
// done. Without writes to commit, an attempt that read in one step only
// releases its watches.
func (t *tx) trust() error {
	switch {
	case t.failed != nil:
		return t.failed
	case t.tainted:
		return errRetry
	case t.steps > 1:
		return t.validate(t.ctx)
	}
	return nil
}

// finish releases the WATCHes of an attempt that did not reach EXEC (fn
// failed or panicked, a read failed, or nothing needed validation), so that
// the pooled connection is returned clean.
func (t *tx) finish() {
	t.done = true
	if t.armed {
		t.armed = false
		_ = t.rtx.Unwatch(context.WithoutCancel(t.ctx)).Err()
	}
}

// fail records the first failure of a read and returns it.
func (t *tx) fail(what string, err error) error {
	err = failure(what, err)
	if t.failed == nil {
		t.failed = err
	}
	return err
}

// exec sends MULTI, the queued commands and EXEC. It returns errRetry when a
// watched key changed.
func (t *tx) exec(ctx context.Context, what string, queue func(p redis.Pipeliner)) error {
	_, err := t.rtx.TxPipelined(ctx, func(p redis.Pipeliner) error {
		queue(p)
		return nil
	})
	if err == nil || errors.Is(err, redis.TxFailedErr) || redis.IsExecAbortError(err) {
		t.armed = false // EXEC ran and released the watched keys
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.TxFailedErr):
		return errRetry
	default:
		return failure(what, err)
	}
}

// validate checks with an empty transaction that nothing this tx read has
// changed.
func (t *tx) validate(ctx context.Context) error {
	return t.exec(ctx, "validate the reads", func(p redis.Pipeliner) {
		// An empty MULTI/EXEC is not sent by go-redis; PING is harmless.
		p.Ping(ctx)
	})
}

// commit writes the overlay in one MULTI/EXEC. A bucket the commit only
// deletes from may become empty: a script drops its version key and its
// registry entry then (Redis has dropped the empty index already), or counts
// the write otherwise. A bucket that gains a key cannot become empty and
// needs no script. A transaction with Inserts to check commits with
// commitChecked instead.
func (t *tx) commit(ctx context.Context) error {
	if len(t.inserts) > 0 {
		return t.commitChecked(ctx)
	}
	return t.exec(ctx, "commit (its outcome is unknown)", func(p redis.Pipeliner) {
		t.eachBucketWrite(func(w bucketWrite) {
			if len(w.del) > 0 {
				p.Del(ctx, w.del...)
				p.ZRem(ctx, w.bk.index, w.zrem...)
			}
			if len(w.mset) > 0 {
				p.MSet(ctx, w.mset...)
				p.ZAdd(ctx, w.bk.index, w.zadd...)
				p.Incr(ctx, w.bk.version)
				if !w.bk.exists {
					// A bucket the transaction saw holding a key is in the
					// registry already.
					p.ZAdd(ctx, t.s.registry, redis.Z{Member: w.bk.name})
				}
				return
			}
			settleBucket.Eval(ctx, p, []string{w.bk.index, w.bk.version, t.s.registry}, w.bk.name)
		})
	})
}

// bucketWrite is what a commit does to one bucket: the value keys to set
// (mset: key, value, key, value, ...) with their index members (zadd), and
// the value keys to delete (del) with their index members (zrem).
type bucketWrite struct {
	bk   *bucket
	mset []any
	zadd []redis.Z
	del  []string
	zrem []any
}

// eachBucketWrite calls fn with the writes of each bucket in the overlay.
func (t *tx) eachBucketWrite(fn func(bucketWrite)) {
	for name, tree := range t.overlay {
		w := bucketWrite{bk: t.bucket(name)}
		tree.Ascend(func(e entry) bool {
			vk := w.bk.value + string(e.key)
			if e.del {
				w.del = append(w.del, vk)
				w.zrem = append(w.zrem, e.key)
			} else {
				w.mset = append(w.mset, vk, e.val)
				w.zadd = append(w.zadd, redis.Z{Member: e.key})
			}
			return true
		})
		fn(w)
	}
}

// settleBucket runs at the end of a commit for a bucket the commit only
// deleted keys from. KEYS: index, version, registry; ARGV: the bucket name.
var settleBucket = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCR', KEYS[2])
else
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return 0`)

// entry is one write buffered in a transaction's overlay, or one key and
// value read from Redis.
type entry struct {
	key []byte
	val []byte
	del bool
}

func entryLess(a, b entry) bool { return bytes.Compare(a.key, b.key) < 0 }

const treeDegree = 16

// bucket holds the Redis keys of one bucket and what the attempt knows of
// its content in Redis.
type bucket struct {
	name    string
	value   string // prefix of the value keys
	index   string // sorted set of the keys
	version string // write counter
	watched bool   // version and index are WATCHed in this attempt
	remote         // what was read
}

func (t *tx) bucket(name string) *bucket {
	if b, ok := t.buckets[name]; ok {
		return b
	}
	if t.buckets == nil {
		t.buckets = make(map[string]*bucket)
	}
	n := strconv.Itoa(len(name))
	p := t.s.prefix
	b := &bucket{
		name:    name,
		value:   p + "v:" + n + ":" + name + ":",
		index:   p + "i:" + n + ":" + name,
		version: p + "n:" + n + ":" + name,
	}
	t.buckets[name] = b
	return b
}

func notFound(bucket string, key []byte) error {
	return fmt.Errorf("redisstore: bucket %q key %x: %w", bucket, key, backends.ErrNotFound)
}

func (t *tx) usable() error {
	if t.done {
		return errTxDone
	}
	return nil
}

// Get implements backends.Tx. The first read of a key costs one round trip
// (WATCH and GET pipelined); a key read before, or inside a range a scan or
// a Prefetch has read, is answered from memory.
func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	if err := backends.CheckKey(bucket, key); err != nil {
		return nil, err
	}
	if err := t.usable(); err != nil {
		return nil, err
	}
	if e, ok := t.written(bucket, key); ok {
		if e.del {
			return nil, notFound(bucket, key)
		}
		return bytes.Clone(e.val), nil
	}
	b := t.bucket(bucket)
	t.log.get(bucket, key)
	v, found, known := b.lookup(key)
	if !known {
		op := &readOp{kind: opGet, b: b, key: bytes.Clone(key)}
		if err := t.read(op); err != nil {
			return nil, err
		}
		v, found = op.val, op.found
	}
	if !found {
		return nil, notFound(bucket, key)
	}
	return bytes.Clone(v), nil
}

// Prefetch implements backends.Prefetcher: the reads that are not answered
// from memory already travel in one step.
func (t *tx) Prefetch(reads []backends.Read) error {
	for _, r := range reads {
		if err := backends.CheckRead(r); err != nil {
			return err
		}
	}
	if err := t.usable(); err != nil {
		return err
	}
	var ops []*readOp
	for _, r := range reads {
		b := t.bucket(r.Bucket)
		if r.Limit == 0 {
			if _, _, known := b.lookup(r.Key); !known {
				ops = append(ops, &readOp{kind: opGet, b: b, key: bytes.Clone(r.Key)})
			}
			continue
		}
		op := newScanOp(b, r.Key, r.Desc, min(r.Limit, maxStepKeys))
		if !b.covers(op) {
			ops = append(ops, op)
		}
	}
	return t.read(ops...)
}

// writable checks a write of key to bucket before it is buffered.
func (t *tx) writable(bucket string, key []byte) error {
	if err := backends.CheckKey(bucket, key); err != nil {
		return err
	}
	if err := t.usable(); err != nil {
		return err
	}
	if t.readOnly {
		return backends.ErrReadOnly
	}
	return nil
}

func (t *tx) write(bucket string, key, value []byte, del bool) error {
	if err := t.writable(bucket, key); err != nil {
		return err
	}
	t.buffer(bucket, key, value, del)
	return nil
}

// written returns the transaction's own write of key in bucket, if any.
func (t *tx) written(bucket string, key []byte) (entry, bool) {
	if tree := t.overlay[bucket]; tree != nil {
		return tree.Get(entry{key: key})
	}
	return entry{}, false
}

// buffer puts a checked write into the overlay.
func (t *tx) buffer(bucket string, key, value []byte, del bool) {
	tree := t.overlay[bucket]
	if tree == nil {
		if t.overlay == nil {
			t.overlay = make(map[string]*btree.BTreeG[entry])
		}
		tree = btree.NewG(treeDegree, entryLess)
		t.overlay[bucket] = tree
	}
	e := entry{key: bytes.Clone(key), del: del}
	if !del {
		e.val = make([]byte, len(value))
		copy(e.val, value)
	}
	tree.ReplaceOrInsert(e)
}

// Put implements backends.Tx. The write is buffered until the commit.
func (t *tx) Put(bucket string, key, value []byte) error {
	return t.write(bucket, key, value, false)
}

// Delete implements backends.Tx. The delete is buffered until the commit.
func (t *tx) Delete(bucket string, key []byte) error {
	return t.write(bucket, key, nil, true)
}
