package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/metalkit/metalkit/backends"
)

// Tracker wraps a store and remembers every bucket an Update wrote to, so a
// test can dump the whole written state and show that a failed operation
// changed nothing.
type Tracker struct {
	backends.Store
	mu      sync.Mutex
	buckets map[string]bool
}

// Track wraps s.
func Track(s backends.Store) *Tracker {
	return &Tracker{Store: s, buckets: map[string]bool{}}
}

// Update runs fn with a Tx that records the buckets it writes.
func (t *Tracker) Update(ctx context.Context, fn func(backends.Tx) error) error {
	return t.Store.Update(ctx, func(tx backends.Tx) error {
		return fn(&trackingTx{Tx: tx, t: t})
	})
}

// Dump returns every key of every bucket ever written through t, as
// "bucket/hex(key)" -> hex(value).
func (t *Tracker) Dump(tb testing.TB) map[string]string {
	tb.Helper()
	t.mu.Lock()
	buckets := make([]string, 0, len(t.buckets))
	for b := range t.buckets {
		buckets = append(buckets, b)
	}
	t.mu.Unlock()
	slices.Sort(buckets)
	out := map[string]string{}
	err := t.Store.View(context.Background(), func(tx backends.Tx) error {
		clear(out)
		for _, b := range buckets {
			err := tx.Ascend(b, nil, func(k, v []byte) (bool, error) {
				out[fmt.Sprintf("%s/%x", b, k)] = fmt.Sprintf("%x", v)
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("storetest: dump: %v", err)
	}
	return out
}

type trackingTx struct {
	backends.Tx
	t *Tracker
}

func (x *trackingTx) note(bucket string) {
	x.t.mu.Lock()
	x.t.buckets[bucket] = true
	x.t.mu.Unlock()
}

func (x *trackingTx) Put(bucket string, key, value []byte) error {
	x.note(bucket)
	return x.Tx.Put(bucket, key, value)
}

func (x *trackingTx) Delete(bucket string, key []byte) error {
	x.note(bucket)
	return x.Tx.Delete(bucket, key)
}
