// Package boltstore is the backends.Store kept in one bbolt file: the
// embedded, durable default for programs.
//
// Every backends bucket is a top-level bbolt bucket, created by the first
// Put into it. A View is one bbolt read-only transaction; many run at once,
// also beside a writer, and each sees one committed state of the file.
//
// # Group commit
//
// bbolt allows one write transaction at a time, and with durability on every
// commit ends in an fsync. Store therefore coalesces concurrent Update calls
// into one bbolt write transaction, so that many callers share one fsync:
//
//   - Each Update call joins a queue. When no commit is running, the caller
//     becomes the leader at once (a lone writer commits immediately; there is
//     no batching delay). Otherwise it waits, and the callers that queued
//     up while the previous commit ran form the next batch.
//   - The leader takes the whole queue, begins one bbolt write transaction
//     and has each queued function run in it, one after another. Each
//     function runs in its own caller's goroutine; the leader hands the
//     transaction over and waits for the result.
//   - When a function returns an error, panics or calls runtime.Goexit, the
//     leader rolls the transaction back, that caller alone gets its error (or
//     its panic continues in its own goroutine, after the rollback), and the
//     remaining functions, including the ones that had already run, run
//     again in a fresh transaction. A caller whose context is done before the
//     commit is dropped the same way and gets the context's error.
//   - When every function of the batch has succeeded, the leader commits once
//     and every caller of the batch gets the commit's result. Leadership then
//     passes to the first caller that queued meanwhile.
//
// So each Update keeps its all-or-nothing guarantee, and its function may run
// more than once, which the backends contract allows. Functions of one batch
// see each other's writes exactly as if the Updates had run one after
// another, in queue order.
//
// # File size
//
// Pages that a write splits are filled completely (bbolt's FillPercent 1.0
// instead of its default 0.5): the domain packages mostly append keys in
// order, and half-full pages would stay half empty for good. The file grows
// in steps of 1 MiB instead of to the next power of two of its data. Keys
// appended in order take less than twice their bytes in the file.
package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/metalkit/metalkit/backends"
)

var _ backends.Store = (*Store)(nil)

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = time.Second

// DefaultMode is the permission of a file that Open creates when
// Options.Mode is zero.
const DefaultMode os.FileMode = 0o600

// ErrLocked is returned by Open, wrapped with the file's path, when another
// process (or another open Store in this process) holds the file and its lock
// was not released within Options.Timeout.
var ErrLocked = errors.New("boltstore: file is locked by another process or Store")

// errTxDone is returned by a Tx used after the function it was passed to
// returned.
var errTxDone = errors.New("boltstore: transaction used after its function returned")

// Options configure Open. The zero value (and a nil *Options) gives the
// defaults: a one-second lock timeout, mode 0600 and durable commits.
type Options struct {
	// Timeout bounds the wait for the exclusive file lock. bbolt lets only
	// one open handle use a file; when another process holds it, Open fails
	// with an error wrapping ErrLocked after Timeout instead of waiting
	// forever. Zero or negative means DefaultTimeout.
	Timeout time.Duration

	// Mode is the permission of the file when Open creates it. Zero means
	// DefaultMode.
	Mode os.FileMode

	// NoSync skips the fsync at each commit. A commit is then not durable: a
	// crash of the machine (not only of the process) can lose or corrupt
	// committed data. Meant for tests; the default false makes every
	// successful Update durable.
	NoSync bool
}

// Store is a backends.Store in one bbolt file. It is safe for concurrent use
// by many goroutines. The zero value is not usable; call Open.
type Store struct {
	db      *bolt.DB
	path    string
	closed  atomic.Bool
	commits atomic.Int64 // bbolt write transactions committed, for tests

	mu      sync.Mutex // guards queue, leading and the queued and promoted flags of calls
	queue   []*call
	leading bool
}

