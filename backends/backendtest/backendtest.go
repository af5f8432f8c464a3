// Package backendtest is the conformance suite for backends.Store adapters.
//
// Every adapter in metalkit runs it, and so can an adapter written outside
// metalkit:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backends.Store {
//			s := mystore.New(...)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// newStore must return a new, empty store for every call; the suite closes
// stores only in the subtest that checks Close, so newStore's cleanup must
// accept a second Close (its error is ignored).
package backendtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
)

// Run runs every conformance check as a subtest of t.
func Run(t *testing.T, newStore func(t *testing.T) backends.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s backends.Store)
	}{
		{"AbsentKey", testAbsentKey},
		{"PutGetOverwrite", testPutGetOverwrite},
		{"EmptyValue", testEmptyValue},
		{"DeleteIdempotent", testDeleteIdempotent},
		{"InvalidKeys", testInvalidKeys},
		{"AscendOrder", testAscendOrder},
		{"DescendOrder", testDescendOrder},
		{"BucketBoundaries", testBucketBoundaries},
		{"ScanStopAndError", testScanStopAndError},
		{"LargeScan", testLargeScan},
		{"ReadOwnWrites", testReadOwnWrites},
		{"Aliasing", testAliasing},
		{"ReadOnlyView", testReadOnlyView},
		{"RollbackOnError", testRollbackOnError},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"CancelledContext", testCancelledContext},
		{"Closed", testClosed},
		{"ConflictRetry", testConflictRetry},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"UncommittedInvisible", testUncommittedInvisible},
		{"ViewIsolation", testViewIsolation},
		{"BucketsListing", testBucketsListing},
		{"EmptyBucketsVanish", testEmptyBucketsVanish},
		{"BucketsSeeOwnWrites", testBucketsSeeOwnWrites},
		{"PrefixHelpers", testPrefixHelpers},
		{"Prefetch", testPrefetch},
		{"Insert", testInsert},
		{"InsertRace", testInsertRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

var ctx = context.Background()

func put(t *testing.T, s backends.Store, bucket string, kv ...string) {
	t.Helper()
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		for i := 0; i+1 < len(kv); i += 2 {
			if err := tx.Put(bucket, []byte(kv[i]), []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	}))
}

func get(t *testing.T, s backends.Store, bucket, key string) (string, error) {
	t.Helper()
	var v []byte
	err := s.View(ctx, func(tx backends.Tx) error {
		var err error
		v, err = tx.Get(bucket, []byte(key))
		return err
	})
	return string(v), err
}

func scan(t *testing.T, s backends.Store, bucket string, from []byte, descending bool) []string {
	t.Helper()
	var out []string
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		out = out[:0]
		visit := func(k, v []byte) (bool, error) {
			out = append(out, string(k)+"="+string(v))
			return true, nil
		}
		if descending {
			return tx.Descend(bucket, from, visit)
		}
		return tx.Ascend(bucket, from, visit)
	}))
	return out
}

func testAbsentKey(t *testing.T, s backends.Store) {
	_, err := get(t, s, "b", "missing")
	require.ErrorIs(t, err, backends.ErrNotFound)
	put(t, s, "b", "present", "1")
	_, err = get(t, s, "b", "missing")
	require.ErrorIs(t, err, backends.ErrNotFound)
	_, err = get(t, s, "other", "present")
	require.ErrorIs(t, err, backends.ErrNotFound)
	assert.Empty(t, scan(t, s, "never-written", nil, false))
	assert.Empty(t, scan(t, s, "never-written", nil, true))
}

func testPutGetOverwrite(t *testing.T, s backends.Store) {
	put(t, s, "b", "k", "v1")
	v, err := get(t, s, "b", "k")
	require.NoError(t, err)
	assert.Equal(t, "v1", v)
	put(t, s, "b", "k", "v2")
	v, err = get(t, s, "b", "k")
	require.NoError(t, err)
	assert.Equal(t, "v2", v)
	assert.Equal(t, []string{"k=v2"}, scan(t, s, "b", nil, false))
}

