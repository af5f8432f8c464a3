package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/boltstore"
)

// keys returns every key of bucket in ascending order.
func keys(t *testing.T, s backends.Store, bucket string) []string {
	t.Helper()
	var out []string
	require.NoError(t, s.View(context.Background(), func(tx backends.Tx) error {
		out = out[:0]
		return tx.Ascend(bucket, nil, func(k, _ []byte) (bool, error) {
			out = append(out, string(k))
			return true, nil
		})
	}))
	return out
}

// blockWriter starts an Update whose fn waits until release is closed, so
// that the Updates started meanwhile queue up behind it and commit as one
// batch. It returns once the blocking fn is running, and the channel that
// receives its result.
func blockWriter(t *testing.T, s backends.Store, release <-chan struct{}) <-chan error {
	t.Helper()
	running := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		errc <- s.Update(context.Background(), func(tx backends.Tx) error {
			once.Do(func() { close(running) })
			<-release
			return tx.Put("block", []byte("k"), []byte("v"))
		})
	}()
	<-running
	return errc
}

// waitQueued waits until n Update calls wait in s's queue.
func waitQueued(t *testing.T, s *boltstore.Store, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return boltstore.Queued(s) == n }, 10*time.Second, time.Millisecond,
		"%d callers did not queue", n)
}

// TestGroupCommitCoalesces queues writers behind a running commit: they all
// commit in one bbolt transaction. A lone writer commits at once.
func TestGroupCommitCoalesces(t *testing.T) {
	s := open(t, nil)
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		return tx.Put("w", []byte("lone"), []byte("x"))
	}))
	require.Equal(t, int64(1), boltstore.Commits(s))

	release := make(chan struct{})
	blocked := blockWriter(t, s, release)
	const writers = 20
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx backends.Tx) error {
				return tx.Put("w", []byte(fmt.Sprintf("%02d", i)), []byte("x"))
			})
		}()
	}
	waitQueued(t, s, writers)
	close(release)
	require.NoError(t, <-blocked)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	assert.Equal(t, int64(3), boltstore.Commits(s), "the lone writer, the blocked writer, then one batch of %d", writers)
	assert.Len(t, keys(t, s, "w"), writers+1)
}

// TestGroupCommitMixedOutcomes runs many concurrent writers while a blocked
// writer makes them queue into shared batches. Some fns fail, some panic,
// some end their context and one calls runtime.Goexit; exactly the
// successful writers are committed and every caller gets its own outcome.
func TestGroupCommitMixedOutcomes(t *testing.T) {
	for round := 0; round < 5; round++ {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			s := open(t, nil)
			const writers = 60
			kind := func(i int) string {
				switch {
				case i == 29:
					return "goexit"
				case i%5 == 1:
					return "error"
				case i%7 == 3:
					return "panic"
				case i%11 == 4:
					return "cancel"
				}
				return "ok"
			}
			errs := make([]error, writers)
			for i := range errs {
				errs[i] = fmt.Errorf("writer %d fails", i)
			}
			results := make([]error, writers)
			panics := make([]any, writers)
			returned := make([]bool, writers)

			release := make(chan struct{})
			blocked := blockWriter(t, s, release)
			var wg sync.WaitGroup
			for i := 0; i < writers; i++ {
				if i == writers/2 {
					// Half the writers queue behind the blocked one and run as
					// one batch; the others join later batches.
					waitQueued(t, s, writers/2)
					close(release)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { panics[i] = recover() }()
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					results[i] = s.Update(ctx, func(tx backends.Tx) error {
						if err := tx.Put("w", []byte(fmt.Sprintf("%03d", i)), []byte("x")); err != nil {
							return err
						}
						if err := increment(tx); err != nil {
							return err
						}
						switch kind(i) {
						case "error":
							return errs[i]
						case "panic":
							panic(fmt.Sprint("writer ", i, " panics"))
						case "cancel":
							cancel()
						case "goexit":
							runtime.Goexit()
						}
						return nil
					})
					returned[i] = true
				}()
			}
			wg.Wait()
			require.NoError(t, <-blocked)

			var want []string
			for i := 0; i < writers; i++ {
				switch kind(i) {
				case "ok":
					want = append(want, fmt.Sprintf("%03d", i))
					assert.NoError(t, results[i], "writer %d", i)
					assert.Nil(t, panics[i], "writer %d", i)
				case "error":
					assert.Same(t, errs[i], results[i], "writer %d must get its own error unchanged", i)
				case "panic":
					assert.Equal(t, fmt.Sprint("writer ", i, " panics"), panics[i], "writer %d must get its own panic", i)
					assert.False(t, returned[i], "writer %d", i)
				case "cancel":
					assert.ErrorIs(t, results[i], context.Canceled, "writer %d", i)
				case "goexit":
					assert.False(t, returned[i], "writer %d", i)
					assert.Nil(t, panics[i], "writer %d", i)
				}
			}
			assert.Equal(t, want, keys(t, s, "w"), "exactly the successful writers are committed")
			assert.Equal(t, uint64(len(want)), total(t, s), "every committed writer incremented once")
			assert.Equal(t, []string{"k"}, keys(t, s, "block"))
		})
	}
}

