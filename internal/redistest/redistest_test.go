package redistest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/internal/redistest"
)

func TestStartAnswersAndIsPrivate(t *testing.T) {
	a := redistest.Start(t)
	b := redistest.Start(t)
	require.NotEqual(t, a.Addr, b.Addr)
	ctx := context.Background()
	ca, cb := a.Client(t), b.Client(t)
	require.NoError(t, ca.Set(ctx, "k", "a", 0).Err())
	require.NoError(t, cb.Set(ctx, "k", "b", 0).Err())
	v, err := ca.Get(ctx, "k").Result()
	require.NoError(t, err)
	require.Equal(t, "a", v)
}

// A durable server keeps every acknowledged write across a kill and a
// restart on the same address; a server without persistence loses them.
func TestKillRestart(t *testing.T) {
	ctx := context.Background()
	for _, durable := range []bool{true, false} {
		s := redistest.StartWith(t, &redistest.Options{Durable: durable})
		c := s.Client(t)
		require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
		pid := s.Pid()
		s.Kill(t)
		require.Error(t, c.Ping(ctx).Err(), "the killed server still answers")
		s.Restart(t)
		require.NotEqual(t, pid, s.Pid())
		n, err := c.Exists(ctx, "k").Result()
		require.NoError(t, err, "the client reconnects to the restarted server")
		if durable {
			require.Equal(t, int64(1), n, "an acknowledged write was lost by the durable server")
		} else {
			require.Equal(t, int64(0), n)
		}
	}
}
