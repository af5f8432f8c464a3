package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/metalkit/metalkit/backends"
)

var _ backends.Store = (*Store)(nil)

// Defaults used for the zero fields of Options.
const (
	// DefaultKeyPrefix is the key prefix (and hash tag) of a store whose
	// Options.KeyPrefix is empty.
	DefaultKeyPrefix = "metalkit"
	// DefaultMaxRetries is the number of re-runs of a conflicting
	// transaction when Options.MaxRetries is 0.
	DefaultMaxRetries = 64
	// DefaultMinBackoff is the first backoff after a conflict.
	DefaultMinBackoff = time.Millisecond
	// DefaultMaxBackoff caps the backoff between retries.
	DefaultMaxBackoff = 100 * time.Millisecond
	// DefaultScanBatch is the largest number of keys a scan reads per
	// round trip.
	DefaultScanBatch = 1024
)

// firstScanBatch is the size of a scan's first batch: most scans of the
// domain packages are seeks that need one key, so the first batch is small;
// later batches grow fourfold.
const firstScanBatch = 8

// Options configure a Store. A nil *Options, like every zero field, selects
// the defaults.
type Options struct {
	// KeyPrefix names the store inside the Redis keyspace and is its hash
	// tag: every key of the store starts with "{KeyPrefix}". Stores with
	// different prefixes on one server are independent. It must not
	// contain '{' or '}'. Empty means DefaultKeyPrefix.
	KeyPrefix string

	// MaxRetries is how often a transaction that conflicted with a
	// concurrent writer is run again before View or Update give up with
	// an error wrapping backends.ErrConflict. 0 means DefaultMaxRetries; a
	// negative value disables retries (the first conflict is returned).
	MaxRetries int

	// MinBackoff and MaxBackoff bound the pause before a retry. The pause
	// before retry r is drawn uniformly from [d/2, d) with
	// d = min(MaxBackoff, MinBackoff * 2^r), so that conflicting writers
	// spread out. Zero means DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration

	// ScanBatch is the largest number of keys an Ascend or Descend reads
	// per round trip; its batches start at 8 keys (fewer when ScanBatch is
	// smaller) and grow fourfold. 0 means DefaultScanBatch.
	ScanBatch int
}

// Store is a backends.Store kept in Redis. It is safe for concurrent use by
// many goroutines and, through the Redis server, by many processes that use
// the same KeyPrefix.
type Store struct {
	client     redis.UniversalClient
	prefix     string // "{P}:"
	registry   string // "{P}:b", the sorted set of bucket names
	maxRetries int
	minBackoff time.Duration
	maxBackoff time.Duration
	batch      int
	closed     atomic.Bool
	// cachedCommit is set once the server is known to hold checkedCommit
	// in its script cache, so that commits send its hash, not its source.
	cachedCommit atomic.Bool
}