func testEmptyValue(t *testing.T, s backends.Store) {
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		if err := tx.Put("b", []byte("nil"), nil); err != nil {
			return err
		}
		return tx.Put("b", []byte("empty"), []byte{})
	}))
	for _, k := range []string{"nil", "empty"} {
		v, err := get(t, s, "b", k)
		require.NoError(t, err, k)
		assert.Empty(t, v, k)
	}
}

func testDeleteIdempotent(t *testing.T, s backends.Store) {
	put(t, s, "b", "k", "v", "other", "o")
	for i := 0; i < 2; i++ {
		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
			return tx.Delete("b", []byte("k"))
		}))
		_, err := get(t, s, "b", "k")
		require.ErrorIs(t, err, backends.ErrNotFound)
	}
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		return tx.Delete("never-written", []byte("k"))
	}))
	assert.Equal(t, []string{"other=o"}, scan(t, s, "b", nil, false))
}

func testInvalidKeys(t *testing.T, s backends.Store) {
	long := bytes.Repeat([]byte("x"), backends.MaxKeySize+1)
	err := s.Update(ctx, func(tx backends.Tx) error {
		for _, c := range []struct {
			bucket string
			key    []byte
		}{{"", []byte("k")}, {"b", nil}, {"b", []byte{}}, {"b", long}, {string(long), []byte("k")}} {
			if _, err := tx.Get(c.bucket, c.key); !errors.Is(err, backends.ErrInvalidKey) {
				return fmt.Errorf("Get(%.10q, %.10q) = %v, want ErrInvalidKey", c.bucket, c.key, err)
			}
			if err := tx.Put(c.bucket, c.key, []byte("v")); !errors.Is(err, backends.ErrInvalidKey) {
				return fmt.Errorf("Put(%.10q, %.10q) = %v, want ErrInvalidKey", c.bucket, c.key, err)
			}
			if err := tx.Delete(c.bucket, c.key); !errors.Is(err, backends.ErrInvalidKey) {
				return fmt.Errorf("Delete(%.10q, %.10q) = %v, want ErrInvalidKey", c.bucket, c.key, err)
			}
		}
		noop := func(k, v []byte) (bool, error) { return true, nil }
		if err := tx.Ascend("", nil, noop); !errors.Is(err, backends.ErrInvalidKey) {
			return fmt.Errorf("ascend with empty bucket = %v, want ErrInvalidKey", err)
		}
		if err := tx.Descend("b", []byte{}, noop); !errors.Is(err, backends.ErrInvalidKey) {
			return fmt.Errorf("descend from empty key = %v, want ErrInvalidKey", err)
		}
		return nil
	})
	require.NoError(t, err)
}

// orderedKeys are inserted out of order; their byte order is the order here.
var orderedKeys = []string{"\x00", "\x00\x01", "a", "a\x00", "ab", "b", "ba", "\x7f", "\xff", "\xff\xff"}

func fillOrdered(t *testing.T, s backends.Store) {
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		for i := len(orderedKeys) - 1; i >= 0; i-- {
			j := (i * 7) % len(orderedKeys) // a permutation, since 7 and 10 are coprime
			if err := tx.Put("ord", []byte(orderedKeys[j]), []byte(fmt.Sprint(j))); err != nil {
				return err
			}
		}
		return nil
	}))
}

func want(keys []string, idx ...int) []string {
	out := []string{}
	for _, i := range idx {
		out = append(out, keys[i]+"="+fmt.Sprint(i))
	}
	return out
}

func testAscendOrder(t *testing.T, s backends.Store) {
	fillOrdered(t, s)
	assert.Equal(t, want(orderedKeys, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9), scan(t, s, "ord", nil, false))
	assert.Equal(t, want(orderedKeys, 2, 3, 4, 5, 6, 7, 8, 9), scan(t, s, "ord", []byte("a"), false), "from an existing key")
	assert.Equal(t, want(orderedKeys, 4, 5, 6, 7, 8, 9), scan(t, s, "ord", []byte("a\x00\x00"), false), "from between keys")
	assert.Empty(t, scan(t, s, "ord", []byte("\xff\xff\x00"), false), "from past the end")
}

