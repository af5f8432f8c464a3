// Package redisstore is the Redis backends.Store: one store shared by many
// processes through a Redis server (standalone, Sentinel or Cluster).
//
// # Transactions
//
// Transactions are optimistic. A transaction WATCHes every key before it
// reads it (the WATCH travels in the same pipeline as the read, so it costs
// no extra round trip), keeps its own writes in an ordered in-memory overlay
// (so Get and scans see them), and commits them all at once with MULTI/EXEC.
// When EXEC reports that a watched key changed, fn is run again after a
// jittered exponential backoff, up to Options.MaxRetries times, and then
// the transaction fails with an error wrapping backends.ErrConflict. Views
// run the same way and end with an empty MULTI/EXEC that proves nothing
// they read changed, so a View never sees half of another transaction. A
// View's first Get is sent without WATCH, because one GET is consistent on
// its own: a View that reads one key costs one round trip. Should the View
// read more, the next round trip re-reads that key under WATCH and runs fn
// again if it changed in between.
//
// Round trips: each first Get of a key is one (WATCH and GET pipelined; a
// repeated Get, or a Get of a key a scan returned, is answered from
// memory), a scan costs one plus one per batch of keys (the values of one
// batch and the keys of the next travel together), and the commit (or the validation of a View that read
// more than one key) is one MULTI/EXEC. Writes cost nothing until the
// commit.
//
// # Key layout
//
// With the key prefix P (Options.KeyPrefix, "metalkit" by default) and a
// bucket B of n bytes (n written in decimal), a store uses these keys:
//
//	{P}:v:<n>:<B>:<key>   string: the value stored under key in B
//	{P}:i:<n>:<B>         sorted set: every key of B as a member, all with
//	                      score 0, so ZRANGEBYLEX orders them bytewise
//	{P}:n:<n>:<B>         integer: B's version, INCRed by every commit that
//	                      writes to B
//	{P}:b                 sorted set: the name of every bucket that holds a
//	                      key, for Tx.Buckets
//	{P}:a                 never written; on a Redis Cluster, WATCHed first
//	                      so that the transaction runs on the right node
//
// A bucket's keys exist exactly while it holds a key: Redis drops an empty
// sorted set by itself, and a commit that empties a bucket deletes its
// version key and registry entry in the same MULTI/EXEC (a small Lua script
// decides, because only the server knows at EXEC time whether the index is
// empty). Deleting the version key, like incrementing it, fails every
// transaction that WATCHed it.
//
// The length prefix keeps bucket names apart: "a" with key "b:c" and "a:b"
// with key "c" map to {P}:v:1:a:b:c and {P}:v:3:a:b:c. The one-letter
// kinds keep the three families of keys apart. Keys and bucket names are
// binary; Redis compares sorted-set members bytewise, as bytes.Compare does.
//
// Every key under {P} belongs to the store. Changing them by other means is
// not supported: a concurrent store notices only writes that INCR the
// bucket's version, and a key of the wrong type makes a commit fail halfway
// (Redis does not roll back a MULTI/EXEC whose command fails at run time).
//
// Why string keys and a sorted set rather than one hash per bucket: WATCH
// works on whole keys, so one key per value lets transactions that read
// different keys of one bucket commit concurrently; the sorted set gives
// ordered, batched iteration without scanning the keyspace (no KEYS or
// SCAN); and the version key lets a scan be protected by one WATCH instead
// of one per key it passed.
//
// Reading a key WATCHes its value key. Scanning a bucket reads the sorted
// set with ZRANGEBYLEX (or ZREVRANGEBYLEX) in batches and the values with
// MGET, and WATCHes the bucket's version and index instead of every key, so
// a transaction that scanned a bucket conflicts with any concurrent write to
// that bucket (the contract in package backends allows this; domain packages
// choose small buckets for it).
//
// # Hash tag and Redis Cluster
//
// The braces make P the hash tag of every key: Redis Cluster puts all keys
// of one store in one hash slot, which is what allows a WATCH and a
// MULTI/EXEC over several of them. The trade-off is that one store lives on
// one shard: a cluster spreads different stores (different prefixes), not
// the data of one store. The prefix must not contain braces, which would
// change the tag.
//
// A cluster client must know the slot before a transaction starts, so with
// a *redis.ClusterClient (or a *redis.Ring) every transaction first WATCHes
// {P}:a, one extra round trip; with a *redis.Client it is skipped. A
// transaction that meets a MOVED reply while the slot migrates fails with
// that error; it is not retried.
package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/btree"
	"github.com/redis/go-redis/v9"

	"github.com/metalkit/metalkit/backends"
)

