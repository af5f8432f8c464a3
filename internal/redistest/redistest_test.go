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
