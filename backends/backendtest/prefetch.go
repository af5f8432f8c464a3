package backendtest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
)

// readAll runs a fixed mix of Gets and scans and describes what they
// returned, so that runs with and without announced reads can be compared.
func readAll(tx backends.Tx) (string, error) {
	var b strings.Builder
	for _, k := range []string{"a", "m", "missing", "z"} {
		v, err := tx.Get("p", []byte(k))
		switch {
		case errors.Is(err, backends.ErrNotFound):
			fmt.Fprintf(&b, "%s:absent ", k)
		case err != nil:
			return "", err
		default:
			fmt.Fprintf(&b, "%s:%s ", k, v)
		}
	}
	for _, sc := range []struct {
		from  string
		desc  bool
		limit int
	}{{"", false, 3}, {"", true, 2}, {"m", false, 100}, {"m", true, 4}, {"mm", false, 2}} {
		var from []byte
		if sc.from != "" {
			from = []byte(sc.from)
		}
		n := 0
		visit := func(k, v []byte) (bool, error) {
			fmt.Fprintf(&b, "%s=%s,", k, v)
			n++
			return n < sc.limit, nil
		}
		var err error
		if sc.desc {
			err = tx.Descend("p", from, visit)
		} else {
			err = tx.Ascend("p", from, visit)
		}
		if err != nil {
			return "", err
		}
		b.WriteString("| ")
	}
	return b.String(), nil
}

// announced are the reads readAll makes, some with smaller limits than the
// scans go on to use, plus reads readAll never makes.
var announced = []backends.Read{
	backends.ReadKey("p", []byte("a")),
	backends.ReadKey("p", []byte("missing")),
	backends.ReadKey("q", []byte("k")),
	backends.ReadAscend("p", nil, 2),
	backends.ReadDescend("p", nil, 5),
	backends.ReadAscend("p", []byte("m"), 3),
	backends.ReadDescend("p", []byte("m"), 100),
	backends.ReadAscend("never-written", nil, 10),
}

func fillAlphabet(t *testing.T, s backends.Store) {
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		for c := 'a'; c <= 'z'; c++ {
			if err := tx.Put("p", []byte{byte(c)}, []byte(strings.Repeat(string(c), 3))); err != nil {
				return err
			}
		}
		return tx.Put("q", []byte("k"), []byte("q"))
	}))
}

// testPrefetch checks that announcing reads (backends.Prefetch, GetMany)
// changes nothing they return, in Views and in Updates with writes of
// their own, and that an adapter's Prefetch rejects invalid reads.
func testPrefetch(t *testing.T, s backends.Store) {
	fillAlphabet(t, s)
	var plain, ahead string
	require.NoError(t, s.View(ctx, func(tx backends.Tx) (err error) {
		plain, err = readAll(tx)
		return err
	}))
	require.NoError(t, s.View(ctx, func(tx backends.Tx) (err error) {
		if err := backends.Prefetch(tx, announced...); err != nil {
			return err
		}
		ahead, err = readAll(tx)
		return err
	}))
	assert.Equal(t, plain, ahead, "announced reads changed what a View read")

	// In an Update, the transaction's own writes win over what was
	// fetched, whether they come before or after the announcement.
	edit := func(tx backends.Tx) error {
		for _, k := range []string{"b", "n"} {
			if err := tx.Delete("p", []byte(k)); err != nil {
				return err
			}
		}
		for _, k := range []string{"a", "mm", "zz"} {
			if err := tx.Put("p", []byte(k), []byte("new")); err != nil {
				return err
			}
		}
		return nil
	}
	for _, before := range []bool{true, false} {
		errStop := errors.New("stop")
		plain, ahead = "", ""
		err := s.Update(ctx, func(tx backends.Tx) (err error) {
			if err := edit(tx); err != nil {
				return err
			}
			plain, err = readAll(tx)
			if err != nil {
				return err
			}
			return errStop
		})
		require.ErrorIs(t, err, errStop)
		err = s.Update(ctx, func(tx backends.Tx) (err error) {
			if before {
				if err := backends.Prefetch(tx, announced...); err != nil {
					return err
				}
			}
			if err := edit(tx); err != nil {
				return err
			}
			if !before {
				if err := backends.Prefetch(tx, announced...); err != nil {
					return err
				}
			}
			ahead, err = readAll(tx)
			if err != nil {
				return err
			}
			return errStop
		})
		require.ErrorIs(t, err, errStop)
		assert.Equal(t, plain, ahead, "announced reads (before the writes: %v) changed what an Update read", before)
	}

	// GetMany returns the keys that hold a value, with their index.
	rollBack := errors.New("roll back")
	err := s.Update(ctx, func(tx backends.Tx) error {
		if err := tx.Put("p", []byte("new"), []byte("mine")); err != nil {
			return err
		}
		if err := tx.Delete("p", []byte("c")); err != nil {
			return err
		}
		var got []string
		keys := [][]byte{[]byte("a"), []byte("missing"), []byte("new"), []byte("c"), []byte("z"), []byte("a")}
		if err := backends.GetMany(tx, "p", keys, func(i int, v []byte) error {
			got = append(got, fmt.Sprintf("%d:%s", i, v))
			return nil
		}); err != nil {
			return err
		}
		assert.Equal(t, []string{"0:aaa", "2:mine", "4:zzz", "5:aaa"}, got)
		boom := errors.New("boom")
		assert.ErrorIs(t, backends.GetMany(tx, "p", keys, func(int, []byte) error { return boom }), boom)
		assert.NoError(t, backends.GetMany(tx, "p", nil, func(int, []byte) error { return boom }))
		return rollBack
	})
	require.ErrorIs(t, err, rollBack)

	// An adapter that fetches ahead checks the reads first.
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		p, ok := tx.(backends.Prefetcher)
		if !ok {
			return nil
		}
		for _, r := range []backends.Read{
			{Bucket: "", Key: []byte("k")},
			{Bucket: "p"},
			{Bucket: "p", Limit: -1},
			{Bucket: "p", Key: []byte{}, Limit: 3},
		} {
			err := p.Prefetch([]backends.Read{backends.ReadKey("p", []byte("a")), r})
			assert.ErrorIs(t, err, backends.ErrInvalidKey, "read %+v", r)
		}
		return nil
	}))
}
