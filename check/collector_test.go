package check_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/check"
)

// rerunStore runs every View's function twice, as an optimistic adapter
// does when the first run's reads changed.
type rerunStore struct{ backends.Store }

func (s rerunStore) View(ctx context.Context, fn func(backends.Tx) error) error {
	return s.Store.View(ctx, func(tx backends.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return fn(tx)
	})
}

func TestCollectorReportsOncePerView(t *testing.T) {
	c := check.NewCollector("pkg", check.Options{MaxFindings: 2})
	store := rerunStore{memstore.New()}
	c.Add("before", nil, nil, "found %d", 1)
	err := c.View(context.Background(), store, func(tx backends.Tx) error {
		for i := range 3 {
			c.Add("inside", nil, []check.Key{{Bucket: "b", Key: []byte{byte(i)}}}, "item %d", i)
		}
		return nil
	})
	require.NoError(t, err)
	var got []string
	for _, f := range c.Findings() {
		got = append(got, f.String())
	}
	assert.Equal(t, []string{"pkg.before: pkg: found 1", "pkg.inside: pkg: item 0", "pkg.inside: pkg: item 1"}, got,
		"a re-run View reports once, and the limit counts each invariant once")

	boom := errors.New("boom")
	assert.ErrorIs(t, c.View(context.Background(), store, func(backends.Tx) error { return boom }), boom)
}

func TestCollectorDefersToTheRunThatCounts(t *testing.T) {
	c := check.NewCollector("pkg", check.Options{})
	store := rerunStore{memstore.New()}
	runs := 0
	require.NoError(t, c.View(context.Background(), store, func(backends.Tx) error {
		c.Defer(func() { runs++ })
		return nil
	}))
	assert.Equal(t, 1, runs, "the discarded run's Defer is dropped")
	boom := errors.New("boom")
	require.ErrorIs(t, c.View(context.Background(), store, func(backends.Tx) error {
		c.Defer(func() { runs++ })
		return boom
	}), boom)
	assert.Equal(t, 1, runs, "a failed View runs nothing")
}

func TestScanBatches(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	require.NoError(t, store.Update(ctx, func(tx backends.Tx) error {
		for i := range 7 {
			if err := tx.Put("b", []byte{byte(i)}, []byte{byte(10 + i)}); err != nil {
				return err
			}
		}
		return nil
	}))
	c := check.NewCollector("pkg", check.Options{})
	var sizes []int
	var values []byte
	require.NoError(t, c.ScanBatches(ctx, rerunStore{store}, "b", 3, func(tx backends.Tx, batch []check.KeyValue) error {
		n := len(batch)
		c.Defer(func() { sizes = append(sizes, n) })
		for _, kv := range batch {
			c.Defer(func() { values = append(values, kv.Value[0]) })
		}
		return nil
	}))
	assert.Equal(t, []int{3, 3, 1}, sizes)
	assert.Equal(t, []byte{10, 11, 12, 13, 14, 15, 16}, values)
}
