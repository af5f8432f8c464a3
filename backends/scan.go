package backends

import "bytes"

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
