// Package memstore is the in-memory backends.Store: the default for tests
// and for programs that need no persistence.
//
// The buckets are an ordered tree (github.com/google/btree) of names; a
// bucket's keys are a sorted slice while they are few and an ordered tree
// of their own beyond. Writers are serialised by a mutex and work on
// copy-on-write clones: an Update clones the tree of buckets and, on its
// first write to a bucket, that bucket's keys, so a write copies a small
// bucket or the nodes on its path in a big one, however many other buckets
// and keys the store holds. A commit publishes the new tree
// of buckets with one atomic pointer swap. Readers take the current tree
// and never block, so a View sees one consistent state and never a
// half-applied Update. Update runs fn exactly once.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/google/btree"

	"github.com/metalkit/metalkit/backends"
)

var _ backends.Store = (*Store)(nil)

// item is one key of a bucket with its value, in one immutable string
// (data = key | value): 24 bytes with a single pointer, so copy-on-write
// copies little and the garbage collector scans little.
type item struct {
	data   string
	keyLen uint32
}

func newItem(key, value []byte) item {
	b := make([]byte, 0, len(key)+len(value))
	b = append(b, key...)
	b = append(b, value...)
	return item{data: unsafe.String(unsafe.SliceData(b), len(b)), keyLen: uint32(len(key))}
}

// probe is an item to search for key; it aliases key, which must not
// change while the probe is in use (scans, which run the caller's code
// meanwhile, search with a copy).
func probe(key []byte) item {
	return item{data: unsafe.String(unsafe.SliceData(key), len(key)), keyLen: uint32(len(key))}
}

func (it item) key() string   { return it.data[:it.keyLen] }
func (it item) value() string { return it.data[it.keyLen:] }

func itemLess(a, b item) bool { return a.key() < b.key() }

// bucketKeys are a bucket's keys: a sorted slice while there are at most
// smallMax of them (most buckets of the domain packages hold a few keys,
// and a slice costs one allocation to copy), a tree once the bucket has
// outgrown that. gen is the Update that made them: the only one that may
// change them in place; every other Update copies them first.
type bucketKeys struct {
	small []item
	tree  *btree.BTreeG[item]
	gen   uint64
	// inline holds small while it fits, so that copying a bucket of a
	// few keys is one allocation.
	inline [inlineKeys]item
}

// inlineKeys is how many keys a bucket holds without a slice of its own.
const inlineKeys = 2

// bucket is an entry of the tree of buckets.
type bucket struct {
	name string
	keys *bucketKeys
}

func bucketLess(a, b bucket) bool { return a.name < b.name }

func (b *bucketKeys) len() int {
	if b.tree != nil {
		return b.tree.Len()
	}
	return len(b.small)
}

// find returns the position of key in small and whether it is there.
func (b *bucketKeys) find(key string) (int, bool) {
	return slices.BinarySearchFunc(b.small, key, func(it item, k string) int { return strings.Compare(it.key(), k) })
}

func (b *bucketKeys) get(key []byte) (item, bool) {
	if b.tree != nil {
		return b.tree.Get(probe(key))
	}
	if i, ok := b.find(probe(key).key()); ok {
		return b.small[i], true
	}
	return item{}, false
}

// put and del change b in place; b must belong to the running Update.
func (b *bucketKeys) put(it item) {
	if b.tree != nil {
		b.tree.ReplaceOrInsert(it)
		return
	}
	i, ok := b.find(it.key())
	if ok {
		b.small[i] = it
		return
	}
	b.small = slices.Insert(b.small, i, it)
	if len(b.small) > smallMax {
		b.tree = btree.NewG(degree, itemLess)
		for _, x := range b.small {
			b.tree.ReplaceOrInsert(x)
		}
		b.small = nil
	}
}

func (b *bucketKeys) del(key []byte) {
	if b.tree != nil {
		b.tree.Delete(probe(key))
		return
	}
	if i, ok := b.find(probe(key).key()); ok {
		b.small = slices.Delete(b.small, i, i+1)
	}
}

// ascend calls visit for the keys >= from (all for nil), descend for the
// keys <= from, in scan order, until visit returns false.
func (b *bucketKeys) ascend(from []byte, visit func(item) bool) {
	if b.tree != nil {
		if from == nil {
			b.tree.Ascend(visit)
		} else {
			b.tree.AscendGreaterOrEqual(item{data: string(from), keyLen: uint32(len(from))}, visit)
		}
		return
	}
	i := 0
	if from != nil {
		i, _ = b.find(string(from))
	}
	for _, it := range b.small[i:] {
		if !visit(it) {
			return
		}
	}
}

func (b *bucketKeys) descend(from []byte, visit func(item) bool) {
	if b.tree != nil {
		if from == nil {
			b.tree.Descend(visit)
		} else {
			b.tree.DescendLessOrEqual(item{data: string(from), keyLen: uint32(len(from))}, visit)
		}
		return
	}
	i := len(b.small)
	if from != nil {
		j, ok := b.find(string(from))
		i = j
		if ok {
			i++
		}
	}
	for j := i - 1; j >= 0; j-- {
		if !visit(b.small[j]) {
			return
		}
	}
}

// Sizes: a bucket with more than smallMax keys becomes a tree of the given
// degree (nodes of up to 2*degree-1 keys); the tree of buckets has the same
// degree.
const (
	smallMax = 32
	degree   = 8
)

// Store is an in-memory backends.Store. The zero value is not usable; call
// New.
type Store struct {
	writer  sync.Mutex
	gen     uint64 // Updates so far, guarded by writer
	buckets atomic.Pointer[btree.BTreeG[bucket]]
	closed  atomic.Bool
}

// New returns an empty store.
func New() *Store {
	s := &Store{}
	s.buckets.Store(btree.NewG(degree, bucketLess))
	return s
}

