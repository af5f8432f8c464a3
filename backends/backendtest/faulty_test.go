package backendtest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/memstore"
)

// getPut is a transaction of one read and one write.
func getPut(tx backends.Tx) error {
	if _, err := tx.Get("b", []byte("k")); err != nil && !errors.Is(err, backends.ErrNotFound) {
		return err
	}
	return tx.Put("b", []byte("k"), []byte("v"))
}

// TestFaultyCountsEachKindApart: a planned fault strikes only the Nth
// operation of its own kind; a commit is never counted as a read or write.
func TestFaultyCountsEachKindApart(t *testing.T) {
	ctx := context.Background()
	f := backendtest.NewFaulty(memstore.New())
	for _, plan := range []backendtest.Fault{{Kind: backendtest.FailRead, N: 2}, {Kind: backendtest.FailWrite, N: 2}} {
		f.Inject(plan)
		require.NoError(t, f.Update(ctx, getPut), "%s is never reached", plan)
		assert.False(t, f.Fired(), "%s", plan)
		assert.Equal(t, backendtest.Counts{Reads: 1, Writes: 1, Commits: 1}, f.Counts(), "%s", plan)
	}
	f.Inject(backendtest.Fault{Kind: backendtest.FailCommit, N: 1})
	require.ErrorIs(t, f.Update(ctx, getPut), backendtest.ErrInjected)
	assert.True(t, f.Fired())
	f.Inject(backendtest.Fault{Kind: backendtest.LoseCommitReply, N: 1})
	require.ErrorIs(t, f.Update(ctx, getPut), backendtest.ErrInjected)
	assert.True(t, f.Fired())
}
