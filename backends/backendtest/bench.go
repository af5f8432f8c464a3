package backendtest

import (
	"sync/atomic"
	"testing"

	"github.com/metalkit/metalkit/backends"
)

// BenchmarkStore measures one adapter: "get" (one key per View), "put" (one
// key per Update) and "scan" (a 1,000-key ordered scan per View). Adapters
// call it as b.Run("<adapter>", ...) from their own BenchmarkStore, so the
// names read BenchmarkStore/<adapter>/<op>.
func BenchmarkStore(b *testing.B, newStore func(tb testing.TB) backends.Store) {
	b.Run("get", func(b *testing.B) {
		s := newStore(b)
		fillBench(b, s, "bench", 1000)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := s.View(ctx, func(tx backends.Tx) error {
				_, err := tx.Get("bench", key(i%1000))
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("put", func(b *testing.B) {
		s := newStore(b)
		val := make([]byte, 64)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := s.Update(ctx, func(tx backends.Tx) error {
				return tx.Put("bench", key(i), val)
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		s := newStore(b)
		fillBench(b, s, "bench", 1000)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			n := 0
			if err := s.View(ctx, func(tx backends.Tx) error {
				n = 0
				return tx.Ascend("bench", nil, func(k, v []byte) (bool, error) {
					n++
					return true, nil
				})
			}); err != nil {
				b.Fatal(err)
			}
			if n != 1000 {
				b.Fatalf("scanned %d keys, want 1000", n)
			}
		}
	})
}

// BenchmarkStoreParallel measures concurrent writers: "put" runs one
// Update of one distinct key per operation from GOMAXPROCS*parallelism
// goroutines (b.SetParallelism(8) by default, so writers outnumber cores).
func BenchmarkStoreParallel(b *testing.B, newStore func(tb testing.TB) backends.Store) {
	b.Run("put", func(b *testing.B) {
		s := newStore(b)
		val := make([]byte, 64)
		var next atomic.Int64
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := key(int(next.Add(1)))
				if err := s.Update(ctx, func(tx backends.Tx) error {
					return tx.Put("bench", k, val)
				}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func fillBench(tb testing.TB, s backends.Store, bucket string, n int) {
	tb.Helper()
	val := make([]byte, 64)
	if err := s.Update(ctx, func(tx backends.Tx) error {
		for i := 0; i < n; i++ {
			if err := tx.Put(bucket, key(i), val); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
}
