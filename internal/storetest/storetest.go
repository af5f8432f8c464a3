// Package storetest gives domain tests one table of stores, so that a flow
// written once runs on every adapter.
package storetest

import (
	"path/filepath"
	"testing"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/boltstore"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/backends/redisstore"
	"github.com/metalkit/metalkit/internal/redistest"
)

// Factory makes a new, empty store of one adapter for a test or benchmark;
// the store is closed when tb ends.
type Factory struct {
	Name string
	New  func(tb testing.TB) backends.Store
}

// Factories lists every adapter. The bbolt store is a new file in a
// temporary folder, opened with NoSync (durability is the adapter's own
// test subject; domain tests want speed). The Redis store gets a private
// redis-server per store (see redistest: skipped without the binary unless
// METALKIT_REQUIRE_REDIS=1).
func Factories() []Factory {
	return []Factory{
		{Name: "memstore", New: newMem},
		{Name: "boltstore", New: newBolt},
		{Name: "redisstore", New: newRedis},
	}
}

// Each runs fn as a subtest per adapter, each with a new, empty store.
func Each(t *testing.T, fn func(t *testing.T, s backends.Store)) {
	t.Helper()
	for _, f := range Factories() {
		t.Run(f.Name, func(t *testing.T) { fn(t, f.New(t)) })
	}
}

// New returns a new, empty store of the named adapter ("memstore",
// "boltstore" or "redisstore").
func New(tb testing.TB, name string) backends.Store {
	tb.Helper()
	for _, f := range Factories() {
		if f.Name == name {
			return f.New(tb)
		}
	}
	tb.Fatalf("storetest: no adapter named %q", name)
	return nil
}

func newMem(tb testing.TB) backends.Store {
	s := memstore.New()
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func newBolt(tb testing.TB) backends.Store {
	s, err := boltstore.Open(filepath.Join(tb.TempDir(), "store.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		tb.Fatalf("storetest: open bbolt: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func newRedis(tb testing.TB) backends.Store {
	srv := redistest.Start(tb)
	s, err := redisstore.New(srv.Client(tb), nil)
	if err != nil {
		tb.Fatalf("storetest: redisstore: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}
