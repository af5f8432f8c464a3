package backends

import (
	"errors"
	"fmt"
)

// Prefetch announces reads to tx (see Prefetcher): a Tx that implements
// Prefetcher fetches them together, any other Tx ignores them, since its
// reads cost no round trip. It returns what Prefetcher.Prefetch returns, or
// nil.
func Prefetch(tx Tx, reads ...Read) error {
	if p, ok := tx.(Prefetcher); ok && len(reads) > 0 {
		return p.Prefetch(reads)
	}
	return nil
}

// CheckRead returns an error wrapping ErrInvalidKey when r names an invalid
// bucket or key (see CheckKey and CheckScanStart) or has a negative Limit.
// Adapters that implement Prefetcher check every Read with it.
func CheckRead(r Read) error {
	switch {
	case r.Limit < 0:
		return fmt.Errorf("%w: negative limit %d for a scan of bucket %q", ErrInvalidKey, r.Limit, r.Bucket)
	case r.Limit == 0:
		return CheckKey(r.Bucket, r.Key)
	default:
		return CheckScanStart(r.Bucket, r.Key)
	}
}

// GetMany looks up keys in bucket, fetching them together (one round trip
// on a networked store instead of one per key), and calls fn(i, value) for
// each keys[i] that holds a value, in order of i; keys without a value are
// skipped. An error from fn stops it and is returned; so is an error of the
// store.
func GetMany(tx Tx, bucket string, keys [][]byte, fn func(i int, value []byte) error) error {
	if len(keys) == 0 {
		return nil
	}
	reads := make([]Read, len(keys))
	for i, k := range keys {
		reads[i] = ReadKey(bucket, k)
	}
	if err := Prefetch(tx, reads...); err != nil {
		return err
	}
	for i, k := range keys {
		v, err := tx.Get(bucket, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(i, v); err != nil {
			return err
		}
	}
	return nil
}