var _ backends.Store = (*Store)(nil)

// Defaults used for the zero fields of Options.
const (
	// DefaultKeyPrefix is the key prefix (and hash tag) of a store whose
	// Options.KeyPrefix is empty.
	DefaultKeyPrefix = "metalkit"
	// DefaultMaxRetries is the number of re-runs of a conflicting
	// transaction when Options.MaxRetries is 0.
	DefaultMaxRetries = 64
	// DefaultMinBackoff is the first backoff after a conflict.
	DefaultMinBackoff = time.Millisecond
	// DefaultMaxBackoff caps the backoff between retries.
	DefaultMaxBackoff = 100 * time.Millisecond
	// DefaultScanBatch is the number of keys a scan reads per round trip
	// once it is under way.
	DefaultScanBatch = 256
)

// firstScanBatch is the size of a scan's first batch: most scans of the
// domain packages stop after a few keys, so the first batch is small.
const firstScanBatch = 32

// Options configure a Store. A nil *Options, like every zero field, selects
// the defaults.
type Options struct {
	// KeyPrefix names the store inside the Redis keyspace and is its hash
	// tag: every key of the store starts with "{KeyPrefix}". Stores with
	// different prefixes on one server are independent. It must not
	// contain '{' or '}'. Empty means DefaultKeyPrefix.
	KeyPrefix string

	// MaxRetries is how often a transaction that conflicted with a
	// concurrent writer is run again before View or Update give up with
	// an error wrapping backends.ErrConflict. 0 means DefaultMaxRetries; a
	// negative value disables retries (the first conflict is returned).
	MaxRetries int

	// MinBackoff and MaxBackoff bound the pause before a retry. The pause
	// before retry r is drawn uniformly from [d/2, d) with
	// d = min(MaxBackoff, MinBackoff * 2^r), so that conflicting writers
	// spread out. Zero means DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration

	// ScanBatch is the number of keys an Ascend or Descend fetches per
	// round trip after its first (smaller) batch. 0 means
	// DefaultScanBatch.
	ScanBatch int
}

// Store is a backends.Store kept in Redis. It is safe for concurrent use by
// many goroutines and, through the Redis server, by many processes that use
// the same KeyPrefix.
type Store struct {
	client     redis.UniversalClient
	prefix     string   // "{P}:"
	registry   string   // "{P}:b", the sorted set of bucket names
	anchor     []string // keys passed to client.Watch; none for a *redis.Client
	maxRetries int
	minBackoff time.Duration
	maxBackoff time.Duration
	batch      int
	closed     atomic.Bool
}

