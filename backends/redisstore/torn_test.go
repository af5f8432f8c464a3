package redisstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/redisstore"
	"github.com/metalkit/metalkit/internal/redistest"
)

var errTorn = errors.New("the reads do not fit together")

// readPair reads a and b of bucket "p", which every writer keeps equal, and
// returns errTorn, as a domain function would return a domain error, when
// they differ.
func readPair(tx backends.Tx) error {
	a, err := tx.Get("p", []byte("a"))
	if err != nil {
		return err
	}
	b, err := tx.Get("p", []byte("b"))
	if err != nil {
		return err
	}
	if string(a) != string(b) {
		return fmt.Errorf("a=%s b=%s: %w", a, b, errTorn)
	}
	return nil
}

func putPair(t *testing.T, s backends.Store, v string) {
	t.Helper()
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		if err := tx.Put("p", []byte("a"), []byte(v)); err != nil {
			return err
		}
		return tx.Put("p", []byte("b"), []byte(v))
	}))
}

// TestTornReadRunsAgain: when fn returns an error after reads that a
// concurrent commit tore apart, the store runs fn again instead of
// returning the error.
func TestTornReadRunsAgain(t *testing.T) {
	s := newStore(t, redistest.Start(t).Client(t), nil)
	putPair(t, s, "0")
	for _, view := range []bool{true, false} {
		runs := 0
		fn := func(tx backends.Tx) error {
			runs++
			a, err := tx.Get("p", []byte("a"))
			if err != nil {
				return err
			}
			if runs == 1 {
				putPair(t, s, fmt.Sprint("new", view)) // between the two reads
			}
			b, err := tx.Get("p", []byte("b"))
			if err != nil {
				return err
			}
			if string(a) != string(b) {
				return errTorn
			}
			return nil
		}
		var err error
		if view {
			err = s.View(ctx, fn)
		} else {
			err = s.Update(ctx, fn)
		}
		require.NoError(t, err, "view %v", view)
		assert.Equal(t, 2, runs, "view %v", view)
	}
}

// TestTornScanRunsAgain: a scan across many batches while writers move
// keys around (the bucket always holds 50 keys) never shows fn a torn
// listing, so fn's error for one never escapes.
func TestTornScanRunsAgain(t *testing.T) {
	s := newStore(t, redistest.Start(t).Client(t), &redisstore.Options{ScanBatch: 3})
	const n = 50
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		for i := range n {
			if err := tx.Put("m", []byte(fmt.Sprintf("%03d", 2*i)), nil); err != nil {
				return err
			}
		}
		return nil
	}))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Move one key: delete it and add a neighbour, in one commit.
			from, to := fmt.Sprintf("%03d", 2*(i%n)), fmt.Sprintf("%03d", 2*(i%n)+1)
			if i/n%2 == 1 {
				from, to = to, from
			}
			if err := s.Update(ctx, func(tx backends.Tx) error {
				if err := tx.Delete("m", []byte(from)); err != nil {
					return err
				}
				return tx.Put("m", []byte(to), nil)
			}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 20 {
		err := s.View(ctx, func(tx backends.Tx) error {
			count := 0
			if err := tx.Ascend("m", nil, func(k, v []byte) (bool, error) { count++; return true, nil }); err != nil {
				return err
			}
			if count != n {
				return fmt.Errorf("%d keys: %w", count, errTorn)
			}
			return nil
		})
		require.NoError(t, err)
	}
	close(stop)
	wg.Wait()
}

