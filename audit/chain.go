package audit

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/check"
)

// Reason says how a link of the hash chain is broken.
type Reason string

// The reasons Verify reports.
const (
	// ReasonAltered: the entry's hash does not match its content.
	ReasonAltered Reason = "altered"
	// ReasonUnlinked: the entry's prev_hash differs from the previous
	// entry's hash.
	ReasonUnlinked Reason = "unlinked"
	// ReasonMissing: an entry of the sequence is gone.
	ReasonMissing Reason = "missing"
	// ReasonHead: the newest entry does not match the chain head stored
	// beside the chain (it was edited and rehashed, or entries were added
	// behind the head).
	ReasonHead Reason = "head"
)

// Link names a broken link of the chain.
type Link struct {
	Seq    uint64 `json:"seq"`
	ID     string `json:"id,omitempty"` // empty when not even the index names it
	Reason Reason `json:"reason"`
}

// Verification is the outcome of Verify.
type Verification struct {
	// Checked is the number of entries found intact before the walk ended
	// or hit the broken link.
	Checked int `json:"checked"`
	// Broken is the first broken link, nil when the chain is intact.
	Broken *Link `json:"broken,omitempty"`
}

// verifyBatch is the most entries Verify reads in one transaction.
const verifyBatch = 1000

// Verify walks the hash chain in seq order from the anchor left by
// retention (or from seq 1) up to the head as it was when Verify started,
// and reports how many entries it checked and the first broken link. The
// newest entry's hash must equal the head's, and no entry may follow the
// head (ReasonHead otherwise), so that editing and rehashing the newest
// entry, or appending behind the head, is detected too. While
// retention is dropping a day, the entries of that day are skipped and the
// walk starts at the first entry after them without checking its link. The
// walk reads in transactions of bounded size; an error is returned only
// when the store fails. On a trail without Options.Chain it returns
// ErrNoChain.
func (t *Trail) Verify(ctx context.Context) (Verification, error) {
	var res Verification
	if !t.chain {
		return res, ErrNoChain
	}
	var anchor, head chainPoint
	lenient, beyond := false, false
	err := t.store.View(ctx, func(tx backends.Tx) error {
		var err error
		if anchor, err = getPoint(tx, anchorKey); err != nil {
			return err
		}
		if head, err = getPoint(tx, headKey); err != nil {
			return err
		}
		// An entry after the head, seen in the same transaction as the
		// head, was appended without moving it.
		if beyond, err = entryAfter(tx, head.Seq); err != nil {
			return err
		}
		lenient = false
		return tx.Ascend(daysBucket, nil, func(_, v []byte) (bool, error) {
			var d dayInfo
			if json.Unmarshal(v, &d) == nil && d.State == dayDropping {
				lenient = true
				return false, nil
			}
			return true, nil
		})
	})
	if err != nil {
		return res, err
	}
	next, prev := anchor.Seq+1, anchor.Hash
	for next <= head.Seq && res.Broken == nil {
		checked, n, p, broken := res.Checked, next, prev, (*Link)(nil)
		lenientNow := lenient
		err := t.store.View(ctx, func(tx backends.Tx) error {
			checked, n, p, broken, lenientNow = res.Checked, next, prev, nil, lenient
			type ref struct {
				seq uint64
				key []byte
			}
			var refs []ref
			err := tx.Ascend(seqBucket, seqKey(n), func(k, v []byte) (bool, error) {
				s := binary.BigEndian.Uint64(k)
				if s > head.Seq {
					return false, nil
				}
				refs = append(refs, ref{s, v})
				return len(refs) < verifyBatch, nil
			})
			if err != nil {
				return err
			}
			r := newReader(tx)
			for _, x := range refs {
				if len(x.key) != entryKeyLen {
					broken = &Link{Seq: x.seq, Reason: ReasonMissing}
					return nil
				}
				id := formatID(keyID(x.key))
				d, err := r.day(keyDay(x.key))
				if err != nil {
					return err
				}
				if lenientNow && d != nil && d.State == dayDropping {
					n = x.seq + 1
					continue
				}
				if x.seq != n && !lenientNow {
					broken = &Link{Seq: n, Reason: ReasonMissing}
					return nil
				}
				raw, err := r.get(x.key)
				if errors.Is(err, backends.ErrNotFound) {
					broken = &Link{Seq: x.seq, ID: id, Reason: ReasonMissing}
					return nil
				}
				if err != nil {
					return err
				}
				var e Entry
				if json.Unmarshal(raw, &e) != nil || e.Seq != x.seq {
					broken = &Link{Seq: x.seq, ID: id, Reason: ReasonAltered}
					return nil
				}
				if h, err := t.entryHash(&e); err != nil || h != e.Hash {
					broken = &Link{Seq: x.seq, ID: id, Reason: ReasonAltered}
					return nil
				}
				if !lenientNow && e.PrevHash != p {
					broken = &Link{Seq: x.seq, ID: id, Reason: ReasonUnlinked}
					return nil
				}
				lenientNow = false
				p, n = e.Hash, x.seq+1
				checked++
			}
			if len(refs) < verifyBatch && n <= head.Seq && !lenientNow {
				// The index ends before the head: the tail is gone.
				broken = &Link{Seq: n, Reason: ReasonMissing}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		if n == next && broken == nil {
			break // nothing left to read (only possible while lenient)
		}
		res.Checked, next, prev, lenient, res.Broken = checked, n, p, lenientNow, broken
	}
	if res.Broken == nil && head.Seq > anchor.Seq && prev != head.Hash && !lenient {
		res.Broken = &Link{Seq: head.Seq, Reason: ReasonHead}
	}
	if res.Broken == nil && beyond {
		res.Broken = &Link{Seq: head.Seq + 1, Reason: ReasonHead}
	}
	return res, nil
}

// entryAfter reports whether the seq index names an entry after seq.
func entryAfter(tx backends.Tx, seq uint64) (bool, error) {
	found := false
	err := tx.Ascend(seqBucket, seqKey(seq+1), func(_, _ []byte) (bool, error) {
		found = true
		return false, nil
	})
	return found, err
}

// Check reports the trail's hash chain as a consistency finding when
// Verify finds a broken link (invariant "audit.chain"); a trail without a
// chain has nothing to check. Broken links are not repairable: they are
// evidence.
func (t *Trail) Check(ctx context.Context) ([]check.Finding, error) {
	if !t.chain {
		return nil, nil
	}
	v, err := t.Verify(ctx)
	if err != nil || v.Broken == nil {
		return nil, err
	}
	return []check.Finding{{
		Invariant: "audit.chain",
		Message:   fmt.Sprintf("audit: the hash chain is broken at seq %d (entry %q): %s, after %d intact entries", v.Broken.Seq, v.Broken.ID, v.Broken.Reason, v.Checked),
		Keys:      []check.Key{{Bucket: seqBucket, Key: seqKey(v.Broken.Seq)}},
	}}, nil
}