func testDescendOrder(t *testing.T, s backends.Store) {
	fillOrdered(t, s)
	assert.Equal(t, want(orderedKeys, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), scan(t, s, "ord", nil, true))
	assert.Equal(t, want(orderedKeys, 4, 3, 2, 1, 0), scan(t, s, "ord", []byte("ab"), true), "from an existing key")
	assert.Equal(t, want(orderedKeys, 4, 3, 2, 1, 0), scan(t, s, "ord", []byte("ab\x00"), true), "from between keys")
	assert.Empty(t, scan(t, s, "ord", []byte("\x00\x00"), true)[1:], "only the first key lies below")
	assert.Equal(t, want(orderedKeys, 0), scan(t, s, "ord", []byte("\x00\x00"), true))
}

func testBucketBoundaries(t *testing.T, s backends.Store) {
	buckets := []string{"a", "a\x00", "aa", "b", "a:b", "a:"}
	for _, b := range buckets {
		put(t, s, b, "k1", b+"1", "k2", b+"2")
	}
	for _, b := range buckets {
		assert.Equal(t, []string{"k1=" + b + "1", "k2=" + b + "2"}, scan(t, s, b, nil, false), "bucket %q", b)
		assert.Equal(t, []string{"k2=" + b + "2", "k1=" + b + "1"}, scan(t, s, b, nil, true), "bucket %q", b)
		assert.Equal(t, []string{"k1=" + b + "1"}, scan(t, s, b, []byte("k1"), true), "bucket %q", b)
		assert.Equal(t, []string{"k2=" + b + "2"}, scan(t, s, b, []byte("k2"), false), "bucket %q", b)
	}
}

func testScanStopAndError(t *testing.T, s backends.Store) {
	fillOrdered(t, s)
	var seen int
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		seen = 0
		return tx.Ascend("ord", nil, func(k, v []byte) (bool, error) {
			seen++
			return seen < 3, nil
		})
	}))
	assert.Equal(t, 3, seen)
	boom := errors.New("boom")
	err := s.View(ctx, func(tx backends.Tx) error {
		seen = 0
		return tx.Descend("ord", nil, func(k, v []byte) (bool, error) {
			seen++
			return true, boom
		})
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 1, seen)
}

func key(i int) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(i))
}

func testLargeScan(t *testing.T, s backends.Store) {
	const n = 2500
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		for i := n - 1; i >= 0; i-- {
			if err := tx.Put("big", key(i), key(i*2)); err != nil {
				return err
			}
		}
		return nil
	}))
	check := func(descending bool, from []byte, first, count int) {
		t.Helper()
		var got []int
		require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
			got = got[:0]
			visit := func(k, v []byte) (bool, error) {
				i := int(binary.BigEndian.Uint32(k))
				if int(binary.BigEndian.Uint32(v)) != 2*i {
					return false, fmt.Errorf("key %d has value %x", i, v)
				}
				got = append(got, i)
				return true, nil
			}
			if descending {
				return tx.Descend("big", from, visit)
			}
			return tx.Ascend("big", from, visit)
		}))
		require.Len(t, got, count)
		for j, i := range got {
			w := first + j
			if descending {
				w = first - j
			}
			require.Equal(t, w, i, "position %d", j)
		}
	}
	check(false, nil, 0, n)
	check(true, nil, n-1, n)
	check(false, key(1000), 1000, n-1000)
	check(true, key(1000), 1000, 1001)
}