// New returns a store that keeps its data in Redis through client.
//
// The store does not own client: Close leaves it open, and the caller
// closes it after the store. client may be a *redis.Client (standalone or
// Sentinel failover), a *redis.ClusterClient or a *redis.Ring; with a Ring
// or a cluster, all keys of the store hash to one shard (see the package
// documentation). New does not contact the server.
func New(client redis.UniversalClient, opts *Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if strings.ContainsAny(o.KeyPrefix, "{}") {
		return nil, fmt.Errorf("redisstore: key prefix %q contains a brace, which would break the hash tag", o.KeyPrefix)
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MinBackoff < 0 || o.MaxBackoff < o.MinBackoff {
		return nil, fmt.Errorf("redisstore: invalid backoff range [%v, %v]", o.MinBackoff, o.MaxBackoff)
	}
	if o.ScanBatch == 0 {
		o.ScanBatch = DefaultScanBatch
	}
	if o.ScanBatch < 0 {
		return nil, fmt.Errorf("redisstore: negative scan batch %d", o.ScanBatch)
	}
	return &Store{
		client:     client,
		prefix:     "{" + o.KeyPrefix + "}:",
		registry:   "{" + o.KeyPrefix + "}:b",
		maxRetries: o.MaxRetries,
		minBackoff: o.MinBackoff,
		maxBackoff: o.MaxBackoff,
		batch:      o.ScanBatch,
	}, nil
}

// View runs fn in a read-only transaction (see backends.Store.View). The
// keys fn reads are WATCHed and, when fn read in more than one step, the
// reads are validated with an empty MULTI/EXEC when fn returns; if another
// transaction changed something fn read, fn runs again (up to
// Options.MaxRetries times, then View returns an error wrapping
// backends.ErrConflict). A View that runs again first reads everything its
// previous run read in one step, unwatched, so that it completes while
// writers keep changing what it reads. fn may therefore run more than once
// and must have no effect outside the Tx.
//
// View returns fn's error only once it knows that fn's reads were
// consistent: if they changed meanwhile, fn runs again, since its error may
// stem from the inconsistent reads; if that cannot be checked, or a read
// failed, View returns an error wrapping backends.ErrUnavailable.
func (s *Store) View(ctx context.Context, fn func(backends.Tx) error) error {
	return s.run(ctx, fn, true)
}

// Update runs fn in a read-write transaction (see backends.Store.Update).
// Reads are WATCHed, writes are buffered in the Tx and committed together
// with MULTI/EXEC when fn returns nil. If another transaction changed a key
// fn read (or wrote to a bucket fn scanned) before the commit, nothing is
// written and fn runs again after a jittered backoff, up to
// Options.MaxRetries times; then Update returns an error wrapping
// backends.ErrConflict. fn may therefore run more than once and must have
// no side effect outside the Tx.
//
// When fn returns an error or panics, nothing is written; the error is
// returned as View describes. A ctx that is done before the commit starts
// commits nothing; once the commit has been sent it is not interrupted by
// ctx (the client's own timeouts bound it), so a nil result always means
// committed. A network failure during EXEC leaves the outcome unknown and is
// returned as an error wrapping backends.ErrUnavailable; fn is not run
// again then.
func (s *Store) Update(ctx context.Context, fn func(backends.Tx) error) error {
	return s.run(ctx, fn, false)
}

// Close marks the store closed: later View and Update calls return
// backends.ErrClosed, and a second Close does too. Close does not close the
// Redis client passed to New, which belongs to the caller, and does not wait
// for transactions that are running.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return backends.ErrClosed
	}
	return nil
}

// errRetry reports, inside this package, that a transaction attempt
// conflicted and should run again.
var errRetry = errors.New("redisstore: conflict")

// failure wraps an error of the Redis client: a done context stays what it
// is, everything else (a lost connection, a timeout, an error reply) is
// reported as backends.ErrUnavailable, never as a missing key.
func failure(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redisstore: %s: %w", what, err)
	}
	return fmt.Errorf("redisstore: %s: %w: %w", what, backends.ErrUnavailable, err)
}

func (s *Store) run(ctx context.Context, fn func(backends.Tx) error, readOnly bool) error {
	op := "update"
	if readOnly {
		op = "view"
	}
	var replay *readLog
	for attempt := 0; ; attempt++ {
		if s.closed.Load() {
			return backends.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			if attempt == 0 {
				return err
			}
			return fmt.Errorf("redisstore: %s not committed after %d conflicts: %w", op, attempt, err)
		}
		log, err := s.attempt(ctx, fn, readOnly, replay)
		if err != errRetry {
			return err
		}
		replay = log
		if attempt >= s.maxRetries {
			return fmt.Errorf("redisstore: %s conflicted %d times: %w", op, attempt+1, backends.ErrConflict)
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return fmt.Errorf("redisstore: %s not committed after %d conflicts: %w", op, attempt+1, err)
		}
	}
}

// backoff sleeps before retry number attempt+1, or returns early with
// ctx's error.
func (s *Store) backoff(ctx context.Context, attempt int) error {
	d := s.minBackoff
	for i := 0; i < attempt && d < s.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.maxBackoff)
	if d <= 0 {
		return nil
	}
	half := d / 2
	d = half + rand.N(d-half)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watch runs fn on a connection of its own: for a cluster or a ring, one
// of the node that owns the store's slot.
func (s *Store) watch(ctx context.Context, fn func(*redis.Tx) error) error {
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		node, err := c.MasterForKey(ctx, s.registry)
		if err != nil {
			return err
		}
		return node.Watch(ctx, fn)
	case *redis.Ring:
		node, err := c.GetShardClientForKey(s.registry)
		if err != nil {
			return err
		}
		return node.Watch(ctx, fn)
	case *redis.Client:
		return c.Watch(ctx, fn)
	default:
		// Another client learns the node from the first watched key.
		return s.client.Watch(ctx, fn, s.prefix+"a")
	}
}
