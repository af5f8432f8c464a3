package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/boltstore"
)

// newBenchStore opens a durable store (fsync at every commit) on a new file.
func newBenchStore(tb testing.TB) backends.Store {
	s, err := boltstore.Open(filepath.Join(tb.TempDir(), "bench.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func BenchmarkStore(b *testing.B) {
	b.Run("boltstore", func(b *testing.B) { backendtest.BenchmarkStore(b, newBenchStore) })
}

func BenchmarkStoreParallel(b *testing.B) {
	b.Run("boltstore", func(b *testing.B) { backendtest.BenchmarkStoreParallel(b, newBenchStore) })
}
