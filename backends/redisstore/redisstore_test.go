package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/redisstore"
	"github.com/metalkit/metalkit/internal/redistest"
)

var ctx = context.Background()

var prefixes atomic.Int64

// uniquePrefix returns a key prefix no other store of this test binary
// uses, so that stores sharing one server start empty.
func uniquePrefix() string {
	return fmt.Sprintf("t%d-%d", os.Getpid(), prefixes.Add(1))
}

func newStore(tb testing.TB, client redis.UniversalClient, opts *redisstore.Options) *redisstore.Store {
	tb.Helper()
	var o redisstore.Options
	if opts != nil {
		o = *opts
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = uniquePrefix()
	}
	s, err := redisstore.New(client, &o)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	client := redistest.Start(t).Client(t)
	backendtest.Run(t, func(t *testing.T) backends.Store {
		return newStore(t, client, nil)
	})
}

// TestConformanceSmallBatches runs the suite with tiny scan batches, so
// that every scan crosses many batch boundaries and overlay chunks.
func TestConformanceSmallBatches(t *testing.T) {
	client := redistest.Start(t).Client(t)
	backendtest.Run(t, func(t *testing.T) backends.Store {
		return newStore(t, client, &redisstore.Options{ScanBatch: 1})
	})
}

func TestNewOptions(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = client.Close() })
	_, err := redisstore.New(nil, nil)
	require.Error(t, err)
	for _, p := range []string{"a{b", "a}b", "{a}"} {
		_, err := redisstore.New(client, &redisstore.Options{KeyPrefix: p})
		require.Error(t, err, p)
	}
	_, err = redisstore.New(client, &redisstore.Options{MinBackoff: time.Second, MaxBackoff: time.Millisecond})
	require.Error(t, err)
	s, err := redisstore.New(client, nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Close(), backends.ErrClosed)
	require.NoError(t, client.Close(), "Close of the store must leave the client open")
}

// Environment of the child processes of TestTwoProcesses.
const (
	childAddrEnv   = "METALKIT_REDISSTORE_CHILD_ADDR"
	childPrefixEnv = "METALKIT_REDISSTORE_CHILD_PREFIX"
	childID        = "METALKIT_REDISSTORE_CHILD_ID"
)

const (
	processRounds = 150
	processKeys   = 3
)

// TestTwoProcesses re-executes the test binary twice; both children
// increment the same counters through their own store and client at the
// same time, and no increment may be lost.
func TestTwoProcesses(t *testing.T) {
	if addr := os.Getenv(childAddrEnv); addr != "" {
		runChild(t, addr, os.Getenv(childPrefixEnv))
		return
	}
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for i := 0; i < 2; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			childAddrEnv+"="+srv.Addr,
			childPrefixEnv+"="+prefix,
			childID+"="+strconv.Itoa(i),
		)
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
		outs = append(outs, out)
	}
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "child %d:\n%s", i, outs[i].String())
	}
	s := newStore(t, srv.Client(t), &redisstore.Options{KeyPrefix: prefix})
	for k := 0; k < processKeys; k++ {
		assert.Equal(t, uint64(2*processRounds), backendtest.Counter(t, s, "counters", []byte{byte(k)}), "key %d", k)
	}
	assert.Equal(t, uint64(2*processRounds), backendtest.Counter(t, s, "total", []byte("all")))
}

func runChild(t *testing.T, addr, prefix string) {
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = client.Close() })
	s := newStore(t, client, &redisstore.Options{KeyPrefix: prefix})
	for r := 0; r < processRounds; r++ {
		for k := 0; k < processKeys; k++ {
			err := s.Update(ctx, func(tx backends.Tx) error {
				if err := backendtest.Increment(tx, "counters", []byte{byte(k)}); err != nil {
					return err
				}
				if k == 0 {
					return backendtest.Increment(tx, "total", []byte("all"))
				}
				return nil
			})
			require.NoError(t, err, "round %d key %d", r, k)
		}
	}
}

