package backends

import "errors"

// Sentinel errors returned by every adapter. Adapters wrap them with %w and
// context (bucket, key, file, address); callers test with errors.Is.
var (
	// ErrNotFound is returned by Tx.Get when the bucket holds no value for the
	// key. It is never returned for a failure to reach the storage.
	ErrNotFound = errors.New("backends: not found")

	// ErrConflict is returned by Store.Update (and by an optimistic adapter's
	// Store.View) when the transaction kept conflicting with concurrent
	// writers and the adapter gave up after its configured number of retries.
	// Nothing of the transaction was committed.
	ErrConflict = errors.New("backends: transaction conflict, retries exhausted")

	// ErrClosed is returned by View and Update after Close, and by Close when
	// called a second time.
	ErrClosed = errors.New("backends: store closed")

	// ErrReadOnly is returned by Tx.Put and Tx.Delete inside Store.View.
	ErrReadOnly = errors.New("backends: write in a read-only transaction")

	// ErrInvalidKey is returned by every Tx method for an empty bucket name, an
	// empty key, or a key or bucket name longer than MaxKeySize.
	ErrInvalidKey = errors.New("backends: invalid bucket or key")
)
