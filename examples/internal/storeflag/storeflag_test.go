package storeflag

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/redistest"
)

// roundTrip writes a key and reads it back.
func roundTrip(t *testing.T, s backends.Store) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return tx.Put("b", []byte("k"), []byte("v")) }))
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		v, err := tx.Get("b", []byte("k"))
		assert.Equal(t, "v", string(v))
		return err
	}))
}

func TestOpen(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		o, err := Open("memory", nil)
		require.NoError(t, err)
		assert.Equal(t, "memory", o.Kind)
		roundTrip(t, o.Store)
		require.NoError(t, o.Store.Close())
		o.Cleanup()
	})
	t.Run("bolt in a temporary folder", func(t *testing.T) {
		o, err := Open("bolt", &Options{TempPattern: "storeflag-test-"})
		require.NoError(t, err)
		assert.Equal(t, "bolt", o.Kind)
		roundTrip(t, o.Store)
		require.NoError(t, o.Store.Close())
		require.FileExists(t, o.Path)
		o.Cleanup()
		_, err = os.Stat(filepath.Dir(o.Path))
		assert.True(t, os.IsNotExist(err), "the temporary folder is removed: %v", err)
	})
	for _, spec := range []string{"bolt:", ""} {
		t.Run("bolt file "+spec+"<path>", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			o, err := Open(spec+path, nil)
			require.NoError(t, err)
			assert.Equal(t, path, o.Path)
			roundTrip(t, o.Store)
			require.NoError(t, o.Store.Close())
			o.Cleanup()
			assert.FileExists(t, path, "a named file stays")
		})
	}
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		o, err := Open("redis://"+srv.Addr+"/0", &Options{KeyPrefix: "storeflag-test"})
		require.NoError(t, err)
		assert.Equal(t, "redis", o.Kind)
		roundTrip(t, o.Store)
		require.NoError(t, o.Store.Close())
		o.Cleanup()
	})
	for _, spec := range []string{"etcd://x", "", "bolt:", "redis://host:notaport/x"} {
		t.Run("bad "+spec, func(t *testing.T) {
			_, err := Open(spec, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `-store "`+spec+`"`)
		})
	}
}
