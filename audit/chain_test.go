package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/internal/testclock"
)

// chained returns a chained trail with 10 entries: seq 1-4 on 2024-05-09,
// seq 5-10 on 2024-05-10.
func chained(t *testing.T, s backends.Store, clock *testclock.Clock) *Trail {
	tr := newTrail(t, s, &Options{Chain: true, Clock: clock.Now, Keep: 1})
	for i := 1; i <= 10; i++ {
		ts := time.Date(2024, 5, 9, 20, 0, i, 0, time.UTC)
		if i > 4 {
			ts = time.Date(2024, 5, 10, 8, 0, i, 0, time.UTC)
		}
		body, _ := json.Marshal(map[string]int{"n": i})
		e := write(t, tr, Entry{Type: TypeEvent, Phase: PhaseSingle, RequestID: fmt.Sprintf("rq-%d", i), Timestamp: ts, Body: body})
		require.Equal(t, uint64(i), e.Seq)
	}
	return tr
}

// entryKeyOf returns the key of the entry with seq.
func entryKeyOf(t *testing.T, s backends.Store, seq uint64) []byte {
	var k []byte
	require.NoError(t, s.View(context.Background(), func(tx backends.Tx) error {
		var err error
		k, err = tx.Get(seqBucket, seqKey(seq))
		return err
	}))
	return k
}

// rewrite changes the stored entry with seq.
func rewrite(t *testing.T, s backends.Store, seq uint64, change func(e *Entry)) {
	k := entryKeyOf(t, s, seq)
	require.NoError(t, s.Update(context.Background(), func(tx backends.Tx) error {
		raw, err := tx.Get(dayBucket(keyDay(k)), k)
		if err != nil {
			return err
		}
		var e Entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		change(&e)
		raw, _ = json.Marshal(&e)
		return tx.Put(dayBucket(keyDay(k)), k, raw)
	}))
}

func verify(t *testing.T, tr *Trail) Verification {
	v, err := tr.Verify(context.Background())
	require.NoError(t, err)
	return v
}

func TestScenario15Chain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		clock := newClock(day10, time.Second)
		tr := chained(t, s, clock)
		assert.Equal(t, Verification{Checked: 10}, verify(t, tr))

		fresh := func(t *testing.T) (*Trail, backends.Store) {
			s := storetest.New(t, adapterOf(t))
			return chained(t, s, newClock(day10, time.Second)), s
		}
		t.Run("altered", func(t *testing.T) {
			tr, s := fresh(t)
			rewrite(t, s, 4, func(e *Entry) { e.Body = json.RawMessage(`{"n":40}`) })
			v := verify(t, tr)
			require.NotNil(t, v.Broken)
			assert.Equal(t, uint64(4), v.Broken.Seq)
			assert.Equal(t, ReasonAltered, v.Broken.Reason)
			assert.Equal(t, 3, v.Checked)
		})
		t.Run("unlinked", func(t *testing.T) {
			tr, s := fresh(t)
			rewrite(t, s, 7, func(e *Entry) {
				e.PrevHash = "00"
				e.Hash, _ = tr.entryHash(e) // a consistent forgery
			})
			v := verify(t, tr)
			require.NotNil(t, v.Broken)
			assert.Equal(t, Link{Seq: 7, ID: v.Broken.ID, Reason: ReasonUnlinked}, *v.Broken)
			assert.NotEmpty(t, v.Broken.ID)
		})
		t.Run("newest rehashed", func(t *testing.T) {
			tr, s := fresh(t)
			rewrite(t, s, 10, func(e *Entry) {
				e.Body = json.RawMessage(`{"n":100}`)
				e.Hash, _ = tr.entryHash(e) // consistent with its predecessor
			})
			v := verify(t, tr)
			require.NotNil(t, v.Broken, "the stored head tells the newest entry was changed")
			assert.Equal(t, Link{Seq: 10, Reason: ReasonHead}, *v.Broken)
		})
		t.Run("appended behind the head", func(t *testing.T) {
			tr, s := fresh(t)
			k10 := entryKeyOf(t, s, 10)
			require.NoError(t, s.Update(context.Background(), func(tx backends.Tx) error {
				raw, err := tx.Get(dayBucket(keyDay(k10)), k10)
				if err != nil {
					return err
				}
				var prev Entry
				if err := json.Unmarshal(raw, &prev); err != nil {
					return err
				}
				forged := prev
				forged.ID, forged.Seq, forged.PrevHash = "01900000-0000-7000-8000-000000000099", 11, prev.Hash
				forged.Timestamp = prev.Timestamp.Add(time.Second)
				forged.Hash, _ = tr.entryHash(&forged)
				id, _ := parseID(forged.ID)
				k := entryKey(forged.Timestamp, forged.Phase, id)
				raw, _ = json.Marshal(&forged)
				if err := tx.Put(dayBucket(keyDay(k)), k, raw); err != nil {
					return err
				}
				return tx.Put(seqBucket, seqKey(11), k)
			}))
			v := verify(t, tr)
			require.NotNil(t, v.Broken)
			assert.Equal(t, Link{Seq: 11, Reason: ReasonHead}, *v.Broken)
		})
		t.Run("missing", func(t *testing.T) {
			tr, s := fresh(t)
			k := entryKeyOf(t, s, 6)
			require.NoError(t, s.Update(context.Background(), func(tx backends.Tx) error {
				return tx.Delete(dayBucket(keyDay(k)), k)
			}))
			v := verify(t, tr)
			require.NotNil(t, v.Broken)
			assert.Equal(t, uint64(6), v.Broken.Seq)
			assert.Equal(t, ReasonMissing, v.Broken.Reason)
			assert.Equal(t, formatID(keyID(k)), v.Broken.ID)

			// Also when the seq index entry goes with it.
			require.NoError(t, s.Update(context.Background(), func(tx backends.Tx) error {
				return tx.Delete(seqBucket, seqKey(6))
			}))
			v = verify(t, tr)
			require.NotNil(t, v.Broken)
			assert.Equal(t, Link{Seq: 6, Reason: ReasonMissing}, *v.Broken)
		})
		t.Run("missing tail", func(t *testing.T) {
			tr, s := fresh(t)
			k := entryKeyOf(t, s, 10)
			require.NoError(t, s.Update(context.Background(), func(tx backends.Tx) error {
				if err := tx.Delete(seqBucket, seqKey(10)); err != nil {
					return err
				}
				return tx.Delete(dayBucket(keyDay(k)), k)
			}))
			v := verify(t, tr)
			require.NotNil(t, v.Broken)
			assert.Equal(t, Link{Seq: 10, Reason: ReasonMissing}, *v.Broken)
			assert.Equal(t, 9, v.Checked)
		})
		t.Run("retention", func(t *testing.T) {
			clock := newClock(day10, time.Second)
			tr := chained(t, storetest.New(t, adapterOf(t)), clock)
			n, err := tr.Retain(context.Background())
			require.NoError(t, err)
			assert.Equal(t, 1, n, "2024-05-09 dropped")
			assert.Equal(t, Verification{Checked: 6}, verify(t, tr), "intact, checked from the anchor")
			assert.Len(t, search(t, tr, Filter{}).Entries, 6)
		})
		t.Run("compression", func(t *testing.T) {
			clock := newClock(day10, time.Second)
			tr := chained(t, storetest.New(t, adapterOf(t)), clock)
			clock.Set(day10.Add(72 * time.Hour))
			_, err := tr.Compress(context.Background())
			require.NoError(t, err)
			assert.Zero(t, countPlain(t, tr.store))
			assert.Equal(t, Verification{Checked: 10}, verify(t, tr), "compression changes no hash")
		})
	})
}