func testReadOwnWrites(t *testing.T, s backends.Store) {
	put(t, s, "b", "a", "1", "c", "3", "e", "5")
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		for _, kv := range [][2]string{{"b", "2"}, {"c", "33"}, {"f", "6"}} {
			if err := tx.Put("b", []byte(kv[0]), []byte(kv[1])); err != nil {
				return err
			}
		}
		if err := tx.Delete("b", []byte("e")); err != nil {
			return err
		}
		v, err := tx.Get("b", []byte("c"))
		if err != nil || string(v) != "33" {
			return fmt.Errorf("Get(c) = %q, %v; want 33", v, err)
		}
		if _, err := tx.Get("b", []byte("e")); !errors.Is(err, backends.ErrNotFound) {
			return fmt.Errorf("Get(e) after Delete = %v; want ErrNotFound", err)
		}
		var asc, desc []string
		if err := tx.Ascend("b", nil, func(k, v []byte) (bool, error) {
			asc = append(asc, string(k)+"="+string(v))
			return true, nil
		}); err != nil {
			return err
		}
		if err := tx.Descend("b", []byte("d"), func(k, v []byte) (bool, error) {
			desc = append(desc, string(k)+"="+string(v))
			return true, nil
		}); err != nil {
			return err
		}
		if w := []string{"a=1", "b=2", "c=33", "f=6"}; fmt.Sprint(asc) != fmt.Sprint(w) {
			return fmt.Errorf("ascend inside the update = %v; want %v", asc, w)
		}
		if w := []string{"c=33", "b=2", "a=1"}; fmt.Sprint(desc) != fmt.Sprint(w) {
			return fmt.Errorf("descend inside the update = %v; want %v", desc, w)
		}
		return nil
	}))
	assert.Equal(t, []string{"a=1", "b=2", "c=33", "f=6"}, scan(t, s, "b", nil, false))
}

func testAliasing(t *testing.T, s backends.Store) {
	k, v := []byte("key"), []byte("value")
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		if err := tx.Put("b", k, v); err != nil {
			return err
		}
		k[0], v[0] = 'X', 'X'
		got, err := tx.Get("b", []byte("key"))
		if err != nil {
			return err
		}
		if string(got) != "value" {
			return fmt.Errorf("value changed by the caller's slice inside the update: %q", got)
		}
		got[0] = 'Y'
		return nil
	}))
	var kept [][]byte
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		got, err := tx.Get("b", []byte("key"))
		if err != nil {
			return err
		}
		got[1] = 'Z'
		kept = kept[:0]
		return tx.Ascend("b", nil, func(k, v []byte) (bool, error) {
			kept = append(kept, k, v)
			return true, nil
		})
	}))
	v2, err := get(t, s, "b", "key")
	require.NoError(t, err)
	assert.Equal(t, "value", v2)
	put(t, s, "b", "key", "other")
	require.Len(t, kept, 2)
	assert.Equal(t, "key", string(kept[0]), "a key passed to a scan callback changed after the transaction")
	assert.Equal(t, "value", string(kept[1]), "a value passed to a scan callback changed after the transaction")
}

func testReadOnlyView(t *testing.T, s backends.Store) {
	put(t, s, "b", "k", "v")
	err := s.View(ctx, func(tx backends.Tx) error {
		if err := tx.Put("b", []byte("k"), []byte("w")); !errors.Is(err, backends.ErrReadOnly) {
			return fmt.Errorf("put in View = %v; want ErrReadOnly", err)
		}
		if err := tx.Delete("b", []byte("k")); !errors.Is(err, backends.ErrReadOnly) {
			return fmt.Errorf("delete in View = %v; want ErrReadOnly", err)
		}
		return nil
	})
	require.NoError(t, err)
	v, err := get(t, s, "b", "k")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
}

func testRollbackOnError(t *testing.T, s backends.Store) {
	put(t, s, "b", "keep", "1")
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx backends.Tx) error {
		if err := tx.Put("b", []byte("new"), []byte("x")); err != nil {
			return err
		}
		if err := tx.Put("b", []byte("keep"), []byte("2")); err != nil {
			return err
		}
		if err := tx.Put("other", []byte("new"), []byte("x")); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, []string{"keep=1"}, scan(t, s, "b", nil, false))
	assert.Empty(t, scan(t, s, "other", nil, false))
}

