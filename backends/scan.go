package backends

import (
	"bytes"
	"errors"
)

// AscendPrefix calls fn for each key of bucket that starts with prefix, in
// ascending order, until fn returns false or an error, and stops reading at
// the first key past the prefix. A nil or empty prefix scans the whole
// bucket. The rules of Tx.Ascend apply: fn must not write to the bucket.
func AscendPrefix(tx Tx, bucket string, prefix []byte, fn func(key, value []byte) (more bool, err error)) error {
	var from []byte
	if len(prefix) > 0 {
		from = prefix
	}
	return tx.Ascend(bucket, from, func(k, v []byte) (bool, error) {
		if !bytes.HasPrefix(k, prefix) {
			return false, nil
		}
		return fn(k, v)
	})
}

// KeysWithPrefix returns the keys of bucket that start with prefix, in
// ascending order.
func KeysWithPrefix(tx Tx, bucket string, prefix []byte) ([][]byte, error) {
	var keys [][]byte
	err := AscendPrefix(tx, bucket, prefix, func(k, _ []byte) (bool, error) {
		keys = append(keys, k)
		return true, nil
	})
	return keys, err
}

// HasPrefix reports whether bucket holds a key that starts with prefix; it
// reads at most one key.
func HasPrefix(tx Tx, bucket string, prefix []byte) (bool, error) {
	found := false
	err := AscendPrefix(tx, bucket, prefix, func(_, _ []byte) (bool, error) {
		found = true
		return false, nil
	})
	return found, err
}

// Has reports whether bucket holds key; an absent key (ErrNotFound) is
// false with no error, any other error of the read is returned.
func Has(tx Tx, bucket string, key []byte) (bool, error) {
	_, err := tx.Get(bucket, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// DeletePrefix deletes every key of bucket that starts with prefix (a nil
// prefix empties the bucket, which then vanishes) and returns how many it
// deleted.
func DeletePrefix(tx Tx, bucket string, prefix []byte) (int, error) {
	keys, err := KeysWithPrefix(tx, bucket, prefix)
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := tx.Delete(bucket, k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// DescendPrefix calls fn for each key of bucket that starts with prefix and
// is <= from, in descending order, until fn returns false or an error, and
// stops reading at the first key before the prefix. A nil from starts at
// the last key with the prefix. The rules of Tx.Descend apply.
func DescendPrefix(tx Tx, bucket string, prefix, from []byte, fn func(key, value []byte) (more bool, err error)) error {
	start := from
	if start == nil {
		start = successor(prefix) // nil: the prefix is all 0xff, start at the end
	}
	return tx.Descend(bucket, start, func(k, v []byte) (bool, error) {
		if !bytes.HasPrefix(k, prefix) {
			if bytes.Compare(k, prefix) > 0 {
				return true, nil // the successor itself, past the prefix's keys
			}
			return false, nil
		}
		return fn(k, v)
	})
}

// successor returns the smallest key greater than every key that starts
// with p, or nil when there is none (p empty or all 0xff).
func successor(p []byte) []byte {
	s := bytes.Clone(p)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < 0xff {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}
