package redisstore_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/redisstore"
	"github.com/metalkit/metalkit/internal/redistest"
)

// TestRoundTrips pins the number of round trips of typical transactions,
// the figure that dominates the cost of a networked store, and logs the
// bytes each exchanges with the server.
func TestRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	other := srv.Client(t)
	wire := &redistest.Wire{}
	client.AddHook(wire)
	prefix := uniquePrefix()
	s := newStore(t, client, &redisstore.Options{KeyPrefix: prefix})
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		for _, k := range []string{"a", "b", "c", "d"} {
			if err := tx.Put("free", []byte(k), []byte(k)); err != nil {
				return err
			}
		}
		for i := range 1000 {
			if err := tx.Put("big", fmt.Appendf(nil, "%04d", i), []byte("value")); err != nil {
				return err
			}
		}
		return tx.Put("meta", []byte("m"), []byte("1"))
	}))
	count := func(name string, want int64, fn func() error) {
		t.Helper()
		before := wire.Count()
		require.NoError(t, fn(), name)
		got := wire.Count().Sub(before)
		assert.Equal(t, want, got.RoundTrips, "round trips of %s", name)
		t.Logf("%-36s %2d round trips %7d bytes", name, got.RoundTrips, got.Bytes)
	}
	get := func(tx backends.Tx, b, k string) error {
		_, err := tx.Get(b, []byte(k))
		if errors.Is(err, backends.ErrNotFound) {
			return nil
		}
		return err
	}
	first := func(tx backends.Tx) error {
		return tx.Ascend("free", nil, func(k, v []byte) (bool, error) { return false, nil })
	}
	// The first scan on a server loads the read script (one round trip
	// more, once per server start).
	require.NoError(t, s.View(ctx, first))

	count("a View of one key", 1, func() error {
		return s.View(ctx, func(tx backends.Tx) error { return get(tx, "meta", "m") })
	})
	// GET; WATCH both and MGET both; UNWATCH (one atomic read needs no
	// EXEC).
	count("a View of two keys", 3, func() error {
		return s.View(ctx, func(tx backends.Tx) error {
			if err := get(tx, "meta", "m"); err != nil {
				return err
			}
			return get(tx, "meta", "x")
		})
	})
	count("a View of a seek", 2, func() error { return s.View(ctx, first) })
	// Batches of 8, 32, 128, 512 and 1024 keys, then EXEC.
	count("a View of 1,000 keys", 6, func() error {
		return s.View(ctx, func(tx backends.Tx) error {
			n := 0
			err := tx.Ascend("big", nil, func(k, v []byte) (bool, error) { n++; return true, nil })
			if err == nil && n != 1000 {
				err = fmt.Errorf("scanned %d keys", n)
			}
			return err
		})
	})
	count("a blind write", 1, func() error {
		return s.Update(ctx, func(tx backends.Tx) error { return tx.Put("other", []byte("k"), nil) })
	})
	count("a read-modify-write", 2, func() error {
		return s.Update(ctx, func(tx backends.Tx) error {
			if err := get(tx, "meta", "m"); err != nil {
				return err
			}
			return tx.Put("meta", []byte("m"), []byte("2"))
		})
	})
	// The shape of an allocation: a few Gets (one repeated), a seek, a
	// Get the seek answered, a few writes.
	count("an allocation", 3+1+1, func() error {
		return s.Update(ctx, func(tx backends.Tx) error {
			for _, k := range []string{"m", "n", "o", "m"} {
				if err := get(tx, "meta", k); err != nil {
					return err
				}
			}
			if err := first(tx); err != nil {
				return err
			}
			if err := get(tx, "free", "a"); err != nil { // covered by the scan
				return err
			}
			if err := tx.Delete("free", []byte("a")); err != nil {
				return err
			}
			if err := tx.Put("free", []byte("a2"), nil); err != nil {
				return err
			}
			return tx.Put("meta", []byte("m"), []byte("3"))
		})
	})
	// The same, with the reads announced: one step, then EXEC.
	count("an allocation with announced reads", 2, func() error {
		return s.Update(ctx, func(tx backends.Tx) error {
			if err := backends.Prefetch(tx,
				backends.ReadKey("meta", []byte("m")), backends.ReadKey("meta", []byte("n")),
				backends.ReadKey("meta", []byte("o")), backends.ReadAscend("free", nil, 1)); err != nil {
				return err
			}
			for _, k := range []string{"m", "n", "o"} {
				if err := get(tx, "meta", k); err != nil {
					return err
				}
			}
			if err := first(tx); err != nil {
				return err
			}
			return tx.Put("meta", []byte("m"), []byte("4"))
		})
	})
	count("GetMany of 100 keys", 2, func() error {
		return s.View(ctx, func(tx backends.Tx) error {
			keys := make([][]byte, 100)
			for i := range keys {
				keys[i] = fmt.Appendf(nil, "%04d", i*7)
			}
			n := 0
			err := backends.GetMany(tx, "big", keys, func(int, []byte) error { n++; return nil })
			if err == nil && n != 100 {
				err = fmt.Errorf("got %d of 100 keys", n)
			}
			return err
		})
	})
	// A small bucket read in full by its first batch: a later seek from
	// anywhere in it, and a Get of any key, cost nothing.
	count("seeks in a bucket read in full", 2, func() error {
		return s.Update(ctx, func(tx backends.Tx) error {
			if err := first(tx); err != nil {
				return err
			}
			for _, k := range []string{"c", "zz", "b0"} {
				if err := tx.Descend("free", []byte(k), func(k, v []byte) (bool, error) { return false, nil }); err != nil {
					return err
				}
				if err := get(tx, "free", k); err != nil {
					return err
				}
			}
			return tx.Put("free", []byte("e"), nil)
		})
	})
	// A View whose probe changes before its second read runs again, and
	// its second run reads both keys in one unwatched step.
	runs := 0
	count("a View that runs again", 1+1+1+1, func() error {
		return s.View(ctx, func(tx backends.Tx) error {
			runs++
			if err := get(tx, "meta", "m"); err != nil {
				return err
			}
			if runs == 1 {
				if err := other.Set(ctx, "{"+prefix+"}:v:4:meta:m", "changed", 0).Err(); err != nil {
					return err
				}
			}
			return get(tx, "meta", "n")
		})
	})
	assert.Equal(t, 2, runs)
}
