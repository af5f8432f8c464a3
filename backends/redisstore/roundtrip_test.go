package redisstore_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/redistest"
)

// roundTrips counts commands and pipelines sent by a client: each is one
// round trip to the server.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestRoundTrips pins the number of round trips of typical transactions,
// the figure that dominates the cost of a networked store.
func TestRoundTrips(t *testing.T) {
	client := redistest.Start(t).Client(t)
	rt := &roundTrips{}
	client.AddHook(rt)
	s := newStore(t, client, nil)
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		for _, k := range []string{"a", "b", "c", "d"} {
			if err := tx.Put("free", []byte(k), []byte(k)); err != nil {
				return err
			}
		}
		return tx.Put("meta", []byte("m"), []byte("1"))
	}))
	count := func(name string, want int64, fn func() error) {
		t.Helper()
		before := rt.n.Load()
		require.NoError(t, fn(), name)
		assert.Equal(t, want, rt.n.Load()-before, "round trips of %s", name)
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

	count("a View of one key", 1, func() error {
		return s.View(ctx, func(tx backends.Tx) error { return get(tx, "meta", "m") })
	})
	count("a View of two keys", 3, func() error {
		return s.View(ctx, func(tx backends.Tx) error {
			if err := get(tx, "meta", "m"); err != nil {
				return err
			}
			return get(tx, "meta", "x")
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
	// The shape of an allocation: a few Gets (one repeated), a short scan,
	// a few writes.
	count("an allocation", 3+2+1, func() error {
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
}
