package backends

import (
	"errors"
	"fmt"
)

// Inserter is implemented by the Tx of an adapter for which a read is a
// round trip to a server (redisstore): it checks that a key is absent as
// part of the commit instead of reading it first. Call it through the
// function Insert.
type Inserter interface {
	// Insert stores value under key in bucket, like Put, on the condition
	// that the key holds no value. When the transaction knows already
	// (it read or wrote the key), Insert fails at once with an error
	// wrapping ErrKeyExists and buffers nothing; otherwise the commit
	// checks the condition together with the writes, and when it fails,
	// writes nothing and Store.Update returns an error wrapping
	// ErrKeyExists that names the bucket and the key.
	Insert(bucket string, key, value []byte) error
}

// Insert stores value under key in bucket if the key holds no value, and
// fails with an error wrapping ErrKeyExists (naming bucket and key)
// otherwise. It is for writes that must never replace a value, such as a
// record under an address a free index handed out. On a Tx that implements
// Inserter the check may happen at the commit (see Inserter), so the
// failure can come from Store.Update instead; either way the transaction
// writes nothing. Any other Tx is checked with a Get, which costs no round
// trip there.
func Insert(tx Tx, bucket string, key, value []byte) error {
	if in, ok := tx.(Inserter); ok {
		return in.Insert(bucket, key, value)
	}
	_, err := tx.Get(bucket, key)
	switch {
	case err == nil:
		return KeyExistsError(bucket, key)
	case !errors.Is(err, ErrNotFound):
		return err
	}
	return tx.Put(bucket, key, value)
}

// KeyExistsError returns the error of an Insert under key in bucket that
// found a value there: it wraps ErrKeyExists.
func KeyExistsError(bucket string, key []byte) error {
	return fmt.Errorf("%w: bucket %q key %x", ErrKeyExists, bucket, key)
}