// New returns a store that keeps its data in Redis through client.
//
// The store does not own client: Close leaves it open, and the caller
// closes it after the store. client may be a *redis.Client (standalone or
// Sentinel failover), a *redis.ClusterClient or a *redis.Ring; with a Ring
// or a cluster, all keys of the store hash to one shard (see the package
// documentation). New does not contact the server.
func New(client redis.UniversalClient, opts *Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if strings.ContainsAny(o.KeyPrefix, "{}") {
		return nil, fmt.Errorf("redisstore: key prefix %q contains a brace, which would break the hash tag", o.KeyPrefix)
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MinBackoff < 0 || o.MaxBackoff < o.MinBackoff {
		return nil, fmt.Errorf("redisstore: invalid backoff range [%v, %v]", o.MinBackoff, o.MaxBackoff)
	}
	if o.ScanBatch == 0 {
		o.ScanBatch = DefaultScanBatch
	}
	if o.ScanBatch < 0 {
		return nil, fmt.Errorf("redisstore: negative scan batch %d", o.ScanBatch)
	}
	s := &Store{
		client:     client,
		prefix:     "{" + o.KeyPrefix + "}:",
		registry:   "{" + o.KeyPrefix + "}:b",
		maxRetries: o.MaxRetries,
		minBackoff: o.MinBackoff,
		maxBackoff: o.MaxBackoff,
		batch:      o.ScanBatch,
	}
	if _, ok := client.(*redis.Client); !ok {
		// A cluster client (and a ring) must know the slot before the
		// transaction starts; it learns it from the first watched key. A
		// plain client needs none, which saves a round trip.
		s.anchor = []string{s.prefix + "a"}
	}
	return s, nil
}

// View runs fn in a read-only transaction (see backends.Store.View). The
// keys fn reads are WATCHed and the reads are validated with an empty
// MULTI/EXEC when fn returns (a View with a single Get needs neither); if
// another transaction changed something fn read, fn runs again (up to
// Options.MaxRetries times, then View returns an error wrapping
// backends.ErrConflict). fn may therefore run more than once and must have
// no effect outside the Tx. View returns fn's error unchanged unless what fn
// read turns out to have changed meanwhile, in which case fn runs again,
// since its error may stem from the inconsistent reads.
func (s *Store) View(ctx context.Context, fn func(backends.Tx) error) error {
	return s.run(ctx, fn, true)
}

// Update runs fn in a read-write transaction (see backends.Store.Update).
// Reads are WATCHed, writes are buffered in the Tx and committed together
// with MULTI/EXEC when fn returns nil. If another transaction changed a key
// fn read (or wrote to a bucket fn scanned) before the commit, nothing is
// written and fn runs again after a jittered backoff, up to
// Options.MaxRetries times; then Update returns an error wrapping
// backends.ErrConflict. fn may therefore run more than once and must have
// no side effect outside the Tx.
//
// When fn returns an error or panics, nothing is written. A ctx that is done
// before the commit starts commits nothing; once the commit has been sent it
// is not interrupted by ctx (the client's own timeouts bound it), so a nil
// result always means committed. A network failure during EXEC leaves the
// outcome unknown and is returned as an error.
func (s *Store) Update(ctx context.Context, fn func(backends.Tx) error) error {
	return s.run(ctx, fn, false)
}

// Close marks the store closed: later View and Update calls return
// backends.ErrClosed, and a second Close does too. Close does not close the
// Redis client passed to New, which belongs to the caller, and does not wait
// for transactions that are running.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return backends.ErrClosed
	}
	return nil
}

// errRetry reports, inside this package, that a transaction attempt
// conflicted and should run again.
var errRetry = errors.New("redisstore: conflict")

// failure wraps an error of the Redis client: a done context stays what it
// is, everything else (a lost connection, a timeout, an error reply) is
// reported as backends.ErrUnavailable, never as a missing key.
func failure(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redisstore: %s: %w", what, err)
	}
	return fmt.Errorf("redisstore: %s: %w: %w", what, backends.ErrUnavailable, err)
}

func (s *Store) run(ctx context.Context, fn func(backends.Tx) error, readOnly bool) error {
	op := "update"
	if readOnly {
		op = "view"
	}
	for attempt := 0; ; attempt++ {
		if s.closed.Load() {
			return backends.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			if attempt == 0 {
				return err
			}
			return fmt.Errorf("redisstore: %s not committed after %d conflicts: %w", op, attempt, err)
		}
		err := s.attempt(ctx, fn, readOnly)
		if err != errRetry {
			return err
		}
		if attempt >= s.maxRetries {
			return fmt.Errorf("redisstore: %s conflicted %d times: %w", op, attempt+1, backends.ErrConflict)
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return fmt.Errorf("redisstore: %s not committed after %d conflicts: %w", op, attempt+1, err)
		}
	}
}

// backoff sleeps before retry number attempt+1, or returns early with
// ctx's error.
func (s *Store) backoff(ctx context.Context, attempt int) error {
	d := s.minBackoff
	for i := 0; i < attempt && d < s.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.maxBackoff)
	if d <= 0 {
		return nil
	}
	half := d / 2
	d = half + rand.N(d-half)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attempt runs fn once on a connection of its own and commits or validates
// the result. It returns errRetry on a conflict.
func (s *Store) attempt(ctx context.Context, fn func(backends.Tx) error, readOnly bool) error {
	ran := false
	err := s.client.Watch(ctx, func(rtx *redis.Tx) error {
		ran = true
		t := &tx{s: s, rtx: rtx, ctx: ctx, readOnly: readOnly}
		defer t.finish()
		if err := fn(t); err != nil {
			// fn's error may come from reads that were never consistent;
			// run fn again if so.
			if t.tainted || t.armed && t.validate(ctx) == errRetry {
				return errRetry
			}
			return err
		}
		t.done = true
		if t.tainted {
			return errRetry
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("redisstore: transaction not committed: %w", err)
		}
		if readOnly || len(t.overlay) == 0 {
			if !t.armed {
				return nil
			}
			return t.validate(ctx)
		}
		return t.commit(context.WithoutCancel(ctx))
	}, s.anchor...)
	if err != nil && !ran {
		return failure("start transaction", err)
	}
	return err
}

