// Package backends defines the storage contract every metalkit adapter
// implements: a small, ordered, transactional key-value interface.
//
// A Store holds named buckets; a bucket maps byte keys to byte values and is
// ordered by key (bytewise, as bytes.Compare). All access happens inside a
// transaction: View for reads, Update for reads and writes. Domain packages
// write every operation as a function of a Tx, so an operation that spans
// packages commits all of its writes together or none of them.
//
// Adapters: memstore (in memory), boltstore (one bbolt file) and redisstore
// (Redis, shared by many processes). The conformance suite in backendtest
// checks every guarantee documented here.
//
// # Reads that cost a round trip
//
// With a networked adapter every Get and every batch of a scan is a round
// trip to a server, so a loop of Gets costs one round trip per key. A Tx of
// such an adapter implements Prefetcher: Prefetch announces the reads that
// follow, and the adapter fetches them all in one round trip. The helpers
// Prefetch and GetMany use it when it is there and cost nothing otherwise,
// so domain code announces its reads without knowing the adapter.
package backends

import "context"

// MaxKeySize is the largest key or bucket name, in bytes, every adapter
// accepts.
const MaxKeySize = 32 * 1024

// Store is a transactional, ordered key-value store.
//
// Store is safe for concurrent use by many goroutines.
type Store interface {
	// View runs fn in a read-only transaction. fn sees one consistent state
	// of the store: no write committed by another transaction becomes
	// visible halfway through fn. Put and Delete inside View return
	// ErrReadOnly.
	//
	// fn may run more than once (an optimistic adapter re-runs it when the
	// state it read changed before it finished); it must have no effect
	// outside the Tx. View returns fn's error unchanged, ctx.Err() if ctx is
	// done before fn starts, ErrConflict if the adapter gave up retrying, or
	// an adapter error.
	View(ctx context.Context, fn func(Tx) error) error

	// Update runs fn in a read-write transaction and commits its writes
	// atomically if and only if fn returns nil. When fn returns an error,
	// nothing is written and Update returns that error unchanged. When fn
	// panics, nothing is written and the panic continues in the caller's
	// goroutine. Transactions are serializable: the outcome is as if every
	// committed Update ran alone, one after another.
	//
	// fn may run more than once (an optimistic adapter retries on
	// conflict), so it must have no side effect outside the Tx: compute
	// results into variables that are overwritten on each run.
	//
	// A ctx that is done before the commit commits nothing; Update then
	// returns ctx.Err() (possibly wrapped). When Update returns nil the
	// writes are committed (and, for a durable adapter, durable).
	Update(ctx context.Context, fn func(Tx) error) error

	// Close releases the store. Transactions started afterwards fail with
	// ErrClosed. Close does not wait for running transactions in adapters
	// that document so; callers close a store after their last use.
	Close() error
}

// Tx is one transaction. It is valid only during the fn it was passed to
// and must not be used from several goroutines at once.
//
// Ownership: slices passed to Put belong to the caller again once Put
// returns (the adapter copies them); slices returned by Get and passed to
// iteration callbacks belong to the caller and stay valid after the
// transaction ends.
//
// Buckets exist exactly while they hold a key: a bucket is created by its
// first Put and vanishes with its last key, in every adapter, leaving
// nothing behind in the underlying storage (no empty bbolt bucket, no Redis
// index or version key). There is no need to create or delete buckets. An
// empty bucket name or key, or one longer than MaxKeySize, fails with
// ErrInvalidKey.
type Tx interface {
	// Get returns the value stored under key in bucket, or an error that
	// wraps ErrNotFound when there is none. A transaction sees its own
	// earlier writes.
	Get(bucket string, key []byte) ([]byte, error)

	// Put stores value under key in bucket, replacing any earlier value.
	// A nil value is stored as an empty value.
	Put(bucket string, key, value []byte) error

	// Delete removes key from bucket. Deleting an absent key is not an
	// error.
	Delete(bucket string, key []byte) error

	// Ascend calls fn for each key of bucket that is >= from, in ascending
	// key order, until fn returns false or an error. A nil from starts at
	// the first key. An error from fn stops the scan and is returned.
	//
	// fn must not write to the bucket being scanned; collect the keys and
	// write after the scan returns.
	Ascend(bucket string, from []byte, fn func(key, value []byte) (more bool, err error)) error

	// Descend calls fn for each key of bucket that is <= from, in
	// descending key order, until fn returns false or an error. A nil from
	// starts at the last key. The same rules as Ascend apply.
	Descend(bucket string, from []byte, fn func(key, value []byte) (more bool, err error)) error

	// Buckets calls fn with the name of each bucket that holds at least one
	// key (the transaction's own writes included), in ascending byte order,
	// starting at the first name >= from ("" starts at the first bucket),
	// until fn returns false or an error. It exists for tools that walk a
	// whole store (dumps, consistency checks); domain operations address
	// their buckets by name. An optimistic adapter may treat the listing as
	// a read of every bucket it names.
	Buckets(from string, fn func(name string) (more bool, err error)) error
}

// Read names one read for Prefetch: the value stored under Key in Bucket
// (Limit 0), or the first Limit keys of a scan of Bucket from Key with their
// values (Limit > 0): an Ascend, or a Descend when Desc is set, with Key the
// scan's from (nil starts at the first, or last, key).
type Read struct {
	Bucket string
	Key    []byte
	Limit  int
	Desc   bool
}

// ReadKey returns the Read of the value under key in bucket.
func ReadKey(bucket string, key []byte) Read { return Read{Bucket: bucket, Key: key} }

// ReadAscend returns the Read of the first limit keys of an Ascend of
// bucket from from.
func ReadAscend(bucket string, from []byte, limit int) Read {
	return Read{Bucket: bucket, Key: from, Limit: limit}
}

// ReadDescend returns the Read of the first limit keys of a Descend of
// bucket from from.
func ReadDescend(bucket string, from []byte, limit int) Read {
	return Read{Bucket: bucket, Key: from, Limit: limit, Desc: true}
}

// Prefetcher is implemented by the Tx of an adapter for which every read is
// a round trip to a server (redisstore). Call it through the function
// Prefetch, which does nothing for a Tx without it.
type Prefetcher interface {
	// Prefetch fetches everything reads name in one round trip (or a few,
	// for very many reads) and keeps it in the transaction, so that the
	// Gets and scans that follow are answered from memory. It is a hint:
	// what Get, Ascend, Descend and the commit do is the same with or
	// without it, except that an optimistic adapter treats every announced
	// read as made (a concurrent write to what it names may make the
	// transaction run again). A scan that goes on past the Limit it
	// announced reads the rest as usual.
	//
	// It returns an error wrapping ErrInvalidKey, and fetches nothing, when
	// a read names an invalid bucket or key or has a negative Limit, and an
	// adapter error (ErrUnavailable) when the server cannot be reached.
	Prefetch(reads []Read) error
}