// Open opens the bbolt file at path, creating it when it does not exist, and
// takes its exclusive lock. A nil opts means the defaults (see Options).
//
// When another process holds the file, Open returns, after opts.Timeout, an
// error that wraps ErrLocked and names path. The returned Store holds the
// lock until Close.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Mode == 0 {
		o.Mode = DefaultMode
	}
	db, err := bolt.Open(path, o.Mode, &bolt.Options{Timeout: o.Timeout, NoSync: o.NoSync})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s: no lock within %v: %w", ErrLocked, path, o.Timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	// Grow the file in steps of allocStep beyond its first size, not to
	// the next power of two of the data (bbolt's default below 16 MiB).
	db.AllocSize = allocStep
	return &Store{db: db, path: path}, nil
}

// allocStep is how much the file grows at a time, and fillPercent how full
// bbolt fills the pages it splits: the keys of the domain packages are
// mostly appended in order (addresses allocated lowest first, time-ordered
// audit entries), for which bbolt's default of half-full pages would leave
// half of every page empty for good.
const (
	allocStep   = 1 << 20
	fillPercent = 1.0
)

// Path returns the file the store was opened with.
func (s *Store) Path() string { return s.path }

// View implements backends.Store: fn runs once, in a bbolt read-only
// transaction, in the caller's goroutine. Views run concurrently with each
// other and with Update. fn must not start another transaction on the same
// Store (bbolt may deadlock when the file has to grow).
func (s *Store) View(ctx context.Context, fn func(backends.Tx) error) error {
	if s.closed.Load() {
		return fmt.Errorf("boltstore: %s: %w", s.path, backends.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	btx, err := s.db.Begin(false)
	if err != nil {
		return s.translate(err)
	}
	defer func() { _ = btx.Rollback() }()
	return run(fn, btx)
}

// Update implements backends.Store with group commit (see the package
// documentation): concurrent calls share one bbolt write transaction and one
// fsync, and fn runs in the caller's goroutine.
//
// fn may run more than once: when another function of the same batch fails,
// panics or its context ends, the batch is rolled back and fn runs again in a
// fresh transaction. It must therefore have no effect outside the Tx. When
// Update returns nil, the writes are committed and, unless Options.NoSync is
// set, on stable storage. When fn returns an error, Update returns it
// unchanged and nothing of fn is written; when fn panics, nothing of fn is
// written and the panic continues in the caller's goroutine. A ctx that is
// done before the commit commits nothing and Update returns an error
// wrapping ctx.Err(); a caller still waiting in the queue returns at once.
//
// fn must not start another transaction on the same Store: it would wait for
// the commit that is waiting for fn.
func (s *Store) Update(ctx context.Context, fn func(backends.Tx) error) error {
	if s.closed.Load() {
		return fmt.Errorf("boltstore: %s: %w", s.path, backends.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &call{ctx: ctx, fn: fn, wake: make(chan order, 1), reply: make(chan outcome, 1)}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return fmt.Errorf("boltstore: %s: %w", s.path, backends.ErrClosed)
	}
	c.queued = true
	s.queue = append(s.queue, c)
	lead := !s.leading
	if lead {
		s.leading = true
		c.promoted = true
	}
	s.mu.Unlock()
	if lead {
		return s.lead(c)
	}
	return s.follow(c)
}

// Close implements backends.Store. It waits for running transactions to end
// (bbolt's close takes the writer and reader locks), then releases the file
// and its lock. Later View and Update calls, calls still queued for a commit,
// and a second Close return an error wrapping backends.ErrClosed. Close must
// not be called from inside a transaction function.
func (s *Store) Close() error {
	s.mu.Lock()
	already := s.closed.Swap(true)
	s.mu.Unlock()
	if already {
		return fmt.Errorf("boltstore: %s: %w", s.path, backends.ErrClosed)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.path, err)
	}
	return nil
}

// translate wraps a bbolt error with the file's path, mapping a closed
// database to backends.ErrClosed and every other failure of bbolt (an I/O
// error of the file, a full disk) to backends.ErrUnavailable.
func (s *Store) translate(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("boltstore: %s: %w (%v)", s.path, backends.ErrClosed, err)
	}
	return fmt.Errorf("boltstore: %s: %w: %w", s.path, backends.ErrUnavailable, err)
}

func notCommitted(err error) error {
	return fmt.Errorf("boltstore: update not committed: %w", err)
}

// call is one Update waiting in the queue or running in a batch.
type call struct {
	ctx   context.Context
	fn    func(backends.Tx) error
	wake  chan order   // leader -> caller; at most one order is outstanding
	reply chan outcome // caller -> leader, answering orderRun

	queued   bool // in Store.queue (guarded by Store.mu)
	promoted bool // chosen as the next leader (guarded by Store.mu)
	finished bool // result delivered (used only by the leader of its batch)
}

type orderKind int

const (
	orderRun  orderKind = iota // run fn in tx and reply
	orderLead                  // become the leader
	orderDone                  // final result in err
)

type order struct {
	kind orderKind
	tx   *bolt.Tx
	err  error
}

type outcome struct {
	err     error
	aborted bool // fn panicked or called runtime.Goexit
}

// follow waits for the leader's orders: run fn, take over as leader, or
// return the result.
func (s *Store) follow(c *call) error {
	done := c.ctx.Done()
	for {
		select {
		case o := <-c.wake:
			switch o.kind {
			case orderRun:
				c.reply <- c.runFollower(o.tx)
			case orderLead:
				return s.lead(c)
			default:
				return o.err
			}
		case <-done:
			s.mu.Lock()
			if c.queued && !c.promoted {
				for i, q := range s.queue {
					if q == c {
						s.queue = append(s.queue[:i], s.queue[i+1:]...)
						break
					}
				}
				s.mu.Unlock()
				return notCommitted(c.ctx.Err())
			}
			s.mu.Unlock()
			done = nil // part of a batch or about to lead: the leader checks ctx
		}
	}
}

// runFollower runs c.fn in the leader's transaction. When fn panics or calls
// runtime.Goexit, it tells the leader, waits until the leader has rolled back,
// and lets the panic (or Goexit) continue in this goroutine.
func (c *call) runFollower(btx *bolt.Tx) outcome {
	returned := false
	defer func() {
		if !returned {
			c.reply <- outcome{aborted: true}
			<-c.wake // orderDone, sent after the rollback
		}
	}()
	err := run(c.fn, btx)
	returned = true
	return outcome{err: err}
}

// lead runs batches for the queue it takes, delivers every result, and
// passes leadership on. It returns self's result.
func (s *Store) lead(self *call) error {
	s.mu.Lock()
	batch := s.queue
	s.queue = nil
	for _, c := range batch {
		c.queued = false
	}
	s.mu.Unlock()

	var (
		btx     *bolt.Tx
		selfErr error
		clean   bool
	)
	finish := func(c *call, err error) {
		c.finished = true
		if c == self {
			selfErr = err
			return
		}
		c.wake <- order{kind: orderDone, err: err}
	}
	defer func() {
		if clean {
			return
		}
		// self's fn panicked or called runtime.Goexit (or bbolt panicked):
		// roll back, requeue the callers still waiting and pass leadership on
		// before the panic continues in this goroutine.
		if btx != nil {
			_ = btx.Rollback()
		}
		var rest []*call
		for _, c := range batch {
			if c != self && !c.finished {
				rest = append(rest, c)
			}
		}
		s.handOff(rest)
	}()

	pending := batch
	for len(pending) > 0 {
		var err error
		btx, err = s.db.Begin(true)
		if err != nil {
			btx = nil
			err = s.translate(err)
			for _, c := range pending {
				finish(c, err)
			}
			break
		}
		ran := make([]*call, 0, len(pending))
		failed := false
		for i, c := range pending {
			if cerr := c.ctx.Err(); cerr != nil {
				finish(c, notCommitted(cerr))
				continue
			}
			var out outcome
			if c == self {
				out.err = run(c.fn, btx)
			} else {
				c.wake <- order{kind: orderRun, tx: btx}
				out = <-c.reply
			}
			if out.err != nil || out.aborted {
				_ = btx.Rollback()
				btx = nil
				finish(c, out.err)
				pending = append(ran, pending[i+1:]...)
				failed = true
				break
			}
			ran = append(ran, c)
		}
		if failed {
			continue
		}
		live := ran[:0:0]
		for _, c := range ran {
			if cerr := c.ctx.Err(); cerr != nil {
				finish(c, notCommitted(cerr))
			} else {
				live = append(live, c)
			}
		}
		if len(live) < len(ran) {
			_ = btx.Rollback()
			btx = nil
			pending = live
			continue
		}
		err = btx.Commit()
		btx = nil
		if err != nil {
			err = fmt.Errorf("boltstore: commit: %w", s.translate(err))
		} else {
			s.commits.Add(1)
		}
		for _, c := range ran {
			finish(c, err)
		}
		pending = nil
	}
	clean = true
	s.handOff(nil)
	return selfErr
}

// handOff puts requeue at the front of the queue and wakes the first queued
// caller as the next leader, or ends leadership when nobody waits.
func (s *Store) handOff(requeue []*call) {
	s.mu.Lock()
	if len(requeue) > 0 {
		for _, c := range requeue {
			c.queued = true
		}
		s.queue = append(requeue, s.queue...)
	}
	if len(s.queue) == 0 {
		s.leading = false
		s.mu.Unlock()
		return
	}
	next := s.queue[0]
	next.promoted = true
	s.mu.Unlock()
	next.wake <- order{kind: orderLead}
}

// run calls fn with a Tx over btx that stops working once fn returns. When
// fn succeeds, the buckets it emptied are dropped.
func run(fn func(backends.Tx) error, btx *bolt.Tx) error {
	t := &tx{btx: btx, readOnly: !btx.Writable()}
	defer func() { t.btx = nil }()
	if err := fn(t); err != nil {
		return err
	}
	return t.dropEmpty()
}

// tx implements backends.Tx over a bbolt transaction.
type tx struct {
	btx      *bolt.Tx
	readOnly bool
	// deleted names the buckets this transaction deleted keys from; they
	// are checked for emptiness once, at the end.
	deleted map[string]struct{}
}

// dropEmpty deletes the buckets that the transaction left empty: a bucket
// exists only while it holds a key (see backends.Tx).
func (t *tx) dropEmpty() error {
	for name := range t.deleted {
		b := t.btx.Bucket([]byte(name))
		if b == nil {
			continue
		}
		if k, _ := b.Cursor().First(); k == nil {
			if err := t.btx.DeleteBucket([]byte(name)); err != nil {
				return fmt.Errorf("boltstore: drop empty bucket %q: %w", name, err)
			}
		}
	}
	return nil
}

func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	if err := backends.CheckKey(bucket, key); err != nil {
		return nil, err
	}
	if t.btx == nil {
		return nil, errTxDone
	}
	if b := t.btx.Bucket([]byte(bucket)); b != nil {
		// A cursor tells a present empty value from an absent key.
		if k, v := b.Cursor().Seek(key); bytes.Equal(k, key) {
			return append(make([]byte, 0, len(v)), v...), nil
		}
	}
	return nil, fmt.Errorf("boltstore: bucket %q key %x: %w", bucket, key, backends.ErrNotFound)
}

