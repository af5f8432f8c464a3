package backends

import "fmt"

// CheckKey returns an error wrapping ErrInvalidKey when bucket or key is empty
// or longer than MaxKeySize. Adapters call it at the top of every Tx method.
func CheckKey(bucket string, key []byte) error {
	if err := CheckBucket(bucket); err != nil {
		return err
	}
	switch {
	case len(key) == 0:
		return fmt.Errorf("%w: empty key in bucket %q", ErrInvalidKey, bucket)
	case len(key) > MaxKeySize:
		return fmt.Errorf("%w: key of %d bytes in bucket %q exceeds %d", ErrInvalidKey, len(key), bucket, MaxKeySize)
	}
	return nil
}

// CheckBucket returns an error wrapping ErrInvalidKey when bucket is empty or
// longer than MaxKeySize.
func CheckBucket(bucket string) error {
	switch {
	case bucket == "":
		return fmt.Errorf("%w: empty bucket name", ErrInvalidKey)
	case len(bucket) > MaxKeySize:
		return fmt.Errorf("%w: bucket name of %d bytes exceeds %d", ErrInvalidKey, len(bucket), MaxKeySize)
	}
	return nil
}

// CheckScanStart validates the bucket and, when it is not nil, the start key
// of an Ascend or Descend.
func CheckScanStart(bucket string, from []byte) error {
	if from == nil {
		return CheckBucket(bucket)
	}
	return CheckKey(bucket, from)
}