func increment(tx backends.Tx) error {
	v, err := tx.Get("n", []byte("total"))
	var n uint64
	switch {
	case errors.Is(err, backends.ErrNotFound):
	case err != nil:
		return err
	default:
		if _, err := fmt.Sscan(string(v), &n); err != nil {
			return err
		}
	}
	return tx.Put("n", []byte("total"), []byte(fmt.Sprint(n+1)))
}

func total(t *testing.T, s backends.Store) uint64 {
	t.Helper()
	var n uint64
	require.NoError(t, s.View(context.Background(), func(tx backends.Tx) error {
		v, err := tx.Get("n", []byte("total"))
		if errors.Is(err, backends.ErrNotFound) {
			n = 0
			return nil
		}
		if err != nil {
			return err
		}
		_, err = fmt.Sscan(string(v), &n)
		return err
	}))
	return n
}

// TestGroupCommitLeaderPanics makes the caller that leads a batch panic: the
// panic reaches it, the batch it led is rolled back and the other callers
// of the batch are still committed.
func TestGroupCommitLeaderPanics(t *testing.T) {
	s := open(t, nil)
	running := make(chan struct{})
	release := make(chan struct{})
	leaderPanic := make(chan any, 1)
	go func() {
		defer func() { leaderPanic <- recover() }()
		_ = s.Update(context.Background(), func(tx backends.Tx) error {
			if err := tx.Put("w", []byte("leader"), []byte("x")); err != nil {
				return err
			}
			close(running)
			<-release
			panic("leader panics")
		})
	}()
	<-running
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(context.Background(), func(tx backends.Tx) error {
				return tx.Put("w", []byte(fmt.Sprint("f", i)), []byte("x"))
			})
		}()
	}
	waitQueued(t, s, len(errs))
	close(release)
	assert.Equal(t, "leader panics", <-leaderPanic)
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "follower %d", i)
	}
	assert.Equal(t, []string{"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"}, keys(t, s, "w"))
}

// TestQueuedCallerCancelled cancels a caller that waits behind a running
// commit: it returns the context's error without waiting, and its fn never
// runs.
func TestQueuedCallerCancelled(t *testing.T) {
	s := open(t, nil)
	release := make(chan struct{})
	blocked := blockWriter(t, s, release)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	ran := make(chan struct{}, 1)
	go func() {
		errc <- s.Update(ctx, func(tx backends.Tx) error {
			ran <- struct{}{}
			return tx.Put("w", []byte("cancelled"), []byte("x"))
		})
	}()
	waitQueued(t, s, 1)
	cancel()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled caller kept waiting for the running commit")
	}
	close(release)
	require.NoError(t, <-blocked)
	assert.Empty(t, ran, "the cancelled caller's fn ran")
	assert.Empty(t, keys(t, s, "w"))
}

// TestCloseWithQueuedCallers closes the store while callers wait behind a
// running commit: nobody hangs, and each gets nil or ErrClosed.
func TestCloseWithQueuedCallers(t *testing.T) {
	s := open(t, nil)
	release := make(chan struct{})
	blocked := blockWriter(t, s, release)
	errc := make(chan error, 5)
	for i := 0; i < cap(errc); i++ {
		go func() {
			errc <- s.Update(context.Background(), func(tx backends.Tx) error {
				return tx.Put("w", []byte(fmt.Sprint(i)), []byte("x"))
			})
		}()
	}
	waitQueued(t, s, cap(errc))
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	time.Sleep(20 * time.Millisecond) // let Close start waiting for the running commit
	close(release)
	require.NoError(t, <-blocked)
	timeout := time.After(10 * time.Second)
	for i := 0; i < cap(errc); i++ {
		select {
		case err := <-errc:
			if err != nil {
				assert.ErrorIs(t, err, backends.ErrClosed)
			}
		case <-timeout:
			t.Fatal("an Update hung across Close")
		}
	}
	require.NoError(t, <-closed)
	require.ErrorIs(t, s.Update(context.Background(), func(backends.Tx) error { return nil }), backends.ErrClosed)
}

// TestTxAfterFn checks that a Tx kept past its fn fails instead of writing
// into a later transaction.
func TestTxAfterFn(t *testing.T) {
	s := open(t, nil)
	var kept backends.Tx
	require.NoError(t, s.Update(context.Background(), func(tx backends.Tx) error {
		kept = tx
		return nil
	}))
	require.Error(t, kept.Put("w", []byte("k"), []byte("v")))
	_, err := kept.Get("w", []byte("k"))
	require.Error(t, err)
	require.NotErrorIs(t, err, backends.ErrNotFound)
}

// TestOpenLockedInProcess opens one file twice in this process: bbolt's lock
// is per open file, so the second Open times out with ErrLocked.
func TestOpenLockedInProcess(t *testing.T) {
	s := open(t, nil)
	_, err := boltstore.Open(s.Path(), &boltstore.Options{Timeout: 50 * time.Millisecond})
	require.ErrorIs(t, err, boltstore.ErrLocked)
	assert.Contains(t, err.Error(), s.Path())
}
