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

type item struct {
	bucket string
	key    []byte
	value  []byte
}

func less(a, b item) bool {
	if a.bucket != b.bucket {
		return a.bucket < b.bucket
	}
	return bytes.Compare(a.key, b.key) < 0
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
	it, ok := t.tree.Get(item{bucket: bucket, key: key})
	if !ok {
		return nil, fmt.Errorf("memstore: bucket %q key %x: %w", bucket, key, backends.ErrNotFound)
	}
	return bytes.Clone(it.value), nil
}

func (t *tx) Put(bucket string, key, value []byte) error {
	if err := backends.CheckKey(bucket, key); err != nil {
		return err
	}
	if t.readOnly {
		return backends.ErrReadOnly
	}
	v := make([]byte, len(value))
	copy(v, value)
	t.tree.ReplaceOrInsert(item{bucket: bucket, key: bytes.Clone(key), value: v})
	return nil
}

func (t *tx) Delete(bucket string, key []byte) error {
	if err := backends.CheckKey(bucket, key); err != nil {
		return err
	}
	if t.readOnly {
		return backends.ErrReadOnly
	}
	t.tree.Delete(item{bucket: bucket, key: key})
	return nil
}

func (t *tx) Ascend(bucket string, from []byte, fn func(key, value []byte) (bool, error)) error {
	if err := backends.CheckScanStart(bucket, from); err != nil {
		return err
	}
	var err error
	t.tree.AscendGreaterOrEqual(item{bucket: bucket, key: from}, func(it item) bool {
		if it.bucket != bucket {
			return false
		}
		var more bool
		more, err = fn(bytes.Clone(it.key), bytes.Clone(it.value))
		return more && err == nil
	})
	return err
}

func (t *tx) Descend(bucket string, from []byte, fn func(key, value []byte) (bool, error)) error {
	if err := backends.CheckScanStart(bucket, from); err != nil {
		return err
	}
	var err error
	visit := func(it item) bool {
		if it.bucket != bucket {
			return false
		}
		var more bool
		more, err = fn(bytes.Clone(it.key), bytes.Clone(it.value))
		return more && err == nil
	}
	if from == nil {
		// Every item of bucket sorts before the first possible item of the
		// bucket named bucket+"\x00", and no bucket name lies between them.
		t.tree.DescendLessOrEqual(item{bucket: bucket + "\x00"}, visit)
	} else {
		t.tree.DescendLessOrEqual(item{bucket: bucket, key: from}, visit)
	}
	return err
}
