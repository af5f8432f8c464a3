// Package storetest gives domain tests one table of stores, so that a flow
// written once runs on every adapter.
package storetest

import (
	"testing"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/memstore"
)

// Factory makes a new, empty store of one adapter for a test or benchmark;
// the store is closed when tb ends.
type Factory struct {
	Name string
	New  func(tb testing.TB) backends.Store
}

// Factories lists every adapter.
func Factories() []Factory {
	return []Factory{
		{Name: "memstore", New: newMem},
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