func testRollbackOnPanic(t *testing.T, s backends.Store) {
	put(t, s, "b", "keep", "1")
	recovered := func() (r any) {
		defer func() { r = recover() }()
		_ = s.Update(ctx, func(tx backends.Tx) error {
			if err := tx.Put("b", []byte("keep"), []byte("2")); err != nil {
				return err
			}
			if err := tx.Put("b", []byte("new"), []byte("x")); err != nil {
				return err
			}
			panic("boom")
		})
		return nil
	}()
	assert.Equal(t, "boom", recovered, "the panic must reach the caller")
	assert.Equal(t, []string{"keep=1"}, scan(t, s, "b", nil, false))
	put(t, s, "b", "after", "ok")
	assert.Equal(t, []string{"after=ok", "keep=1"}, scan(t, s, "b", nil, false), "the store must stay usable after a panic")
}

func testCancelledContext(t *testing.T, s backends.Store) {
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	err := s.Update(cancelled, func(tx backends.Tx) error {
		ran = true
		return tx.Put("b", []byte("k"), []byte("v"))
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, ran, "fn must not run on a cancelled context")
	err = s.View(cancelled, func(tx backends.Tx) error { ran = true; return nil })
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, ran)

	during, cancel2 := context.WithCancel(ctx)
	err = s.Update(during, func(tx backends.Tx) error {
		if err := tx.Put("b", []byte("k"), []byte("v")); err != nil {
			return err
		}
		cancel2()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, scan(t, s, "b", nil, false), "a context cancelled before the commit must commit nothing")
}

func testClosed(t *testing.T, s backends.Store) {
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.View(ctx, func(backends.Tx) error { return nil }), backends.ErrClosed)
	require.ErrorIs(t, s.Update(ctx, func(backends.Tx) error { return nil }), backends.ErrClosed)
	require.ErrorIs(t, s.Close(), backends.ErrClosed)
}

// Increment adds one to the 8-byte big-endian counter under k in bucket
// (an absent key counts as 0). Adapters' own concurrency tests use it.
func Increment(tx backends.Tx, bucket string, k []byte) error {
	var n uint64
	v, err := tx.Get(bucket, k)
	switch {
	case errors.Is(err, backends.ErrNotFound):
	case err != nil:
		return err
	default:
		if len(v) != 8 {
			return fmt.Errorf("counter %q holds %d bytes", k, len(v))
		}
		n = binary.BigEndian.Uint64(v)
	}
	return tx.Put(bucket, k, binary.BigEndian.AppendUint64(nil, n+1))
}

// Counter reads the counter Increment keeps under k in bucket.
func Counter(t *testing.T, s backends.Store, bucket string, k []byte) uint64 {
	t.Helper()
	var n uint64
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		v, err := tx.Get(bucket, k)
		if errors.Is(err, backends.ErrNotFound) {
			n = 0
			return nil
		}
		if err != nil {
			return err
		}
		n = binary.BigEndian.Uint64(v)
		return nil
	}))
	return n
}

// testConflictRetry interleaves two read-modify-write transactions on one
// key: the first reads, then lets the second commit before it writes. A
// locking adapter makes the second wait; an optimistic one re-runs the
// first. Either way both increments survive.
func testConflictRetry(t *testing.T, s backends.Store) {
	k := []byte("n")
	read := make(chan struct{})
	var once sync.Once
	var runs atomic.Int32
	errc := make(chan error, 1)
	go func() {
		errc <- s.Update(ctx, func(tx backends.Tx) error {
			runs.Add(1)
			if err := Increment(tx, "c", k); err != nil {
				return err
			}
			once.Do(func() {
				close(read)
				time.Sleep(50 * time.Millisecond) // give the other writer a chance to commit first
			})
			return nil
		})
	}()
	<-read
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return Increment(tx, "c", k) }))
	require.NoError(t, <-errc)
	assert.Equal(t, uint64(2), Counter(t, s, "c", k))
	assert.GreaterOrEqual(t, runs.Load(), int32(1))
}