// TestConflictExhaustion writes a watched key from another client between
// every read and the commit, so every attempt conflicts.
func TestConflictExhaustion(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	other := srv.Client(t)
	prefix := uniquePrefix()
	s := newStore(t, client, &redisstore.Options{KeyPrefix: prefix, MaxRetries: 3, MinBackoff: time.Microsecond, MaxBackoff: time.Millisecond})
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		return tx.Put("b", []byte("k"), []byte("0"))
	}))
	valueKey := "{" + prefix + "}:v:1:b:k"
	_, err := other.Get(ctx, valueKey).Result()
	require.NoError(t, err, "the value key is expected at %s", valueKey)

	runs := 0
	err = s.Update(ctx, func(tx backends.Tx) error {
		runs++
		if _, err := tx.Get("b", []byte("k")); err != nil {
			return err
		}
		if err := other.Set(ctx, valueKey, fmt.Sprint("other", runs), 0).Err(); err != nil {
			return err
		}
		if err := tx.Put("b", []byte("k"), []byte("mine")); err != nil {
			return err
		}
		return tx.Put("b", []byte("new"), []byte("mine"))
	})
	require.ErrorIs(t, err, backends.ErrConflict)
	assert.Equal(t, 4, runs, "one run plus MaxRetries retries")
	var got []string
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		got = got[:0]
		return tx.Ascend("b", nil, func(k, v []byte) (bool, error) {
			got = append(got, string(k)+"="+string(v))
			return true, nil
		})
	}))
	assert.Equal(t, []string{"k=other4"}, got, "nothing of fn may be written")

	// Retries disabled: the first conflict is final. A View that reads
	// one key is consistent on its own; one that reads a second key after
	// the first changed is not.
	s2 := newStore(t, client, &redisstore.Options{KeyPrefix: prefix, MaxRetries: -1})
	runs = 0
	require.NoError(t, s2.View(ctx, func(tx backends.Tx) error {
		runs++
		if _, err := tx.Get("b", []byte("k")); err != nil {
			return err
		}
		return other.Set(ctx, valueKey, "again", 0).Err()
	}))
	assert.Equal(t, 1, runs)
	for _, second := range []func(tx backends.Tx) error{
		func(tx backends.Tx) error {
			_, err := tx.Get("b", []byte("absent"))
			if errors.Is(err, backends.ErrNotFound) {
				err = nil
			}
			return err
		},
		func(tx backends.Tx) error {
			return tx.Ascend("b", nil, func(k, v []byte) (bool, error) { return true, nil })
		},
	} {
		runs = 0
		err = s2.View(ctx, func(tx backends.Tx) error {
			runs++
			v, err := tx.Get("b", []byte("k"))
			if err != nil {
				return err
			}
			if err := other.Set(ctx, valueKey, string(v)+"+", 0).Err(); err != nil {
				return err
			}
			return second(tx)
		})
		require.ErrorIs(t, err, backends.ErrConflict)
		assert.Equal(t, 1, runs)
	}
	// With retries, the View succeeds once the key stays put.
	runs = 0
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		runs++
		if _, err := tx.Get("b", []byte("k")); err != nil {
			return err
		}
		if runs == 1 {
			if err := other.Set(ctx, valueKey, "last", 0).Err(); err != nil {
				return err
			}
		}
		_, err := tx.Get("b", []byte("new"))
		if errors.Is(err, backends.ErrNotFound) {
			err = nil
		}
		return err
	}))
	assert.Equal(t, 2, runs)
}

