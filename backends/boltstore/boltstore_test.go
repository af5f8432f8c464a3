package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/boltstore"
)

// open returns a store on a new file in a temporary directory, closed when
// the test ends.
func open(t testing.TB, opts *boltstore.Options) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backends.Store { return open(t, nil) })
}