func (t *tx) Put(bucket string, key, value []byte) error {
	if err := backends.CheckKey(bucket, key); err != nil {
		return err
	}
	if t.readOnly {
		return fmt.Errorf("boltstore: put bucket %q: %w", bucket, backends.ErrReadOnly)
	}
	if t.btx == nil {
		return errTxDone
	}
	b, err := t.btx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return fmt.Errorf("boltstore: create bucket %q: %w", bucket, err)
	}
	b.FillPercent = fillPercent
	// bbolt keeps the value slice until the commit; the caller owns it again
	// once Put returns.
	v := make([]byte, len(value))
	copy(v, value)
	if err := b.Put(key, v); err != nil {
		return fmt.Errorf("boltstore: put bucket %q key %x: %w", bucket, key, err)
	}
	return nil
}

func (t *tx) Delete(bucket string, key []byte) error {
	if err := backends.CheckKey(bucket, key); err != nil {
		return err
	}
	if t.readOnly {
		return fmt.Errorf("boltstore: delete bucket %q: %w", bucket, backends.ErrReadOnly)
	}
	if t.btx == nil {
		return errTxDone
	}
	b := t.btx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	if err := b.Delete(key); err != nil {
		return fmt.Errorf("boltstore: delete bucket %q key %x: %w", bucket, key, err)
	}
	if t.deleted == nil {
		t.deleted = make(map[string]struct{})
	}
	t.deleted[bucket] = struct{}{}
	return nil
}