// TestScanConflict checks that a write anywhere in a scanned bucket fails
// the scanning transaction, even when the scan did not return that key.
func TestScanConflict(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.Client(t), nil)
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		for _, k := range []string{"a", "b", "c"} {
			if err := tx.Put("b", []byte(k), []byte(k)); err != nil {
				return err
			}
		}
		return nil
	}))
	runs := 0
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		runs++
		var first []byte
		if err := tx.Ascend("b", nil, func(k, v []byte) (bool, error) {
			first = k
			return false, nil
		}); err != nil {
			return err
		}
		if runs == 1 {
			// A concurrent transaction of the same store (it runs on its
			// own connection) deletes a key the scan never reached.
			if err := s.Update(ctx, func(tx backends.Tx) error { return tx.Delete("b", []byte("c")) }); err != nil {
				return err
			}
		}
		return tx.Put("b", append(first, '!'), []byte("x"))
	}))
	assert.Equal(t, 2, runs, "a write to the scanned bucket must force a retry")
}

// TestNetworkFailure checks that an unreachable server is an error and
// never ErrNotFound.
func TestNetworkFailure(t *testing.T) {
	check := func(t *testing.T, s backends.Store) {
		t.Helper()
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := s.View(short, func(tx backends.Tx) error {
			_, err := tx.Get("b", []byte("k"))
			return err
		})
		require.Error(t, err)
		assert.NotErrorIs(t, err, backends.ErrNotFound)
		err = s.Update(short, func(tx backends.Tx) error {
			if _, err := tx.Get("b", []byte("k")); err != nil {
				return err
			}
			return tx.Put("b", []byte("k"), []byte("v"))
		})
		require.Error(t, err)
		assert.NotErrorIs(t, err, backends.ErrNotFound)
		err = s.Update(short, func(tx backends.Tx) error {
			return tx.Put("b", []byte("k"), []byte("v"))
		})
		require.Error(t, err, "a blind write to a dead server must fail")
		err = s.View(short, func(tx backends.Tx) error {
			return tx.Ascend("b", nil, func(k, v []byte) (bool, error) { return true, nil })
		})
		require.Error(t, err)
		assert.NotErrorIs(t, err, backends.ErrNotFound)
	}

	t.Run("ClosedPort", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1})
		t.Cleanup(func() { _ = client.Close() })
		check(t, newStore(t, client, nil))
	})

	t.Run("ServerStopped", func(t *testing.T) {
		srv := redistest.Start(t)
		client := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1})
		t.Cleanup(func() { _ = client.Close() })
		s := newStore(t, client, nil)
		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
			return tx.Put("b", []byte("k"), []byte("v"))
		}))
		// SHUTDOWN ends the server; its reply is the closed connection.
		_ = srv.Client(t).Do(ctx, "shutdown", "nosave").Err()
		check(t, s)
	})
}

