package audit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/testclock"
)

func newClock(t time.Time, step time.Duration) *testclock.Clock {
	return testclock.NewStepping(t, step)
}

// seqIDs returns an ID source of increasing UUIDs.
func seqIDs() func() string {
	var mu sync.Mutex
	n := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("00000000-0000-7000-8000-%012x", n)
	}
}

var day10 = time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC)

func newTrail(t testing.TB, s backends.Store, o *Options) *Trail {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	if o.Clock == nil {
		o.Clock = newClock(day10, time.Second).Now
	}
	if o.IDs == nil {
		o.IDs = seqIDs()
	}
	if o.Component == "" {
		o.Component = "metal-api"
	}
	tr, err := New(s, o)
	require.NoError(t, err)
	return tr
}

func search(t testing.TB, tr *Trail, f Filter) *Result {
	t.Helper()
	res, err := tr.Search(context.Background(), f)
	require.NoError(t, err)
	return res
}

func ids(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func write(t testing.TB, tr *Trail, e Entry) Entry {
	t.Helper()
	require.NoError(t, tr.Write(context.Background(), &e))
	return e
}

func intp(i int) *int { return &i }
