// Package memstore is the in-memory backends.Store: the default for tests
// and for programs that need no persistence.
//
// Writers are serialised by a mutex and work on a copy-on-write clone of an
// ordered tree (github.com/google/btree); a commit publishes the clone with
// one atomic pointer swap. Readers take the current tree and never block, so
// a View sees one consistent state and never a half-applied Update. Update
// runs fn exactly once.
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/btree"

	"github.com/metalkit/metalkit/backends"
)

var _ backends.Store = (*Store)(nil)

// item is one key of one bucket. Bucket name, key and value share one
// slice (data = bucket | key | value), so an item is 32 bytes with a single
// pointer: copy-on-write copies less and the garbage collector scans less.
type item struct {
	data      []byte
	bucketLen uint32
	keyLen    uint32
}

func newItem(bucket string, key, value []byte) item {
	data := make([]byte, 0, len(bucket)+len(key)+len(value))
	data = append(data, bucket...)
	data = append(data, key...)
	data = append(data, value...)
	return item{data: data, bucketLen: uint32(len(bucket)), keyLen: uint32(len(key))}
}

// probe is an item without a value, used only to search.
func probe(bucket string, key []byte) item { return newItem(bucket, key, nil) }

func (it item) bucket() []byte { return it.data[:it.bucketLen] }
func (it item) key() []byte    { return it.data[it.bucketLen : it.bucketLen+it.keyLen] }
func (it item) value() []byte  { return it.data[it.bucketLen+it.keyLen:] }

func less(a, b item) bool {
	if c := bytes.Compare(a.bucket(), b.bucket()); c != 0 {
		return c < 0
	}
	return bytes.Compare(a.key(), b.key()) < 0
}

const degree = 16

// Store is an in-memory backends.Store. The zero value is not usable; call
// New.
type Store struct {
	writer sync.Mutex
	tree   atomic.Pointer[btree.BTreeG[item]]
	closed atomic.Bool
}

// New returns an empty store.
func New() *Store {
	s := &Store{}
	s.tree.Store(btree.NewG(degree, less))
	return s
}

// View implements backends.Store.
func (s *Store) View(ctx context.Context, fn func(backends.Tx) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return fn(&tx{tree: s.tree.Load(), readOnly: true})
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
	clone := s.tree.Load().Clone()
	if err := fn(&tx{tree: clone}); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: update not committed: %w", err)
	}
	s.tree.Store(clone)
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
	tree     *btree.BTreeG[item]
	readOnly bool
}

func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	if err := backends.CheckKey(bucket, key); err != nil {
		return nil, err
	}
	it, ok := t.tree.Get(probe(bucket, key))
	if !ok {
		return nil, fmt.Errorf("memstore: bucket %q key %x: %w", bucket, key, backends.ErrNotFound)
	}
	return bytes.Clone(it.value()), nil
}

func (t *tx) Put(bucket string, key, value []byte) error {
	if err := backends.CheckKey(bucket, key); err != nil {
		return err
	}
	if t.readOnly {
		return backends.ErrReadOnly
	}
	t.tree.ReplaceOrInsert(newItem(bucket, key, value))
	return nil
}

func (t *tx) Delete(bucket string, key []byte) error {
	if err := backends.CheckKey(bucket, key); err != nil {
		return err
	}
	if t.readOnly {
		return backends.ErrReadOnly
	}
	t.tree.Delete(probe(bucket, key))
	return nil
}

func (t *tx) Ascend(bucket string, from []byte, fn func(key, value []byte) (bool, error)) error {
	if err := backends.CheckScanStart(bucket, from); err != nil {
		return err
	}
	var err error
	t.tree.AscendGreaterOrEqual(probe(bucket, from), visitor(bucket, fn, &err))
	return err
}

func (t *tx) Descend(bucket string, from []byte, fn func(key, value []byte) (bool, error)) error {
	if err := backends.CheckScanStart(bucket, from); err != nil {
		return err
	}
	var err error
	visit := visitor(bucket, fn, &err)
	if from == nil {
		// Every item of bucket sorts before the first possible item of the
		// bucket named bucket+"\x00", and no bucket name lies between them.
		t.tree.DescendLessOrEqual(probe(bucket+"\x00", nil), visit)
	} else {
		t.tree.DescendLessOrEqual(probe(bucket, from), visit)
	}
	return err
}

// Buckets implements backends.Tx. Items are ordered by bucket first, so
// each step seeks past the bucket just named: O(log n) per bucket.
func (t *tx) Buckets(from string, fn func(name string) (bool, error)) error {
	next := from
	for {
		var name string
		found := false
		t.tree.AscendGreaterOrEqual(probe(next, nil), func(it item) bool {
			name, found = string(it.bucket()), true
			return false
		})
		if !found {
			return nil
		}
		more, err := fn(name)
		if err != nil || !more {
			return err
		}
		// No bucket name lies between name and name+"\x00".
		next = name + "\x00"
	}
}

// visitor adapts a scan callback: it stops at the end of bucket, hands fn
// copies of key and value, and records fn's error in *err.
func visitor(bucket string, fn func(key, value []byte) (bool, error), err *error) func(item) bool {
	return func(it item) bool {
		if string(it.bucket()) != bucket {
			return false
		}
		k := it.key()
		kv := bytes.Clone(it.data[it.bucketLen:])
		var more bool
		more, *err = fn(kv[:len(k):len(k)], kv[len(k):])
		return more && *err == nil
	}
}