// testConcurrentIncrements is the lost-update check: many goroutines
// increment counters in several keys and buckets concurrently, and every
// increment is present at the end.
func testConcurrentIncrements(t *testing.T, s backends.Store) {
	const (
		workers = 8
		rounds  = 40
		keys    = 4
	)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				a, b := (w+r)%keys, (w+2*r+1)%keys
				err := s.Update(ctx, func(tx backends.Tx) error {
					if err := Increment(tx, "c1", key(a)); err != nil {
						return err
					}
					if err := Increment(tx, "c2", key(b)); err != nil {
						return err
					}
					return Increment(tx, "total", []byte("all"))
				})
				if err != nil {
					errs <- fmt.Errorf("worker %d round %d: %w", w, r, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	want1, want2 := make([]uint64, keys), make([]uint64, keys)
	for w := 0; w < workers; w++ {
		for r := 0; r < rounds; r++ {
			want1[(w+r)%keys]++
			want2[(w+2*r+1)%keys]++
		}
	}
	for i := 0; i < keys; i++ {
		assert.Equal(t, want1[i], Counter(t, s, "c1", key(i)), "c1 key %d", i)
		assert.Equal(t, want2[i], Counter(t, s, "c2", key(i)), "c2 key %d", i)
	}
	assert.Equal(t, uint64(workers*rounds), Counter(t, s, "total", []byte("all")))
}

// testUncommittedInvisible checks that a running Update's writes are not
// visible to a concurrent View.
func testUncommittedInvisible(t *testing.T, s backends.Store) {
	written := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		errc <- s.Update(ctx, func(tx backends.Tx) error {
			if err := tx.Put("b", []byte("k"), []byte("v")); err != nil {
				return err
			}
			once.Do(func() { close(written) })
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
			return nil
		})
	}()
	<-written
	_, err := get(t, s, "b", "k")
	close(release)
	require.ErrorIs(t, err, backends.ErrNotFound, "an uncommitted write was visible")
	require.NoError(t, <-errc)
	v, err := get(t, s, "b", "k")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
}

// testViewIsolation runs writers that keep two keys (in two buckets) and a
// bucket's sum consistent, and readers that must never see them torn.
func testViewIsolation(t *testing.T, s backends.Store) {
	const writes = 60
	put(t, s, "x", "v", "0")
	put(t, s, "y", "v", "0")
	done := make(chan struct{})
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 1; i <= writes; i++ {
			v := []byte(fmt.Sprint(i))
			err := s.Update(ctx, func(tx backends.Tx) error {
				if err := tx.Put("x", []byte("v"), v); err != nil {
					return err
				}
				if err := tx.Put("y", []byte("v"), v); err != nil {
					return err
				}
				// The bucket "s" always holds keys whose values are the same number.
				return tx.Put("s", key(i%5), v)
			})
			if err != nil {
				werr = err
				return
			}
		}
	}()
	reads := 0
	for {
		select {
		case <-done:
		default:
		}
		var x, y []byte
		var sums []string
		err := s.View(ctx, func(tx backends.Tx) error {
			var err error
			if x, err = tx.Get("x", []byte("v")); err != nil {
				return err
			}
			if y, err = tx.Get("y", []byte("v")); err != nil {
				return err
			}
			sums = sums[:0]
			return tx.Ascend("s", nil, func(k, v []byte) (bool, error) {
				sums = append(sums, string(v))
				return true, nil
			})
		})
		require.NoError(t, err)
		require.Equal(t, string(x), string(y), "a view saw a torn update")
		if len(sums) > 0 {
			// The newest value is the highest; the others are within the last five writes.
			require.LessOrEqual(t, len(sums), 5)
			assert.Contains(t, sums, string(x), "the scan and the gets saw different states")
		}
		reads++
		select {
		case <-done:
			wg.Wait()
			require.NoError(t, werr)
			require.Positive(t, reads)
			v, err := get(t, s, "x", "v")
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint(writes), v)
			return
		default:
		}
	}
}
