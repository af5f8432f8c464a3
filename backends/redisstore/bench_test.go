package redisstore_test

import (
	"testing"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/internal/redistest"
)

// benchStores returns a constructor of empty stores (one key prefix each)
// on one private redis-server that lives as long as b.
func benchStores(b *testing.B) func(tb testing.TB) backends.Store {
	client := redistest.Start(b).Client(b)
	return func(tb testing.TB) backends.Store { return newStore(tb, client, nil) }
}

func BenchmarkStore(b *testing.B) {
	newStore := benchStores(b)
	b.Run("redisstore", func(b *testing.B) { backendtest.BenchmarkStore(b, newStore) })
}

func BenchmarkStoreParallel(b *testing.B) {
	newStore := benchStores(b)
	b.Run("redisstore", func(b *testing.B) { backendtest.BenchmarkStoreParallel(b, newStore) })
}
