package backendtest

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

func insert(bucket, key, value string) func(backends.Tx) error {
	return func(tx backends.Tx) error {
		return backends.Insert(tx, bucket, []byte(key), []byte(value))
	}
}

func testInsert(t *testing.T, s backends.Store) {
	put(t, s, "b", "taken", "old", "other", "x")

	// Absent keys, in a bucket that exists and in one that does not.
	require.NoError(t, s.Update(ctx, insert("b", "free", "new")))
	require.NoError(t, s.Update(ctx, insert("fresh", "k", "v")))
	got, err := get(t, s, "b", "free")
	require.NoError(t, err)
	assert.Equal(t, "new", got)
	assert.Equal(t, []string{"free=new", "other=x", "taken=old"}, scan(t, s, "b", nil, false))
	assert.Equal(t, []string{"b", "fresh"}, buckets(t, s, ""))

	// A key that holds a value fails the whole transaction, whether the
	// transaction knew the key or the commit finds out, and whatever else
	// it wrote.
	put(t, s, "gone", "last", "v")
	before := Dump(t, s)
	err = s.Update(ctx, func(tx backends.Tx) error {
		if err := tx.Put("b", []byte("a"), []byte("1")); err != nil {
			return err
		}
		if err := tx.Delete("gone", []byte("last")); err != nil {
			return err
		}
		if err := backends.Insert(tx, "fresh", []byte("k2"), []byte("v")); err != nil {
			return err
		}
		return backends.Insert(tx, "b", []byte("taken"), []byte("clobbered"))
	})
	require.ErrorIs(t, err, backends.ErrKeyExists)
	assert.ErrorIs(t, err, errdefs.ErrCorrupt)
	assert.Contains(t, err.Error(), `"b"`, "the error names the bucket")
	Unchanged(t, before, s)

	// Known to the transaction: Insert fails itself.
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		_, err := tx.Get("b", []byte("other"))
		require.NoError(t, err)
		assert.ErrorIs(t, backends.Insert(tx, "b", []byte("other"), []byte("y")), backends.ErrKeyExists, "a key read before")
		require.NoError(t, tx.Put("b", []byte("mine"), []byte("1")))
		assert.ErrorIs(t, backends.Insert(tx, "b", []byte("mine"), []byte("2")), backends.ErrKeyExists, "a key written before")
		require.NoError(t, tx.Delete("b", []byte("free")))
		require.NoError(t, backends.Insert(tx, "b", []byte("free"), []byte("again")), "a key deleted before")
		v, err := tx.Get("b", []byte("free"))
		require.NoError(t, err)
		assert.Equal(t, "again", string(v), "the transaction sees its insert")
		return nil
	}))
	got, err = get(t, s, "b", "other")
	require.NoError(t, err)
	assert.Equal(t, "x", got, "a failed Insert buffers nothing")
	got, err = get(t, s, "b", "mine")
	require.NoError(t, err)
	assert.Equal(t, "1", got)
	got, err = get(t, s, "b", "free")
	require.NoError(t, err)
	assert.Equal(t, "again", got)

	// An Insert with the last delete of another bucket: the bucket vanishes.
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		if err := tx.Delete("gone", []byte("last")); err != nil {
			return err
		}
		return backends.Insert(tx, "b", []byte("z"), []byte("1"))
	}))
	assert.Equal(t, []string{"b", "fresh"}, buckets(t, s, ""))

	// Read-only and invalid.
	assert.ErrorIs(t, s.View(ctx, insert("b", "ro", "v")), backends.ErrReadOnly)
	assert.ErrorIs(t, s.Update(ctx, insert("b", "", "v")), backends.ErrInvalidKey)
	assert.ErrorIs(t, s.Update(ctx, insert("", "k", "v")), backends.ErrInvalidKey)
}

// testInsertRace: of concurrent Inserts of one key, exactly one commits.
func testInsertRace(t *testing.T, s backends.Store) {
	const writers = 8
	for round := range 5 {
		k := string(key(round))
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[w] = s.Update(ctx, insert("race", k, string(rune('a'+w))))
			}()
		}
		wg.Wait()
		winner := -1
		for w, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "round %d: two Inserts committed", round)
				winner = w
				continue
			}
			require.True(t, errors.Is(err, backends.ErrKeyExists), "round %d writer %d: %v", round, w, err)
		}
		require.NotEqual(t, -1, winner, "round %d: no Insert committed", round)
		got, err := get(t, s, "race", k)
		require.NoError(t, err)
		assert.Equal(t, string(rune('a'+winner)), got, "round %d: the winner's value is stored", round)
	}
}