// entry is one write buffered in a transaction's overlay.
type entry struct {
	key []byte
	val []byte
	del bool
}

func entryLess(a, b entry) bool { return bytes.Compare(a.key, b.key) < 0 }

// cached is a value read from Redis in this transaction (or its absence).
type cached struct {
	val   []byte
	found bool
}

func (c cached) equal(o cached) bool {
	return c.found == o.found && bytes.Equal(c.val, o.val)
}

// probe is a read to verify: the value key and what fn was given.
type probe struct {
	vk  string
	c   cached
	get *redis.StringCmd
}

// bucketKeys are the Redis keys of one bucket.
type bucketKeys struct {
	value   string // prefix of the value keys
	index   string // sorted set of the keys
	version string // write counter
	watched bool   // version and index are WATCHed in this transaction
}

const overlayDegree = 16

// tx is one attempt of a transaction. It is used by one goroutine.
type tx struct {
	s        *Store
	rtx      *redis.Tx
	ctx      context.Context
	readOnly bool
	done     bool
	// armed is set while keys WATCHed by this tx have not been released by
	// an EXEC; finish sends UNWATCH then.
	armed bool
	// remote is set once anything was read from Redis.
	remote bool
	// unverified is the first read of a View, sent without WATCH: a single
	// read needs no validation. The next read from Redis re-reads it under
	// WATCH; if the value changed meanwhile, tainted is set and fn runs
	// again.
	unverified *probe
	tainted    bool
	buckets    map[string]*bucketKeys
	cache      map[string]cached
	overlay    map[string]*btree.BTreeG[entry]
}

var errTxDone = errors.New("redisstore: transaction used after its function returned")

func (t *tx) keys(bucket string) *bucketKeys {
	if bk, ok := t.buckets[bucket]; ok {
		return bk
	}
	if t.buckets == nil {
		t.buckets = make(map[string]*bucketKeys)
	}
	n := strconv.Itoa(len(bucket))
	p := t.s.prefix
	bk := &bucketKeys{
		value:   p + "v:" + n + ":" + bucket + ":",
		index:   p + "i:" + n + ":" + bucket,
		version: p + "n:" + n + ":" + bucket,
	}
	t.buckets[bucket] = bk
	return bk
}

// finish releases the WATCHes of an attempt that did not reach EXEC (fn
// failed or panicked, or a read failed), so that the pooled connection is
// returned clean.
func (t *tx) finish() {
	t.done = true
	if t.armed {
		t.armed = false
		_ = t.rtx.Unwatch(context.WithoutCancel(t.ctx)).Err()
	}
}

// exec sends MULTI, the queued commands and EXEC. It returns errRetry when a
// watched key changed.
func (t *tx) exec(ctx context.Context, queue func(p redis.Pipeliner)) error {
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
		return failure("exec", err)
	}
}

// validate checks with an empty transaction that nothing this tx read has
// changed.
func (t *tx) validate(ctx context.Context) error {
	return t.exec(ctx, func(p redis.Pipeliner) {
		// An empty MULTI/EXEC is not sent by go-redis; PING is harmless.
		p.Ping(ctx)
	})
}

func (t *tx) commit(ctx context.Context) error {
	return t.exec(ctx, func(p redis.Pipeliner) {
		for bucket, tree := range t.overlay {
			bk := t.keys(bucket)
			var (
				mset []any
				zadd []redis.Z
				del  []string
				zrem []any
			)
			tree.Ascend(func(e entry) bool {
				vk := bk.value + string(e.key)
				if e.del {
					del = append(del, vk)
					zrem = append(zrem, e.key)
				} else {
					mset = append(mset, vk, e.val)
					zadd = append(zadd, redis.Z{Member: e.key})
				}
				return true
			})
			if len(mset) > 0 {
				p.MSet(ctx, mset...)
				p.ZAdd(ctx, bk.index, zadd...)
			}
			if len(del) == 0 {
				p.Incr(ctx, bk.version)
				p.ZAdd(ctx, t.s.registry, redis.Z{Member: bucket})
				continue
			}
			p.Del(ctx, del...)
			p.ZRem(ctx, bk.index, zrem...)
			// The bucket may be empty now: the script drops its version key
			// and its registry entry then (Redis has dropped the empty
			// index already), or counts the write otherwise.
			settleBucket.Eval(ctx, p, []string{bk.index, bk.version, t.s.registry}, bucket)
		}
	})
}