// TestUnknownConsistencyIsUnavailable: when the store cannot find out
// whether fn's reads were consistent (the server is gone before the
// validation), or a read failed, the result is ErrUnavailable with the
// network error, whatever fn returned.
func TestUnknownConsistencyIsUnavailable(t *testing.T) {
	errDomain := errors.New("every prefix is exhausted")
	cases := []struct {
		name string
		fn   func(srv *redistest.Server) func(tx backends.Tx) error
	}{
		{"fn fails after reads in several steps, the server is gone before the validation", func(srv *redistest.Server) func(tx backends.Tx) error {
			return func(tx backends.Tx) error {
				if err := readPair(tx); err != nil {
					return err
				}
				if err := tx.Ascend("p", nil, func(k, v []byte) (bool, error) { return true, nil }); err != nil {
					return err
				}
				srv.Kill(t)
				return errDomain
			}
		}},
		{"fn turns a failed read into its own error", func(srv *redistest.Server) func(tx backends.Tx) error {
			return func(tx backends.Tx) error {
				if _, err := tx.Get("p", []byte("a")); err != nil {
					return err
				}
				srv.Kill(t)
				if _, err := tx.Get("p", []byte("b")); err != nil {
					return errDomain // a domain function that misreads the failure
				}
				return nil
			}
		}},
		{"fn swallows a failed scan", func(srv *redistest.Server) func(tx backends.Tx) error {
			return func(tx backends.Tx) error {
				srv.Kill(t)
				_ = tx.Ascend("p", nil, func(k, v []byte) (bool, error) { return true, nil })
				return nil
			}
		}},
	}
	for _, tc := range cases {
		for _, view := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/view=%v", tc.name, view), func(t *testing.T) {
				srv := redistest.Start(t)
				client := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second})
				t.Cleanup(func() { _ = client.Close() })
				s := newStore(t, client, nil)
				putPair(t, s, "0")
				fn := tc.fn(srv)
				var err error
				if view {
					err = s.View(ctx, fn)
				} else {
					err = s.Update(ctx, func(tx backends.Tx) error {
						if err := fn(tx); err != nil {
							return err
						}
						return tx.Put("p", []byte("c"), nil)
					})
				}
				require.ErrorIs(t, err, backends.ErrUnavailable)
				assert.NotErrorIs(t, err, errDomain, "the domain error of unverified reads escaped")
			})
		}
	}
}

// TestConsistentErrorNeedsNoValidation: an error fn derived from reads made
// in one atomic step is returned as it is, even when the server is gone
// afterwards: those reads were consistent.
func TestConsistentErrorNeedsNoValidation(t *testing.T) {
	errDomain := errors.New("every prefix is exhausted")
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	s := newStore(t, client, nil)
	putPair(t, s, "0")
	err := s.View(ctx, func(tx backends.Tx) error {
		if err := readPair(tx); err != nil { // a GET, then both keys again in one MGET
			return err
		}
		srv.Kill(t)
		return errDomain
	})
	require.ErrorIs(t, err, errDomain)
}

// TestIndexWithoutValue: a key in a bucket's index without its value (a
// store changed by other means) is skipped by scans, in every batch size,
// and is not found by Get.
func TestIndexWithoutValue(t *testing.T) {
	srv := redistest.Start(t)
	raw := srv.Client(t)
	for _, batch := range []int{1, 2, 1024} {
		prefix := uniquePrefix()
		s := newStore(t, raw, &redisstore.Options{KeyPrefix: prefix, ScanBatch: batch})
		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
			for _, k := range []string{"a", "c"} {
				if err := tx.Put("b", []byte(k), []byte(k)); err != nil {
					return err
				}
			}
			return nil
		}))
		require.NoError(t, raw.ZAdd(ctx, "{"+prefix+"}:i:1:b", redis.Z{Member: "b"}).Err())
		for _, desc := range []bool{false, true} {
			var got []string
			require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
				got = nil
				visit := func(k, v []byte) (bool, error) { got = append(got, string(k)); return true, nil }
				if desc {
					return tx.Descend("b", nil, visit)
				}
				return tx.Ascend("b", nil, visit)
			}))
			want := []string{"a", "c"}
			if desc {
				want = []string{"c", "a"}
			}
			assert.Equal(t, want, got, "batch %d, descending %v", batch, desc)
		}
		require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
			if err := tx.Ascend("b", nil, func(k, v []byte) (bool, error) { return true, nil }); err != nil {
				return err
			}
			_, err := tx.Get("b", []byte("b"))
			assert.ErrorIs(t, err, backends.ErrNotFound)
			return nil
		}))
	}
}