// Buckets implements backends.Tx: bbolt's top-level buckets are the store's
// buckets (a bucket this transaction emptied is skipped; it is dropped at
// the end).
func (t *tx) Buckets(from string, fn func(name string) (bool, error)) error {
	if t.btx == nil {
		return errTxDone
	}
	c := t.btx.Cursor()
	var k []byte
	if from == "" {
		k, _ = c.First()
	} else {
		k, _ = c.Seek([]byte(from))
	}
	for ; k != nil; k, _ = c.Next() {
		if _, ok := t.deleted[string(k)]; ok {
			if first, _ := t.btx.Bucket(k).Cursor().First(); first == nil {
				continue
			}
		}
		more, err := fn(string(k))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// cursor validates a scan and returns a cursor over bucket, or nil when the
// bucket was never written.
func (t *tx) cursor(bucket string, from []byte) (*bolt.Cursor, error) {
	if err := backends.CheckScanStart(bucket, from); err != nil {
		return nil, err
	}
	if t.btx == nil {
		return nil, errTxDone
	}
	b := t.btx.Bucket([]byte(bucket))
	if b == nil {
		return nil, nil
	}
	return b.Cursor(), nil
}

func (t *tx) Ascend(bucket string, from []byte, fn func(key, value []byte) (bool, error)) error {
	c, err := t.cursor(bucket, from)
	if c == nil || err != nil {
		return err
	}
	var k, v []byte
	if from == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(from)
	}
	return visit(c.Next, k, v, fn)
}

func (t *tx) Descend(bucket string, from []byte, fn func(key, value []byte) (bool, error)) error {
	c, err := t.cursor(bucket, from)
	if c == nil || err != nil {
		return err
	}
	var k, v []byte
	if from == nil {
		k, v = c.Last()
	} else {
		// Seek finds the first key >= from; step back unless it is from.
		k, v = c.Seek(from)
		switch {
		case k == nil:
			k, v = c.Last()
		case !bytes.Equal(k, from):
			k, v = c.Prev()
		}
	}
	return visit(c.Prev, k, v, fn)
}

// visit calls fn with copies of k, v and each pair step returns, until the
// keys run out, fn returns false or an error.
func visit(step func() ([]byte, []byte), k, v []byte, fn func(key, value []byte) (bool, error)) error {
	for ; k != nil; k, v = step() {
		// One allocation holds both copies; the full slice expression keeps
		// an append to the key from overwriting the value.
		buf := make([]byte, len(k)+len(v))
		copy(buf, k)
		copy(buf[len(k):], v)
		more, err := fn(buf[:len(k):len(k)], buf[len(k):])
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
	return nil
}
