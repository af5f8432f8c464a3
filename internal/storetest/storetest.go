// Package storetest gives domain tests one table of stores, so that a flow
// written once runs on every adapter.
package storetest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/boltstore"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/backends/redisstore"
	"github.com/metalkit/metalkit/check"
	"github.com/metalkit/metalkit/internal/redistest"
)

// Factory makes a new, empty store of one adapter for a test or benchmark;
// the store is closed when tb ends.
type Factory struct {
	Name string
	New  func(tb testing.TB) backends.Store
}

// Factories lists every adapter. The bbolt store is a new file in a
// temporary folder, opened with NoSync (durability is the adapter's own
// test subject; domain tests want speed). The Redis store gets a private
// redis-server per store (see redistest: skipped without the binary unless
// METALKIT_REQUIRE_REDIS=1).
func Factories() []Factory {
	return []Factory{
		{Name: "memstore", New: newMem},
		{Name: "boltstore", New: newBolt},
		{Name: "redisstore", New: newRedis},
	}
}

var checkers struct {
	sync.Mutex
	fns []check.Checker
}

// RegisterCheck makes every store this package creates run fn when its
// test ends, before the store is closed: a test fails when its final state
// is inconsistent. A package's tests register the checkers of the packages
// they exercise (from an init function of a test file).
func RegisterCheck(fn check.Checker) {
	checkers.Lock()
	defer checkers.Unlock()
	checkers.fns = append(checkers.fns, fn)
}

// finalCheck runs the registered checkers over s when tb ends.
func finalCheck(tb testing.TB, s backends.Store) {
	tb.Cleanup(func() {
		checkers.Lock()
		fns := checkers.fns
		checkers.Unlock()
		if tb.Failed() {
			return
		}
		for _, fn := range fns {
			fs, err := fn(context.Background(), s, check.Options{MaxFindings: 5})
			if err != nil {
				tb.Errorf("storetest: final consistency check: %v", err)
				return
			}
			for _, f := range fs {
				tb.Errorf("storetest: the test left the store inconsistent: %s", f)
			}
		}
	})
}

// Each runs fn as a subtest per adapter, each with a new, empty store.
func Each(t *testing.T, fn func(t *testing.T, s backends.Store)) {
	t.Helper()
	for _, f := range Factories() {
		t.Run(f.Name, func(t *testing.T) { fn(t, f.New(t)) })
	}
}

// New returns a new, empty store of the named adapter ("memstore",
// "boltstore" or "redisstore").
func New(tb testing.TB, name string) backends.Store {
	tb.Helper()
	for _, f := range Factories() {
		if f.Name == name {
			return f.New(tb)
		}
	}
	tb.Fatalf("storetest: no adapter named %q", name)
	return nil
}

func newMem(tb testing.TB) backends.Store {
	s := memstore.New()
	tb.Cleanup(func() { _ = s.Close() })
	finalCheck(tb, s)
	return s
}

func newBolt(tb testing.TB) backends.Store {
	s, err := boltstore.Open(filepath.Join(tb.TempDir(), "store.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		tb.Fatalf("storetest: open bbolt: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	finalCheck(tb, s)
	return s
}

// redisStore is what newRedis keeps of a Redis store it made: its client,
// for RawKeys and StorageBytes, and that client's counters, for Wire.
type redisStore struct {
	client *redis.Client
	wire   *redistest.Wire
}

var (
	redisMu     sync.Mutex
	redisStores = map[backends.Store]redisStore{}
)

// redisOf returns what newRedis keeps of s, false for another store.
func redisOf(s backends.Store) (redisStore, bool) {
	redisMu.Lock()
	defer redisMu.Unlock()
	r, ok := redisStores[s]
	return r, ok
}

// redisPattern matches every Redis key of a store with the default prefix.
const redisPattern = "{" + redisstore.DefaultKeyPrefix + "}*"

func newRedis(tb testing.TB) backends.Store {
	srv := redistest.Start(tb)
	client := srv.Client(tb)
	wire := &redistest.Wire{}
	client.AddHook(wire)
	s, err := redisstore.New(client, nil)
	if err != nil {
		tb.Fatalf("storetest: redisstore: %v", err)
	}
	redisMu.Lock()
	redisStores[s] = redisStore{client: client, wire: wire}
	redisMu.Unlock()
	tb.Cleanup(func() {
		_ = s.Close()
		redisMu.Lock()
		delete(redisStores, s)
		redisMu.Unlock()
	})
	finalCheck(tb, s)
	return s
}

// Wire returns the round trips and bytes a Redis store made by Factories
// has exchanged with its server so far, and false for the other stores.
// Subtract two readings to get the cost of what ran in between.
func Wire(s backends.Store) (redistest.WireCount, bool) {
	r, ok := redisOf(s)
	if !ok {
		return redistest.WireCount{}, false
	}
	return r.wire.Count(), true
}

// RawKeys lists every key the store keeps in its storage, as the adapter's
// own layout names them: for redisstore every Redis key under the store's
// prefix (values, indexes, versions, registry), for the others the
// bucket/key pairs of a Dump. A test compares two listings to show that
// nothing was left behind.
func RawKeys(tb testing.TB, s backends.Store) map[string]string {
	tb.Helper()
	if r, ok := redisOf(s); ok {
		rs := r.client
		keys, err := rs.Keys(context.Background(), redisPattern).Result()
		if err != nil {
			tb.Fatalf("storetest: list redis keys: %v", err)
		}
		out := make(map[string]string, len(keys))
		for _, k := range keys {
			typ, err := rs.Type(context.Background(), k).Result()
			if err != nil {
				tb.Fatalf("storetest: type of %q: %v", k, err)
			}
			out[k] = typ
			if typ == "string" && strings.HasPrefix(k, "{"+redisstore.DefaultKeyPrefix+"}:v:") {
				v, err := rs.Get(context.Background(), k).Result()
				if err != nil {
					tb.Fatalf("storetest: get %q: %v", k, err)
				}
				out[k] = v
			}
		}
		return out
	}
	out := map[string]string{}
	for b, kv := range backendtest.Dump(tb, s) {
		for k, v := range kv {
			out[b+"\x00"+k] = v
		}
	}
	return out
}

// StorageBytes returns what the store occupies in its storage: the size of a
// boltstore's file, or the memory Redis reports for the keys of a redisstore
// (MEMORY USAGE, summed over every key under the store's prefix). It returns
// 0 for memstore, whose data lives in the Go heap: measure that with
// runtime.MemStats.
func StorageBytes(tb testing.TB, s backends.Store) int64 {
	tb.Helper()
	if bs, ok := s.(*boltstore.Store); ok {
		fi, err := os.Stat(bs.Path())
		if err != nil {
			tb.Fatalf("storetest: size of %s: %v", bs.Path(), err)
		}
		return fi.Size()
	}
	r, ok := redisOf(s)
	if !ok {
		return 0
	}
	rs := r.client
	ctx := context.Background()
	var total int64
	iter := rs.Scan(ctx, 0, redisPattern, 1000).Iterator()
	var batch []string
	flush := func() {
		pipe := rs.Pipeline()
		cmds := make([]*redis.IntCmd, len(batch))
		for i, k := range batch {
			cmds[i] = pipe.MemoryUsage(ctx, k, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			tb.Fatalf("storetest: memory usage: %v", err)
		}
		for _, c := range cmds {
			total += c.Val()
		}
		batch = batch[:0]
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			flush()
		}
	}
	if err := iter.Err(); err != nil {
		tb.Fatalf("storetest: scan redis keys: %v", err)
	}
	flush()
	return total
}
