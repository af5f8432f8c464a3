package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// Compress rewrites every day that ended more than Options.CompressAfter
// (default 24 h) ago into blocks of up to 256 consecutive entries,
// compressed with flate and keyed by their first entry's key; the plain
// entries are deleted in the block's transaction. Search reads blocks in
// the same order and returns the same results as before; hashes and
// indexes are unchanged. An entry written later for a compressed day is
// stored plainly and merged by Search. A run cut short resumes where it
// stopped. Compress returns the number of days it finished.
func (t *Trail) Compress(ctx context.Context) (int, error) {
	cut := dayOf(t.clock().UTC().Add(-t.compressAfter).Add(-24 * time.Hour))
	var days []string
	err := t.store.View(ctx, func(tx backends.Tx) error {
		days = days[:0]
		return tx.Ascend(daysBucket, nil, func(k, v []byte) (bool, error) {
			// A day ended more than compressAfter ago when its start lies
			// before now - compressAfter - 24h.
			if string(k) >= cut {
				return false, nil
			}
			var d dayInfo
			if err := json.Unmarshal(v, &d); err != nil {
				return false, errdefs.Errorf(ErrCorrupt, "audit: day index of %s: %v", k, err)
			}
			if d.State == dayOpen || d.State == dayCompressing {
				days = append(days, string(k))
			}
			return true, nil
		})
	})
	if err != nil {
		return 0, err
	}
	return eachDay(days, "compress", func(day string) error { return t.compressDay(ctx, day) })
}

func (t *Trail) compressDay(ctx context.Context, day string) error {
	for {
		done := false
		err := t.store.Update(ctx, func(tx backends.Tx) error {
			var err error
			done, err = compressBlock(tx, day)
			return err
		})
		if err != nil || done {
			return err
		}
	}
}

// compressBlock packs the next up to blockSize plain entries of day at or
// above its cursor into one block; it reports done when there were none and
// the day is marked compressed.
func compressBlock(tx backends.Tx, day string) (done bool, err error) {
	d, err := getDay(tx, day)
	if err != nil {
		return false, err
	}
	switch d.State {
	case dayOpen:
		d = dayInfo{State: dayCompressing, Cursor: noBlocksAbove}
	case dayCompressing:
	default:
		return true, nil // compressed meanwhile, or being dropped
	}
	bucket := dayBucket(day)
	var entries []stored
	err = tx.Ascend(bucket, d.Cursor, func(k, v []byte) (bool, error) {
		if isBlock(v) {
			return false, errdefs.Errorf(ErrCorrupt, "audit: block %x above the cursor of day %s", k, day)
		}
		entries = append(entries, stored{key: k, raw: v})
		return len(entries) < blockSize, nil
	})
	if err != nil {
		return false, err
	}
	if len(entries) == 0 {
		d.State = dayCompressed
		return true, putDay(tx, day, d)
	}
	block, err := encodeBlock(entries)
	if err != nil {
		return false, err
	}
	for _, s := range entries[1:] {
		if err := tx.Delete(bucket, s.key); err != nil {
			return false, err
		}
	}
	if err := tx.Put(bucket, entries[0].key, block); err != nil {
		return false, err
	}
	last := entries[len(entries)-1].key
	d.Cursor = append(bytes.Clone(last), 0)
	return false, putDay(tx, day, d)
}
