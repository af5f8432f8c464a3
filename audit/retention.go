package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// Retain drops every UTC day older than the Options.Keep most recent days
// up to and including today by the clock: Keep 3 on 2024-05-10 keeps 05-08,
// 05-09 and 05-10. Days after today (clock skew) stay. With Keep 0 it does
// nothing.
//
// A day goes whole: first it is marked dropping in the day index, from
// which moment searches skip it; then its entries and their index keys are
// deleted in transactions of bounded size; then its index entry. A run cut
// short (an error, a cancelled ctx, a crash) leaves the day marked and the
// next Retain finishes it. With Options.Chain the last dropped entry
// becomes the chain's anchor, from which Verify starts. Retain returns the
// number of days it dropped completely.
func (t *Trail) Retain(ctx context.Context) (int, error) {
	if t.keep == 0 {
		return 0, nil
	}
	today := t.clock().UTC()
	first := time.Date(today.Year(), today.Month(), today.Day()-(t.keep-1), 0, 0, 0, 0, time.UTC)
	cut := dayOf(first)
	var days []string
	err := t.store.View(ctx, func(tx backends.Tx) error {
		days = days[:0]
		return tx.Ascend(daysBucket, nil, func(k, _ []byte) (bool, error) {
			if string(k) >= cut {
				return false, nil
			}
			days = append(days, string(k))
			return true, nil
		})
	})
	if err != nil {
		return 0, err
	}
	return eachDay(days, "drop", func(day string) error { return t.dropDay(ctx, day) })
}

// eachDay runs fn for each day in order and returns how many succeeded; it
// stops at the first error, which names the verb and the day.
func eachDay(days []string, verb string, fn func(day string) error) (int, error) {
	for n, day := range days {
		if err := fn(day); err != nil {
			return n, fmt.Errorf("audit: %s day %s: %w", verb, day, err)
		}
	}
	return len(days), nil
}

// RunRetention calls Retain now and then every interval, and Compress after
// each Retain when Options.CompressAfter is set, until ctx is done; it
// returns ctx's error. Failures are logged and retried at the next tick. It
// blocks: run it in a goroutine of your own.
func (t *Trail) RunRetention(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return errdefs.Errorf(ErrInvalidArgument, "audit: interval %s is not positive", every)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if _, err := t.Retain(ctx); err != nil && ctx.Err() == nil {
			t.log.Error("audit: retention failed", "error", err)
		}
		if t.autoCompress {
			if _, err := t.Compress(ctx); err != nil && ctx.Err() == nil {
				t.log.Error("audit: compression failed", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (t *Trail) step(name string) {
	if t.hook != nil {
		t.hook(name)
	}
}

// dropDay marks day dropping and deletes it in batches.
func (t *Trail) dropDay(ctx context.Context, day string) error {
	err := t.store.Update(ctx, func(tx backends.Tx) error {
		d, err := getDay(tx, day)
		if err != nil {
			return err
		}
		if d.State == dayDropping {
			return nil
		}
		return putDay(tx, day, dayInfo{State: dayDropping})
	})
	if err != nil {
		return err
	}
	t.step("marked")
	for {
		done := false
		err := t.store.Update(ctx, func(tx backends.Tx) error {
			var err error
			done, err = t.dropBatch(tx, day)
			return err
		})
		if err != nil {
			return err
		}
		if done {
			t.step("dropped")
			return nil
		}
		t.step("batch")
	}
}

// dropBatch deletes up to t.batch entries of day with their index keys. When
// the day is empty it removes the day from the index instead, moves the
// chain anchor, and reports done.
func (t *Trail) dropBatch(tx backends.Tx, day string) (done bool, err error) {
	d, err := getDay(tx, day)
	if err != nil {
		return false, err
	}
	bucket := dayBucket(day)
	var keys [][]byte
	var entries []stored
	err = tx.Ascend(bucket, nil, func(k, v []byte) (bool, error) {
		keys = append(keys, k)
		if isBlock(v) {
			es, err := decodeBlock(v)
			if err != nil {
				return false, err
			}
			entries = append(entries, es...)
		} else {
			entries = append(entries, stored{key: k, raw: v})
		}
		return len(entries) < t.batch, nil
	})
	if err != nil {
		return false, err
	}
	if len(keys) == 0 {
		if d.AnchorSeq > 0 {
			a, err := getPoint(tx, anchorKey)
			if err != nil {
				return false, err
			}
			if d.AnchorSeq > a.Seq {
				if err := putPoint(tx, anchorKey, chainPoint{Seq: d.AnchorSeq, Hash: d.AnchorHash}); err != nil {
					return false, err
				}
			}
		}
		return true, tx.Delete(daysBucket, []byte(day))
	}
	for _, s := range entries {
		var e struct {
			RequestID string `json:"rqid"`
			Seq       uint64 `json:"seq"`
			Hash      string `json:"hash"`
		}
		if err := json.Unmarshal(s.raw, &e); err != nil {
			// A damaged entry still goes; its index keys cannot be named.
			continue
		}
		if e.RequestID != "" {
			if err := tx.Delete(rqidBucket, rqidKey(e.RequestID, s.key)); err != nil {
				return false, err
			}
		}
		if e.Seq > 0 {
			if err := deleteSeq(tx, e.Seq, s.key); err != nil {
				return false, err
			}
			if e.Seq > d.AnchorSeq {
				d.AnchorSeq, d.AnchorHash = e.Seq, e.Hash
			}
		}
	}
	for _, k := range keys {
		if err := tx.Delete(bucket, k); err != nil {
			return false, err
		}
	}
	return false, putDay(tx, day, d)
}

// deleteSeq removes seq from the seq index when it still names key.
func deleteSeq(tx backends.Tx, seq uint64, key []byte) error {
	v, err := tx.Get(seqBucket, seqKey(seq))
	if errors.Is(err, backends.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !bytes.Equal(v, key) {
		return nil
	}
	return tx.Delete(seqBucket, seqKey(seq))
}
