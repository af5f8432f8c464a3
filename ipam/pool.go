package ipam

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// Integer pools for VRF ids, ASNs and the like, on the same free-range
// machinery as addresses.
const (
	// VRFPoolMin and VRFPoolMax bound metal-stack's VRF pool.
	VRFPoolMin = 1
	VRFPoolMax = 131072
)

// Pool is an integer pool as GetPool reports it.
type Pool struct {
	// Name identifies the pool.
	Name string `json:"name"`
	// Min and Max bound the pool, both included.
	Min uint64 `json:"min"`
	Max uint64 `json:"max"`
	// Used counts the values taken.
	Used uint64 `json:"used"`
}

// Free returns the number of values not taken.
func (p Pool) Free() uint64 { return p.Max - p.Min + 1 - p.Used }

func (p Pool) encode() []byte {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b[0:], p.Min)
	binary.BigEndian.PutUint64(b[8:], p.Max)
	binary.BigEndian.PutUint64(b[16:], p.Used)
	return b
}

func checkPoolName(name string) error {
	if name == "" || len(name) > 1024 {
		return errdefs.Errorf(ErrInvalidArgument, "ipam: pool name %q must have 1 to 1024 bytes", name)
	}
	return nil
}

// GetPool returns the pool called name, or an error wrapping ErrNotFound.
// Cost: one Get.
func GetPool(tx backends.Tx, name string) (Pool, error) { return loadPool(tx, name, nil) }

// loadPool is GetPool; the seeks an operation makes next in the pool's
// free ranges are announced with the Get (see loadRecord).
func loadPool(tx backends.Tx, name string, also func() []backends.Read) (Pool, error) {
	if err := checkPoolName(name); err != nil {
		return Pool{}, err
	}
	if err := announce(tx, also, bucketPools, func() []byte { return []byte(name) }); err != nil {
		return Pool{}, err
	}
	v, err := tx.Get(bucketPools, []byte(name))
	if errors.Is(err, backends.ErrNotFound) {
		return Pool{}, errdefs.Errorf(ErrNotFound, "ipam: pool %q", name)
	}
	if err != nil {
		return Pool{}, err
	}
	if len(v) != 24 {
		return Pool{}, errdefs.Errorf(ErrCorrupt, "ipam: pool %q: corrupt record %x", name, v)
	}
	return Pool{
		Name: name,
		Min:  binary.BigEndian.Uint64(v[0:]),
		Max:  binary.BigEndian.Uint64(v[8:]),
		Used: binary.BigEndian.Uint64(v[16:]),
	}, nil
}

// CreatePool creates the integer pool name holding min..max (both
// included), all free. It fails with ErrInvalidArgument for an empty name,
// min > max or a pool of all 2^64 values, and with ErrAlreadyExists if the
// name is taken.
func CreatePool(tx backends.Tx, name string, min, max uint64) error {
	if err := checkPoolName(name); err != nil {
		return err
	}
	if min > max || (min == 0 && max == math.MaxUint64) {
		return errdefs.Errorf(ErrInvalidArgument, "ipam: pool %q: bounds %d..%d are not a range of fewer than 2^64 values", name, min, max)
	}
	_, err := GetPool(tx, name)
	if err == nil {
		return errdefs.Errorf(ErrAlreadyExists, "ipam: pool %q", name)
	}
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := (rangeSet{tx: tx, bucket: poolBucket(name)}).put(u64(min), u64(max)); err != nil {
		return err
	}
	return tx.Put(bucketPools, []byte(name), Pool{Min: min, Max: max}.encode())
}

// DeletePool removes a pool with no value taken (else ErrInUse).
func DeletePool(tx backends.Tx, name string) error {
	p, err := GetPool(tx, name)
	if err != nil {
		return err
	}
	if p.Used != 0 {
		return errdefs.Errorf(ErrInUse, "ipam: pool %q has %d values taken", name, p.Used)
	}
	if err := tx.Delete(poolBucket(name), numKey(u64(p.Min))); err != nil {
		return err
	}
	return tx.Delete(bucketPools, []byte(name))
}

// AcquireInt takes the lowest free value of the pool. It fails with
// ErrExhausted when none is free. Cost: one Get, one seek, three writes.
func AcquireInt(tx backends.Tx, name string) (uint64, error) {
	p, err := loadPool(tx, name, func() []backends.Read {
		return []backends.Read{backends.ReadAscend(poolBucket(name), nil, 1)}
	})
	if err != nil {
		return 0, err
	}
	u, ok, err := rangeSet{tx: tx, bucket: poolBucket(name)}.takeFirst()
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, errdefs.Errorf(ErrExhausted, "ipam: pool %q (%d..%d): no free value", name, p.Min, p.Max)
	}
	p.Used++
	return u.lo, tx.Put(bucketPools, []byte(name), p.encode())
}

// AcquireSpecificInt takes the value v of the pool. It fails with
// ErrInvalidArgument if v is outside the pool and with ErrAlreadyAllocated
// if v is taken.
func AcquireSpecificInt(tx backends.Tx, name string, v uint64) error {
	p, err := loadPool(tx, name, func() []backends.Read {
		return []backends.Read{backends.ReadDescend(poolBucket(name), numKey(u64(v)), 1)}
	})
	if err != nil {
		return err
	}
	if v < p.Min || v > p.Max {
		return errdefs.Errorf(ErrInvalidArgument, "ipam: pool %q: value %d is outside %d..%d", name, v, p.Min, p.Max)
	}
	ok, err := rangeSet{tx: tx, bucket: poolBucket(name)}.take(u64(v))
	if err != nil {
		return err
	}
	if !ok {
		return errdefs.Errorf(ErrAlreadyAllocated, "ipam: pool %q: value %d is taken", name, v)
	}
	p.Used++
	return tx.Put(bucketPools, []byte(name), p.encode())
}

// ReleaseInt returns the value v to the pool. It fails with
// ErrInvalidArgument if v is outside the pool and with ErrNotFound if v is
// not taken.
func ReleaseInt(tx backends.Tx, name string, v uint64) error {
	p, err := loadPool(tx, name, func() []backends.Read { return releaseSeeks(poolBucket(name), u64(v)) })
	if err != nil {
		return err
	}
	if v < p.Min || v > p.Max {
		return errdefs.Errorf(ErrInvalidArgument, "ipam: pool %q: value %d is outside %d..%d", name, v, p.Min, p.Max)
	}
	ok, err := rangeSet{tx: tx, bucket: poolBucket(name)}.release(u64(v))
	if err != nil {
		return err
	}
	if !ok {
		return errdefs.Errorf(ErrNotFound, "ipam: pool %q: value %d is not taken", name, v)
	}
	p.Used--
	return tx.Put(bucketPools, []byte(name), p.encode())
}
