package memstore_test

import (
	"testing"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/memstore"
)

func newStore(tb testing.TB) backends.Store { return memstore.New() }

func BenchmarkStore(b *testing.B) {
	b.Run("memstore", func(b *testing.B) { backendtest.BenchmarkStore(b, newStore) })
}

func BenchmarkStoreParallel(b *testing.B) {
	b.Run("memstore", func(b *testing.B) { backendtest.BenchmarkStoreParallel(b, newStore) })
}
