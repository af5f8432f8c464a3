package backendtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
)

// buckets lists the buckets of s from from on.
func buckets(t *testing.T, s backends.Store, from string) []string {
	t.Helper()
	var out []string
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		out = nil
		return tx.Buckets(from, func(name string) (bool, error) {
			out = append(out, name)
			return true, nil
		})
	}))
	return out
}

func testBucketsListing(t *testing.T, s backends.Store) {
	assert.Empty(t, buckets(t, s, ""))
	put(t, s, "b", "k", "v")
	put(t, s, "a", "k", "v")
	put(t, s, "a\x00x", "k", "v")
	put(t, s, "ab", "k", "v")
	put(t, s, "a", "k2", "v")
	assert.Equal(t, []string{"a", "a\x00x", "ab", "b"}, buckets(t, s, ""), "byte order, each once")
	assert.Equal(t, []string{"ab", "b"}, buckets(t, s, "aa"))
	assert.Equal(t, []string{"b"}, buckets(t, s, "b"))
	assert.Empty(t, buckets(t, s, "c"))

	var first []string
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		first = nil
		return tx.Buckets("", func(name string) (bool, error) {
			first = append(first, name)
			return len(first) < 2, nil
		})
	}))
	assert.Equal(t, []string{"a", "a\x00x"}, first, "stops when fn says so")
}

func testEmptyBucketsVanish(t *testing.T, s backends.Store) {
	put(t, s, "keep", "k", "v")
	put(t, s, "gone", "k1", "v", "k2", "v")
	require.Equal(t, []string{"gone", "keep"}, buckets(t, s, ""))
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return tx.Delete("gone", []byte("k1")) }))
	assert.Equal(t, []string{"gone", "keep"}, buckets(t, s, ""), "one key left")
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return tx.Delete("gone", []byte("k2")) }))
	assert.Equal(t, []string{"keep"}, buckets(t, s, ""), "the last delete removes the bucket")
	assert.Empty(t, scan(t, s, "gone", nil, false))

	// Created and emptied again in one transaction: never appears.
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		if err := tx.Put("brief", []byte("k"), []byte("v")); err != nil {
			return err
		}
		return tx.Delete("brief", []byte("k"))
	}))
	assert.Equal(t, []string{"keep"}, buckets(t, s, ""))

	// A bucket that vanished can be written again.
	put(t, s, "gone", "k3", "v")
	got, err := get(t, s, "gone", "k3")
	require.NoError(t, err)
	assert.Equal(t, "v", got)
	assert.Equal(t, []string{"gone", "keep"}, buckets(t, s, ""))
}

func testBucketsSeeOwnWrites(t *testing.T, s backends.Store) {
	put(t, s, "old", "k", "v")
	var inside []string
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		inside = nil
		if err := tx.Put("new", []byte("k"), []byte("v")); err != nil {
			return err
		}
		if err := tx.Delete("old", []byte("k")); err != nil {
			return err
		}
		return tx.Buckets("", func(name string) (bool, error) {
			inside = append(inside, name)
			return true, nil
		})
	}))
	assert.Equal(t, []string{"new"}, inside)
	assert.Equal(t, []string{"new"}, buckets(t, s, ""))
}

func testPrefixHelpers(t *testing.T, s backends.Store) {
	put(t, s, "p", "a\x00", "1", "a\x001", "2", "a\x002", "3", "ab", "4", "b", "5")
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		keys, err := backends.KeysWithPrefix(tx, "p", []byte("a\x00"))
		require.NoError(t, err)
		assert.Equal(t, [][]byte{[]byte("a\x00"), []byte("a\x001"), []byte("a\x002")}, keys)
		all, err := backends.KeysWithPrefix(tx, "p", nil)
		require.NoError(t, err)
		assert.Len(t, all, 5)
		has, err := backends.HasPrefix(tx, "p", []byte("b"))
		require.NoError(t, err)
		assert.True(t, has)
		has, err = backends.HasPrefix(tx, "p", []byte("c"))
		require.NoError(t, err)
		assert.False(t, has)
		has, err = backends.Has(tx, "p", []byte("a\x001"))
		require.NoError(t, err)
		assert.True(t, has)
		has, err = backends.Has(tx, "p", []byte("a"))
		require.NoError(t, err)
		assert.False(t, has, "a prefix of keys is no key")
		has, err = backends.Has(tx, "none", []byte("a"))
		require.NoError(t, err)
		assert.False(t, has, "a key of a missing bucket")
		return nil
	}))
	desc := func(prefix, from []byte) []string {
		var out []string
		require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
			out = nil
			return backends.DescendPrefix(tx, "p", prefix, from, func(k, _ []byte) (bool, error) {
				out = append(out, string(k))
				return true, nil
			})
		}))
		return out
	}
	assert.Equal(t, []string{"a\x002", "a\x001", "a\x00"}, desc([]byte("a\x00"), nil))
	assert.Equal(t, []string{"a\x001", "a\x00"}, desc([]byte("a\x00"), []byte("a\x001")))
	assert.Equal(t, []string{"ab", "a\x002", "a\x001", "a\x00"}, desc([]byte("a"), nil))
	assert.Equal(t, []string{"b"}, desc([]byte("b"), nil), "the successor of the prefix is skipped, nothing before it follows")
	assert.Empty(t, desc([]byte("c"), nil))
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		n, err := backends.DeletePrefix(tx, "p", []byte("a"))
		assert.Equal(t, 4, n)
		return err
	}))
	assert.Equal(t, []string{"b=5"}, scan(t, s, "p", nil, false))
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		_, err := backends.DeletePrefix(tx, "p", nil)
		return err
	}))
	assert.Empty(t, buckets(t, s, ""))
}