// View implements backends.Store.
func (s *Store) View(ctx context.Context, fn func(backends.Tx) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return fn(&tx{buckets: s.buckets.Load(), readOnly: true})
}

// Update implements backends.Store.
func (s *Store) Update(ctx context.Context, fn func(backends.Tx) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.writer.Lock()
	defer s.writer.Unlock()
	if s.closed.Load() {
		return backends.ErrClosed
	}
	s.gen++
	t := &tx{buckets: s.buckets.Load().Clone(), gen: s.gen}
	if err := fn(t); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: update not committed: %w", err)
	}
	t.dropEmpty()
	s.buckets.Store(t.buckets)
	return nil
}

// Close implements backends.Store. The data is dropped with the store.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return backends.ErrClosed
	}
	return nil
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return backends.ErrClosed
	}
	return ctx.Err()
}

type tx struct {
	buckets  *btree.BTreeG[bucket]
	readOnly bool
	gen      uint64   // this Update's generation (0 for a View)
	emptied  []string // buckets this Update emptied
	// recent are the buckets used last, to skip the search: most
	// operations go back and forth between a few buckets.
	recent [4]bucket
	next   int
}

// keys returns the keys of bucket name, nil when it holds none.
func (t *tx) keys(name string) *bucketKeys {
	for _, b := range t.recent {
		if b.keys != nil && b.name == name {
			return b.keys
		}
	}
	b, ok := t.buckets.Get(bucket{name: name})
	if !ok {
		return nil
	}
	t.remember(b)
	return b.keys
}

// remember puts b among the recent buckets, in place of an older entry of
// the same name or of the oldest one.
func (t *tx) remember(b bucket) {
	for i := range t.recent {
		if t.recent[i].name == b.name && t.recent[i].keys != nil {
			t.recent[i] = b
			return
		}
	}
	t.recent[t.next] = b
	t.next = (t.next + 1) % len(t.recent)
}

// writable returns the keys of bucket name as this Update may change them
// in place: copied on the Update's first change, new for a new bucket.
func (t *tx) writable(name string) *bucketKeys {
	k := t.keys(name)
	if k != nil && k.gen == t.gen {
		return k
	}
	old := k
	k = &bucketKeys{gen: t.gen}
	switch {
	case old == nil:
		k.small = k.inline[:0]
	case old.tree != nil:
		k.tree = old.tree.Clone()
	case len(old.small) < inlineKeys:
		k.small = append(k.inline[:0], old.small...)
	default:
		k.small = append(make([]item, 0, len(old.small)+4), old.small...)
	}
	b := bucket{name: name, keys: k}
	t.remember(b)
	t.buckets.ReplaceOrInsert(b)
	return k
}

// dropEmpty removes the buckets the Update emptied: a bucket exists only
// while it holds a key.
func (t *tx) dropEmpty() {
	for _, name := range t.emptied {
		if k := t.keys(name); k != nil && k.len() == 0 {
			t.buckets.Delete(bucket{name: name})
			t.recent = [4]bucket{}
		}
	}
}

func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	if err := backends.CheckKey(bucket, key); err != nil {
		return nil, err
	}
	if k := t.keys(bucket); k != nil {
		if it, ok := k.get(key); ok {
			return []byte(it.value()), nil
		}
	}
	return nil, fmt.Errorf("memstore: bucket %q key %x: %w", bucket, key, backends.ErrNotFound)
}

func (t *tx) Put(bucket string, key, value []byte) error {
	if err := backends.CheckKey(bucket, key); err != nil {
		return err
	}
	if t.readOnly {
		return backends.ErrReadOnly
	}
	t.writable(bucket).put(newItem(key, value))
	return nil
}

func (t *tx) Delete(bucket string, key []byte) error {
	if err := backends.CheckKey(bucket, key); err != nil {
		return err
	}
	if t.readOnly {
		return backends.ErrReadOnly
	}
	if k := t.keys(bucket); k == nil {
		return nil
	} else if _, ok := k.get(key); !ok {
		return nil // nothing to copy for a key that is not there
	}
	k := t.writable(bucket)
	k.del(key)
	if k.len() == 0 {
		t.emptied = append(t.emptied, bucket)
	}
	return nil
}

func (t *tx) Ascend(bucket string, from []byte, fn func(key, value []byte) (bool, error)) error {
	if err := backends.CheckScanStart(bucket, from); err != nil {
		return err
	}
	var err error
	if k := t.keys(bucket); k != nil {
		k.ascend(from, visitor(fn, &err))
	}
	return err
}

func (t *tx) Descend(bucket string, from []byte, fn func(key, value []byte) (bool, error)) error {
	if err := backends.CheckScanStart(bucket, from); err != nil {
		return err
	}
	var err error
	if k := t.keys(bucket); k != nil {
		k.descend(from, visitor(fn, &err))
	}
	return err
}

// Buckets implements backends.Tx: the tree of buckets in name order,
// skipping the buckets this Update emptied (they are dropped at the
// commit).
func (t *tx) Buckets(from string, fn func(name string) (bool, error)) error {
	var err error
	t.buckets.AscendGreaterOrEqual(bucket{name: from}, func(b bucket) bool {
		if b.keys.len() == 0 {
			return true
		}
		var more bool
		more, err = fn(b.name)
		return more && err == nil
	})
	return err
}

// visitor adapts a scan callback: it hands fn copies of key and value and
// records fn's error in *err.
func visitor(fn func(key, value []byte) (bool, error), err *error) func(item) bool {
	return func(it item) bool {
		kv := []byte(it.data)
		k := int(it.keyLen)
		var more bool
		more, *err = fn(kv[:k:k], kv[k:])
		return more && *err == nil
	}
}
