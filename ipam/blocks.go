package ipam

import (
	"errors"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// blockSet holds the free child blocks of one prefix, buddy style: every
// free block is aligned and maximal (its buddy is not wholly free), so the
// blocks are the canonical CIDR decomposition of the free space. Two
// indexes hold the same blocks: by size (best fit is the first key at or
// after the requested length) and by address (the block holding a given
// address is the last key at or before it; a buddy is found with one Get).
type blockSet struct {
	tx     backends.Tx
	bySize string
	byAddr string
	w      int
}

func (b blockSet) add(r *record, start u128, bits int) error {
	if err := b.tx.Put(b.bySize, sizeKey(bits, start), marker); err != nil {
		return err
	}
	if err := b.tx.Put(b.byAddr, numKey(start), []byte{byte(bits)}); err != nil {
		return err
	}
	r.free[bits]++
	return nil
}

func (b blockSet) remove(r *record, start u128, bits int) error {
	if err := b.tx.Delete(b.bySize, sizeKey(bits, start)); err != nil {
		return err
	}
	if err := b.tx.Delete(b.byAddr, numKey(start)); err != nil {
		return err
	}
	r.free[bits]--
	return nil
}

// bestFit returns the smallest free block that can hold a /bits, the lowest
// on ties: one seek.
func (b blockSet) bestFit(bits int) (start u128, bbits int, ok bool, err error) {
	err = b.tx.Ascend(b.bySize, sizeKey(bits, u128{}), func(k, _ []byte) (bool, error) {
		bbits, start, err = decodeSizeKey(k)
		ok = err == nil
		return false, err
	})
	return start, bbits, ok && err == nil, err
}

// largest returns the largest free block, the lowest on ties: two seeks.
func (b blockSet) largest() (start u128, bits int, ok bool, err error) {
	err = b.tx.Descend(b.bySize, nil, func(k, _ []byte) (bool, error) {
		bits, _, err = decodeSizeKey(k)
		ok = err == nil
		return false, err
	})
	if err != nil || !ok {
		return start, bits, false, err
	}
	return b.bestFit(bits)
}

// get returns the length of the free block that starts at start, if any.
func (b blockSet) get(start u128) (bits int, ok bool, err error) {
	v, err := b.tx.Get(b.byAddr, numKey(start))
	if errors.Is(err, backends.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if len(v) != 1 {
		return 0, false, errdefs.Errorf(ErrCorrupt, "ipam: corrupt block entry %x", start)
	}
	return int(v[0]), true, nil
}

// containing returns the free block that contains the address x, if any:
// one seek.
func (b blockSet) containing(x u128) (start u128, bits int, ok bool, err error) {
	err = b.tx.Descend(b.byAddr, numKey(x), func(k, v []byte) (bool, error) {
		if len(k) != 16 || len(v) != 1 {
			return false, errdefs.Errorf(ErrCorrupt, "ipam: corrupt block entry %x", k)
		}
		start, bits = getU128(k), int(v[0])
		ok = x.cmp(start.or(lowMask(b.w-bits))) <= 0
		return false, nil
	})
	return start, bits, ok && err == nil, err
}

// split takes the /cbits block at cstart out of the free block /bbits at
// bstart that holds it; the halves not on the path become free blocks.
func (b blockSet) split(r *record, bstart u128, bbits int, cstart u128, cbits int) error {
	if err := b.remove(r, bstart, bbits); err != nil {
		return err
	}
	for l := bbits + 1; l <= cbits; l++ {
		onPath := cstart.andNot(lowMask(b.w - l))
		if err := b.add(r, onPath.xor(bit(b.w-l)), l); err != nil {
			return err
		}
	}
	return nil
}

// merge frees the /bits block at start, joining it with its free buddies up
// to length minBits.
func (b blockSet) merge(r *record, start u128, bits, minBits int) error {
	for bits > minBits {
		buddy := start.xor(bit(b.w - bits))
		bb, ok, err := b.get(buddy)
		if err != nil {
			return err
		}
		if !ok || bb != bits {
			break
		}
		if err := b.remove(r, buddy, bits); err != nil {
			return err
		}
		start = start.andNot(bit(b.w - bits))
		bits--
	}
	return b.add(r, start, bits)
}