// TestKeyLayout lists every key a store wrote with the raw client: all of
// them carry the hash tag and prefix, and a second store with another
// prefix on the same server sees none of them.
func TestKeyLayout(t *testing.T) {
	srv := redistest.Start(t)
	raw := srv.Client(t)
	s1 := newStore(t, raw, &redisstore.Options{KeyPrefix: "one"})
	s2 := newStore(t, raw, &redisstore.Options{KeyPrefix: "one:two"})
	defStore, err := redisstore.New(raw, nil) // the default prefix
	require.NoError(t, err)
	t.Cleanup(func() { _ = defStore.Close() })

	write := func(s backends.Store, buckets ...string) {
		t.Helper()
		require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
			for _, b := range buckets {
				for _, k := range []string{"k", "b:k", "\x00\xff"} {
					if err := tx.Put(b, []byte(k), []byte(b+"|"+k)); err != nil {
						return err
					}
				}
				if err := tx.Delete(b, []byte("gone")); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	write(s1, "a", "a:b", "a\x00", "{x}")
	write(s2, "a")
	write(defStore, "a")

	keys, err := raw.Keys(ctx, "*").Result()
	require.NoError(t, err)
	var one, two, metalkit int
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, "{one}:"):
			one++
		case strings.HasPrefix(k, "{one:two}:"):
			two++
		case strings.HasPrefix(k, "{"+redisstore.DefaultKeyPrefix+"}:"):
			metalkit++
		default:
			t.Errorf("key %q carries no store's hash tag", k)
		}
	}
	// Per bucket: three values, the index and the version; per store the
	// bucket registry.
	assert.Equal(t, 4*5+1, one)
	assert.Equal(t, 5+1, two)
	assert.Equal(t, 5+1, metalkit)
	assert.Contains(t, keys, "{one}:b", "bucket registry")
	assert.Contains(t, keys, "{one}:v:3:a:b:b:k", "value key layout")
	assert.Contains(t, keys, "{one}:v:1:a:b:k", "value key layout")
	assert.Contains(t, keys, "{one}:i:3:a:b", "index key layout")
	assert.Contains(t, keys, "{one}:n:1:a", "version key layout")

	scanAll := func(s backends.Store, bucket string) []string {
		var out []string
		require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
			out = out[:0]
			return tx.Ascend(bucket, nil, func(k, v []byte) (bool, error) {
				out = append(out, string(v))
				return true, nil
			})
		}))
		return out
	}
	// Buckets "a" and "a:b" never mix, although "a" holds the key "b:k".
	assert.Equal(t, []string{"a|\x00\xff", "a|b:k", "a|k"}, scanAll(s1, "a"))
	assert.Equal(t, []string{"a:b|\x00\xff", "a:b|b:k", "a:b|k"}, scanAll(s1, "a:b"))
	// Stores with different prefixes do not see each other.
	assert.Empty(t, scanAll(s2, "a:b"))
	assert.Empty(t, scanAll(newStore(t, raw, &redisstore.Options{KeyPrefix: "three"}), "a"))
	s1b := newStore(t, raw, &redisstore.Options{KeyPrefix: "one"})
	assert.Equal(t, scanAll(s1, "{x}"), scanAll(s1b, "{x}"), "same prefix, same data")
	require.NoError(t, s2.Update(ctx, func(tx backends.Tx) error { return tx.Delete("a", []byte("k")) }))
	assert.Equal(t, []string{"a|\x00\xff", "a|b:k", "a|k"}, scanAll(s1, "a"), "a delete in another store")

	// The hash tag of every key (between the first '{' and the first '}'
	// after it) is the store's prefix, so one store maps to one slot.
	for _, k := range keys {
		open := strings.IndexByte(k, '{')
		end := strings.IndexByte(k[open+1:], '}')
		require.True(t, open == 0 && end > 0, "key %q", k)
		assert.Contains(t, []string{"one", "one:two", redisstore.DefaultKeyPrefix}, k[1:1+end], "hash tag of %q", k)
	}
}

// TestPanicReleasesConnection checks that a transaction that panics or
// fails after reading leaves no WATCH behind on its pooled connection: with
// a pool of one connection, a stale watch on a key that changes later would
// make the next transaction on that connection conflict.
func TestPanicReleasesConnection(t *testing.T) {
	srv := redistest.Start(t)
	raw := srv.Client(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 1})
	t.Cleanup(func() { _ = client.Close() })
	prefix := uniquePrefix()
	s := newStore(t, client, &redisstore.Options{KeyPrefix: prefix, MaxRetries: -1})
	touch := func() {
		t.Helper()
		for _, k := range []string{"v:1:b:k", "n:1:b", "i:1:b"} {
			require.NoError(t, raw.Incr(ctx, "{"+prefix+"}:"+k+"-unrelated").Err())
		}
		require.NoError(t, raw.Set(ctx, "{"+prefix+"}:v:1:b:k", "changed", 0).Err())
		require.NoError(t, raw.Incr(ctx, "{"+prefix+"}:n:1:b").Err())
	}
	func() {
		defer func() { _ = recover() }()
		_ = s.Update(ctx, func(tx backends.Tx) error {
			_, _ = tx.Get("b", []byte("k"))
			_ = tx.Ascend("b", nil, func(k, v []byte) (bool, error) { return true, nil })
			panic("boom")
		})
	}()
	touch()
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return backendtest.Increment(tx, "c", []byte("n")) }))

	boom := errors.New("boom")
	err := s.Update(ctx, func(tx backends.Tx) error {
		_, _ = tx.Get("b", []byte("k"))
		_ = tx.Descend("b", nil, func(k, v []byte) (bool, error) { return true, nil })
		return boom
	})
	require.ErrorIs(t, err, boom)
	touch()
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return backendtest.Increment(tx, "c", []byte("n")) }))
	assert.Equal(t, uint64(2), backendtest.Counter(t, s, "c", []byte("n")))
}

