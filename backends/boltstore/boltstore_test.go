package boltstore_test

import (
	"context"
	"encoding/binary"
	"os"
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

// TestAppendedKeysFillTheFile: keys appended in order (as allocated
// addresses are) in many small transactions take at most twice their
// bytes in the file: pages are filled, not split in half, and the file
// grows in small steps.
func TestAppendedKeysFillTheFile(t *testing.T) {
	s := open(t, &boltstore.Options{NoSync: true})
	const txs, perTx = 100, 500
	value := make([]byte, 55)
	logical := 0
	for i := range txs {
		require.NoError(t, s.Update(context.Background(), func(tx backends.Tx) error {
			for j := range perTx {
				k := binary.BigEndian.AppendUint32([]byte{4}, uint32(i*perTx+j))
				if err := tx.Put("ips", k, value); err != nil {
					return err
				}
			}
			return nil
		}))
		logical += perTx * (5 + len(value))
	}
	fi, err := os.Stat(s.Path())
	require.NoError(t, err)
	t.Logf("%d keys of %d bytes with their values: file of %d bytes, %.2f times the data", txs*perTx, 5+len(value), fi.Size(), float64(fi.Size())/float64(logical))
	require.LessOrEqual(t, fi.Size(), int64(2*logical))
}