func TestChainRaisesEarlierTimestamps(t *testing.T) {
	tr := newTrail(t, storetest.New(t, "memstore"), &Options{Chain: true})
	a := write(t, tr, Entry{Type: TypeHTTP, Phase: PhaseRequest, Timestamp: day10})
	b := write(t, tr, Entry{Type: TypeHTTP, Phase: PhaseRequest, Timestamp: day10.Add(-time.Hour)})
	assert.Equal(t, a.Timestamp, b.Timestamp, "raised to the head's timestamp")
	assert.Equal(t, a.Hash, b.PrevHash)
	assert.Equal(t, uint64(2), b.Seq)

	plain := newTrail(t, storetest.New(t, "memstore"), nil)
	_, err := plain.Verify(context.Background())
	assert.ErrorIs(t, err, ErrNoChain)
}

// With a chain key the chain is a keyed MAC: a rewrite hashed without the
// key is altered, and a verifier with another key finds the first entry
// altered.
func TestKeyedChain(t *testing.T) {
	s := storetest.New(t, "memstore")
	tr := newTrail(t, s, &Options{Chain: true, ChainKey: []byte("secret")})
	for i := range 5 {
		write(t, tr, Entry{Type: TypeEvent, Phase: PhaseSingle, Timestamp: day10.Add(time.Duration(i) * time.Second)})
	}
	assert.Equal(t, Verification{Checked: 5}, verify(t, tr))

	unkeyed := newTrail(t, s, &Options{Chain: true})
	v := verify(t, unkeyed)
	require.NotNil(t, v.Broken)
	assert.Equal(t, uint64(1), v.Broken.Seq)
	assert.Equal(t, ReasonAltered, v.Broken.Reason)

	rewrite(t, s, 3, func(e *Entry) {
		e.Body = json.RawMessage(`"forged"`)
		e.Hash, _ = unkeyed.entryHash(e) // the forger lacks the key
	})
	v = verify(t, tr)
	require.NotNil(t, v.Broken)
	assert.Equal(t, uint64(3), v.Broken.Seq)
	assert.Equal(t, ReasonAltered, v.Broken.Reason)
}

// TestVerifyWhileWriting: a chain that grows while Verify reads it is
// healthy; what Verify reads of the head and of what lies beyond it, it
// reads in one transaction.
func TestVerifyWhileWriting(t *testing.T) {
	s := storetest.New(t, "memstore")
	clock := testclock.NewStepping(time.Date(2024, 5, 10, 8, 0, 0, 0, time.UTC), time.Millisecond)
	tr := chained(t, s, clock)
	const writes = 2000
	written := make(chan error, 1)
	go func() {
		for i := range writes {
			e := Entry{Type: TypeEvent, Phase: PhaseSingle, RequestID: fmt.Sprintf("w-%d", i), Timestamp: clock.Now()}
			if err := tr.Write(context.Background(), &e); err != nil {
				written <- err
				return
			}
		}
		written <- nil
	}()
	for verified := 0; ; verified++ {
		select {
		case err := <-written:
			require.NoError(t, err)
			require.Positive(t, verified, "no Verify ran during the writes")
			return
		default:
		}
		res, err := tr.Verify(context.Background())
		require.NoError(t, err)
		require.Nil(t, res.Broken, "a growing chain is no broken chain (verification %d)", verified+1)
	}
}