// TestTxAfterFunction checks that a Tx kept past its function fails
// instead of touching another transaction's connection.
func TestTxAfterFunction(t *testing.T) {
	s := newStore(t, redistest.Start(t).Client(t), nil)
	var kept backends.Tx
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { kept = tx; return nil }))
	_, err := kept.Get("b", []byte("k"))
	require.Error(t, err)
	require.Error(t, kept.Put("b", []byte("k"), nil))
	assert.NotErrorIs(t, kept.Put("b", []byte("k"), nil), backends.ErrNotFound)
}

// TestEmptiedBucketLeavesNoKey: once a bucket's last key is deleted, no key
// of the store remains in Redis (values, index, version, registry entry).
func TestEmptiedBucketLeavesNoKey(t *testing.T) {
	srv := redistest.Start(t)
	raw := srv.Client(t)
	s := newStore(t, raw, &redisstore.Options{KeyPrefix: "empty"})
	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		for _, b := range []string{"x", "y"} {
			for _, k := range []string{"1", "2"} {
				if err := tx.Put(b, []byte(k), []byte("v")); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	keys, err := raw.Keys(ctx, "{empty}*").Result()
	require.NoError(t, err)
	assert.Len(t, keys, 4+2+2+1, "four values, two indexes, two versions, the registry")

	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error {
		for _, k := range []string{"1", "2"} {
			if err := tx.Delete("x", []byte(k)); err != nil {
				return err
			}
		}
		return tx.Delete("y", []byte("1"))
	}))
	keys, err = raw.Keys(ctx, "{empty}*").Result()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"{empty}:v:1:y:2", "{empty}:i:1:y", "{empty}:n:1:y", "{empty}:b"}, keys)
	members, err := raw.ZRange(ctx, "{empty}:b", 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"y"}, members)

	require.NoError(t, s.Update(ctx, func(tx backends.Tx) error { return tx.Delete("y", []byte("2")) }))
	keys, err = raw.Keys(ctx, "{empty}*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys)
}

// TestInsertAfterScriptFlush: a server that lost its script cache (as after
// a restart) still runs the commit of an Insert, once, and its check.
func TestInsertAfterScriptFlush(t *testing.T) {
	client := redistest.Start(t).Client(t)
	s := newStore(t, client, nil)
	insert := func(key string) error {
		return s.Update(ctx, func(tx backends.Tx) error {
			return backends.Insert(tx, "b", []byte(key), []byte("v"))
		})
	}
	require.NoError(t, insert("k1"), "the first commit sends the script")
	require.NoError(t, insert("k2"), "later ones its hash")
	require.NoError(t, client.ScriptFlush(ctx).Err())
	require.NoError(t, insert("k3"))
	require.NoError(t, client.ScriptFlush(ctx).Err())
	require.ErrorIs(t, insert("k1"), backends.ErrKeyExists)
	var keys []string
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		return tx.Ascend("b", nil, func(k, v []byte) (bool, error) {
			keys = append(keys, string(k)+"="+string(v))
			return true, nil
		})
	}))
	assert.Equal(t, []string{"k1=v", "k2=v", "k3=v"}, keys)
}
