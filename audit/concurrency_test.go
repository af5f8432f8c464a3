package audit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
)

// Concurrent chained writers serialise on the chain head: every seq is
// used once and the chain verifies.
func TestConcurrentChainedWrites(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		tr, err := New(s, &Options{Chain: true, Component: "c"})
		require.NoError(t, err)
		const writers, each = 4, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					e := Entry{Type: TypeEvent, Phase: PhaseSingle, RequestID: fmt.Sprintf("w%d-%d", w, i)}
					errs <- tr.Write(context.Background(), &e)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		assert.Equal(t, Verification{Checked: writers * each}, verify(t, tr))
		res := search(t, tr, Filter{Limit: 1000})
		require.Len(t, res.Entries, writers*each)
		// Seq order is time order: timestamps never go back as seq grows
		// (equal ones are ordered by phase and id in a search).
		bySeq := make([]time.Time, writers*each+1)
		for _, e := range res.Entries {
			require.NotZero(t, e.Seq)
			bySeq[e.Seq] = e.Timestamp
		}
		for seq := 2; seq <= writers*each; seq++ {
			assert.False(t, bySeq[seq].Before(bySeq[seq-1]), "seq %d is earlier than seq %d", seq, seq-1)
		}
	})
}

func TestRunRetention(t *testing.T) {
	clock := newClock(time.Date(2024, 5, 10, 23, 0, 0, 0, time.UTC), 0)
	tr := newTrail(t, storetest.New(t, "memstore"), &Options{Keep: 3, Clock: clock.Now, CompressAfter: time.Hour})
	seedDays(t, tr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr.hook = func(step string) {
		if step == "dropped" {
			cancel()
		}
	}
	err := tr.RunRetention(ctx, time.Hour)
	require.ErrorIs(t, err, context.Canceled)
	res := search(t, tr, Filter{})
	assert.Len(t, res.Entries, 9)

	assert.ErrorIs(t, tr.RunRetention(context.Background(), 0), ErrInvalidArgument)
}
