package backends

import "github.com/metalkit/metalkit/errdefs"

// Sentinel errors returned by every adapter. Adapters wrap them with %w and
// context (bucket, key, file, address); callers test with errors.Is. Each
// belongs to one of the shared classes of package errdefs.
var (
	// ErrNotFound is returned by Tx.Get when the bucket holds no value for the
	// key. It is never returned for a failure to reach the storage. Class
	// errdefs.ErrNotFound.
	ErrNotFound = errdefs.Sentinel(errdefs.ErrNotFound, "backends: not found")

	// ErrConflict is returned by Store.Update (and by an optimistic adapter's
	// Store.View) when the transaction kept conflicting with concurrent
	// writers and the adapter gave up after its configured number of retries.
	// Nothing of the transaction was committed. Class errdefs.ErrConflict.
	ErrConflict = errdefs.Sentinel(errdefs.ErrConflict, "backends: transaction conflict, retries exhausted")

	// ErrUnavailable is returned when the storage could not be reached or
	// did not answer: a lost connection, a timeout, a failing disk. It wraps
	// the native error. After a failed commit the outcome of the writes may
	// be unknown. An adapter never reports such a failure as ErrNotFound,
	// and a domain package never turns it into a domain error. Class
	// errdefs.ErrUnavailable.
	ErrUnavailable = errdefs.Sentinel(errdefs.ErrUnavailable, "backends: store unavailable")

	// ErrClosed is returned by View and Update after Close, and by Close when
	// called a second time. Class errdefs.ErrUnavailable.
	ErrClosed = errdefs.Sentinel(errdefs.ErrUnavailable, "backends: store closed")

	// ErrReadOnly is returned by Tx.Put and Tx.Delete inside Store.View.
	// Class errdefs.ErrInvalidArgument.
	ErrReadOnly = errdefs.Sentinel(errdefs.ErrInvalidArgument, "backends: write in a read-only transaction")

	// ErrInvalidKey is returned by every Tx method for an empty bucket name, an
	// empty key, or a key or bucket name longer than MaxKeySize. Class
	// errdefs.ErrInvalidArgument.
	ErrInvalidKey = errdefs.Sentinel(errdefs.ErrInvalidArgument, "backends: invalid bucket or key")

	// ErrKeyExists is returned by Insert when the key holds a value
	// already: by Insert itself, or by Store.Update when an Inserter
	// checks at the commit, and then nothing of the transaction is
	// written. An Insert states that the caller's own data (a free index)
	// says the key is unused, so a value there means the store contradicts
	// itself. Class errdefs.ErrCorrupt.
	ErrKeyExists = errdefs.Sentinel(errdefs.ErrCorrupt, "backends: key holds a value already")
)