// settleBucket runs at the end of a commit for a bucket the commit deleted
// keys from. KEYS: index, version, registry; ARGV: the bucket name.
var settleBucket = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[3], 0, ARGV[1])
else
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return 0`)

func notFound(bucket string, key []byte) error {
	return fmt.Errorf("redisstore: bucket %q key %x: %w", bucket, key, backends.ErrNotFound)
}

// Get implements backends.Tx. The first read of a key costs one round trip
// (WATCH and GET pipelined); later reads of it in the same transaction are
// answered from memory.
func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	if err := backends.CheckKey(bucket, key); err != nil {
		return nil, err
	}
	if t.done {
		return nil, errTxDone
	}
	if tree := t.overlay[bucket]; tree != nil {
		if e, ok := tree.Get(entry{key: key}); ok {
			if e.del {
				return nil, notFound(bucket, key)
			}
			return bytes.Clone(e.val), nil
		}
	}
	bk := t.keys(bucket)
	vk := bk.value + string(key)
	c, ok := t.cache[vk]
	if !ok {
		// The first read of a View goes without WATCH (see unverified).
		first := t.readOnly && !t.remote
		p := t.rtx.Pipeline()
		verify := t.queueVerify(p)
		var watch *redis.StatusCmd
		if !bk.watched && !first {
			// Inside a scanned bucket the version key already covers the
			// value; elsewhere the key itself is watched.
			watch = redis.NewStatusCmd(t.ctx, "watch", vk)
			_ = p.Process(t.ctx, watch)
			t.armed = true
		}
		get := p.Get(t.ctx, vk)
		_, _ = p.Exec(t.ctx)
		t.remote = true
		if err := t.checkVerify(verify); err != nil {
			return nil, err
		}
		if watch != nil && watch.Err() != nil {
			return nil, failure(fmt.Sprintf("watch bucket %q key %x", bucket, key), watch.Err())
		}
		var err error
		if c, err = result(get); err != nil {
			return nil, failure(fmt.Sprintf("get bucket %q key %x", bucket, key), err)
		}
		t.remember(vk, c)
		if first {
			t.unverified = &probe{vk: vk, c: c}
		}
	}
	if !c.found {
		return nil, notFound(bucket, key)
	}
	return bytes.Clone(c.val), nil
}

// result converts the reply of a GET.
func result(get *redis.StringCmd) (cached, error) {
	v, err := get.Bytes()
	switch {
	case err == nil:
		return cached{val: v, found: true}, nil
	case errors.Is(err, redis.Nil):
		return cached{}, nil
	default:
		return cached{}, err
	}
}

// queueVerify adds WATCH and GET of the unverified first read to p.
func (t *tx) queueVerify(p redis.Pipeliner) *probe {
	pr := t.unverified
	if pr == nil {
		return nil
	}
	t.unverified = nil
	_ = p.Process(t.ctx, redis.NewStatusCmd(t.ctx, "watch", pr.vk))
	t.armed = true
	pr.get = p.Get(t.ctx, pr.vk)
	return pr
}

// checkVerify compares the re-read of the first read with what fn got.
func (t *tx) checkVerify(pr *probe) error {
	if pr == nil {
		return nil
	}
	c, err := result(pr.get)
	if err != nil {
		return failure(fmt.Sprintf("re-read %q", pr.vk), err)
	}
	if !c.equal(pr.c) {
		t.tainted = true
	}
	return nil
}

func (t *tx) remember(vk string, c cached) {
	if t.cache == nil {
		t.cache = make(map[string]cached)
	}
	t.cache[vk] = c
}

func (t *tx) write(bucket string, key, value []byte, del bool) error {
	if err := backends.CheckKey(bucket, key); err != nil {
		return err
	}
	if t.done {
		return errTxDone
	}
	if t.readOnly {
		return backends.ErrReadOnly
	}
	tree := t.overlay[bucket]
	if tree == nil {
		if t.overlay == nil {
			t.overlay = make(map[string]*btree.BTreeG[entry])
		}
		tree = btree.NewG(overlayDegree, entryLess)
		t.overlay[bucket] = tree
	}
	e := entry{key: bytes.Clone(key), del: del}
	if !del {
		e.val = make([]byte, len(value))
		copy(e.val, value)
	}
	tree.ReplaceOrInsert(e)
	return nil
}

// Put implements backends.Tx. The write is buffered until the commit.
func (t *tx) Put(bucket string, key, value []byte) error {
	return t.write(bucket, key, value, false)
}

// Delete implements backends.Tx. The delete is buffered until the commit.
func (t *tx) Delete(bucket string, key []byte) error {
	return t.write(bucket, key, nil, true)
}

// Ascend implements backends.Tx.
func (t *tx) Ascend(bucket string, from []byte, fn func(key, value []byte) (bool, error)) error {
	return t.scan(bucket, from, false, fn)
}

// Descend implements backends.Tx.
func (t *tx) Descend(bucket string, from []byte, fn func(key, value []byte) (bool, error)) error {
	return t.scan(bucket, from, true, fn)
}

// Buckets implements backends.Tx. It WATCHes the registry of bucket names
// and reads it in batches; a bucket this transaction wrote to is checked by
// reading its first key, so that the listing includes the transaction's own
// writes. Any commit that creates or empties a bucket after the listing
// started makes the transaction run again.
func (t *tx) Buckets(from string, fn func(name string) (bool, error)) error {
	if t.done {
		return errTxDone
	}
	names, err := t.registryNames(from)
	if err != nil {
		return err
	}
	for name := range t.overlay {
		if name >= from {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, name := range names {
		if _, touched := t.overlay[name]; touched {
			found := false
			if err := t.Ascend(name, nil, func(_, _ []byte) (bool, error) {
				found = true
				return false, nil
			}); err != nil {
				return err
			}
			if !found {
				continue
			}
		}
		more, err := fn(name)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// registryNames reads the names of the registry from from on, WATCHing it.
func (t *tx) registryNames(from string) ([]string, error) {
	ctx := t.ctx
	p := t.rtx.Pipeline()
	verify := t.queueVerify(p)
	watch := redis.NewStatusCmd(ctx, "watch", t.s.registry)
	_ = p.Process(ctx, watch)
	t.armed = true
	min := "-"
	if from != "" {
		min = "[" + from
	}
	z := p.ZRangeByLex(ctx, t.s.registry, &redis.ZRangeBy{Min: min, Max: "+"})
	_, _ = p.Exec(ctx)
	t.remote = true
	if err := t.checkVerify(verify); err != nil {
		return nil, err
	}
	if err := watch.Err(); err != nil {
		return nil, failure("watch bucket registry", err)
	}
	if err := z.Err(); err != nil {
		return nil, failure("read bucket registry", err)
	}
	return z.Val(), nil
}

// scan merges the bucket's keys in Redis with the transaction's overlay.
func (t *tx) scan(bucket string, from []byte, desc bool, fn func(key, value []byte) (bool, error)) error {
	if err := backends.CheckScanStart(bucket, from); err != nil {
		return err
	}
	if t.done {
		return errTxDone
	}
	rc := newRemoteCursor(t, bucket, from, desc)
	oc := &overlayCursor{tree: t.overlay[bucket], desc: desc, pivot: from}
	for {
		rk, rv, rok, err := rc.peek()
		if err != nil {
			return err
		}
		oe, ook := oc.peek()
		var k, v []byte
		switch {
		case !rok && !ook:
			return nil
		case rok && ook:
			c := bytes.Compare(rk, oe.key)
			if desc {
				c = -c
			}
			if c < 0 {
				k, v = rk, rv
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
			k, v = rk, rv
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

// overlayChunk is how many overlay entries a scan copies at a time.
const overlayChunk = 64

// overlayCursor walks a bucket's overlay in scan order in chunks (fn may
// not write to the scanned bucket, so the tree is stable meanwhile).
type overlayCursor struct {
	tree  *btree.BTreeG[entry]
	desc  bool
	pivot []byte // where the next chunk starts; nil: at the end
	skip  bool   // the pivot itself was already returned
	buf   []entry
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
	collect := func(e entry) bool {
		if c.skip && bytes.Equal(e.key, c.pivot) {
			return true
		}
		c.buf = append(c.buf, e)
		return len(c.buf) < overlayChunk
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
	if len(c.buf) < overlayChunk {
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

// remoteCursor walks a bucket's keys in Redis in scan order. The first
// round trip WATCHes the bucket's version and index and reads the first
// batch of keys; every later round trip reads the values of one batch with
// MGET and, in the same pipeline, the keys of the next batch.
type remoteCursor struct {
	t       *tx
	bucket  string
	bk      *bucketKeys
	desc    bool
	bound   string // ZRANGEBYLEX bound where the next batch starts
	limit   int64  // size of the next batch
	started bool
	members []string // keys of the next batch, values not read yet
	more    bool     // Redis may hold keys beyond members
	keys    [][]byte
	vals    [][]byte
	pos     int
}

func newRemoteCursor(t *tx, bucket string, from []byte, desc bool) *remoteCursor {
	c := &remoteCursor{t: t, bucket: bucket, bk: t.keys(bucket), desc: desc}
	switch {
	case from != nil:
		c.bound = "[" + string(from)
	case desc:
		c.bound = "+"
	default:
		c.bound = "-"
	}
	c.limit = int64(min(firstScanBatch, t.s.batch))
	return c
}

func (c *remoteCursor) zrange(p redis.Pipeliner) *redis.StringSliceCmd {
	ctx := c.t.ctx
	if c.desc {
		return p.ZRevRangeByLex(ctx, c.bk.index, &redis.ZRangeBy{Max: c.bound, Min: "-", Count: c.limit})
	}
	return p.ZRangeByLex(ctx, c.bk.index, &redis.ZRangeBy{Min: c.bound, Max: "+", Count: c.limit})
}

func (c *remoteCursor) setMembers(m []string) {
	c.members = m
	c.more = int64(len(m)) == c.limit
	if len(m) > 0 {
		c.bound = "(" + m[len(m)-1]
	}
	c.limit = int64(c.t.s.batch)
}

func (c *remoteCursor) fail(err error) error {
	return failure(fmt.Sprintf("scan bucket %q", c.bucket), err)
}

func (c *remoteCursor) peek() (key, value []byte, ok bool, err error) {
	t, ctx := c.t, c.t.ctx
	for c.pos >= len(c.keys) {
		if !c.started {
			c.started = true
			p := t.rtx.Pipeline()
			verify := t.queueVerify(p)
			var watch *redis.StatusCmd
			if !c.bk.watched {
				watch = redis.NewStatusCmd(ctx, "watch", c.bk.version, c.bk.index)
				_ = p.Process(ctx, watch)
				t.armed = true
			}
			z := c.zrange(p)
			_, _ = p.Exec(ctx)
			t.remote = true
			if err := t.checkVerify(verify); err != nil {
				return nil, nil, false, c.fail(err)
			}
			if watch != nil && watch.Err() != nil {
				return nil, nil, false, c.fail(watch.Err())
			}
			if err := z.Err(); err != nil {
				return nil, nil, false, c.fail(err)
			}
			c.bk.watched = true
			c.setMembers(z.Val())
		}
		if len(c.members) == 0 {
			return nil, nil, false, nil
		}
		p := t.rtx.Pipeline()
		vks := make([]string, len(c.members))
		for i, m := range c.members {
			vks[i] = c.bk.value + m
		}
		mget := p.MGet(ctx, vks...)
		var z *redis.StringSliceCmd
		if c.more {
			z = c.zrange(p)
		}
		if _, err := p.Exec(ctx); err != nil {
			return nil, nil, false, c.fail(err)
		}
		vals := mget.Val()
		if len(vals) != len(c.members) {
			return nil, nil, false, c.fail(fmt.Errorf("MGET returned %d values for %d keys", len(vals), len(c.members)))
		}
		c.keys, c.vals, c.pos = c.keys[:0], c.vals[:0], 0
		for i, m := range c.members {
			s, ok := vals[i].(string)
			if !ok {
				// Deleted after the key list was read: the version watch
				// fails this transaction at EXEC, so skipping is safe.
				continue
			}
			v := []byte(s)
			c.keys = append(c.keys, []byte(m))
			c.vals = append(c.vals, v)
			t.remember(vks[i], cached{val: v, found: true})
		}
		if z != nil {
			c.setMembers(z.Val())
		} else {
			c.members = nil
		}
	}
	return c.keys[c.pos], c.vals[c.pos], true, nil
}

func (c *remoteCursor) next() { c.pos++ }
