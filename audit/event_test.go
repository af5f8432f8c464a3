package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
)

// retryingStore runs every Update's fn twice: first in a transaction it
// rolls back, as an optimistic adapter does after a conflict, then for
// real.
type retryingStore struct {
	backends.Store
	runs int
}

var errRetry = errors.New("simulated conflict")

func (s *retryingStore) Update(ctx context.Context, fn func(backends.Tx) error) error {
	err := s.Store.Update(ctx, func(tx backends.Tx) error {
		s.runs++
		if err := fn(tx); err != nil {
			return err
		}
		return errRetry
	})
	if !errors.Is(err, errRetry) {
		return err
	}
	return s.Store.Update(ctx, func(tx backends.Tx) error {
		s.runs++
		return fn(tx)
	})
}

var errNoIP = errors.New("no free IP")

// allocate is a stand-in for a machine allocation: it writes the machine
// and four IPs, failing after the second IP when fail is set.
func allocate(machine string, fail bool) func(tx backends.Tx) error {
	return func(tx backends.Tx) error {
		if err := tx.Put("machine", []byte(machine), []byte(`{"allocated":true}`)); err != nil {
			return err
		}
		for i := range 4 {
			if fail && i == 2 {
				return errNoIP
			}
			if err := tx.Put("ip", []byte(fmt.Sprintf("10.0.0.%d", i)), []byte(machine)); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestScenario14EventEntries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		ctx := context.Background()
		store := &retryingStore{Store: s}
		tr := newTrail(t, store, nil)
		actor := Actor{User: "alice", Tenant: "acme", Project: "p1", RequestID: "R"}
		ev := func() *Event {
			return &Event{Actor: actor, Detail: "machine.allocate", Body: map[string]string{"size": "c1-large"}}
		}

		err := tr.Update(ctx, store, ev(), allocate("m1", true))
		require.ErrorIs(t, err, errNoIP)
		assert.Empty(t, search(t, tr, Filter{RequestID: "R"}).Entries, "a failed change leaves no entry")
		require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
			_, err := tx.Get("machine", []byte("m1"))
			assert.ErrorIs(t, err, backends.ErrNotFound, "nor any half of the change")
			return nil
		}))

		store.runs = 0
		e := ev()
		err = tr.Update(ctx, store, e, func(tx backends.Tx) error {
			e.Path = "machine/m1" // known once the entity is
			return allocate("m1", false)(tx)
		})
		require.NoError(t, err)
		assert.Equal(t, 2, store.runs, "fn ran twice")
		res := search(t, tr, Filter{RequestID: "R"})
		require.Len(t, res.Entries, 1, "exactly one entry for one committed change")
		got := res.Entries[0]
		assert.Equal(t, TypeEvent, got.Type)
		assert.Equal(t, PhaseSingle, got.Phase)
		assert.Equal(t, "machine.allocate", got.Detail)
		assert.Equal(t, "machine/m1", got.Path)
		assert.Equal(t, "alice", got.User)
		assert.Equal(t, `{"size":"c1-large"}`, string(got.Body))

		// Through the middleware: request, event and response share R.
		h := Middleware(tr, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			err := tr.Update(r.Context(), store, &Event{Actor: ActorOf(r), Detail: "machine.allocate", Path: "machine/m2"},
				allocate("m2", false))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
		serve(h, http.MethodPost, "/v1/machine/allocate", []byte(`{"id":"m2"}`), map[string]string{RequestIDHeader: "R2"})
		res = search(t, tr, Filter{RequestID: "R2"})
		require.Len(t, res.Entries, 3)
		assert.Equal(t, []Phase{PhaseResponse, PhaseSingle, PhaseRequest},
			[]Phase{res.Entries[0].Phase, res.Entries[1].Phase, res.Entries[2].Phase})
		assert.Equal(t, TypeEvent, res.Entries[1].Type)
	})
}

func TestEventOwnStore(t *testing.T) {
	ctx := context.Background()
	data := storetest.New(t, "memstore")
	var logs bytes.Buffer
	tr := newTrail(t, storetest.New(t, "memstore"), &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	require.ErrorIs(t, tr.Update(ctx, data, &Event{Detail: "machine.allocate"}, allocate("m1", true)), errNoIP)
	assert.Empty(t, search(t, tr, Filter{}).Entries)

	require.NoError(t, tr.Update(ctx, data, &Event{Detail: "machine.allocate"}, allocate("m1", false)))
	res := search(t, tr, Filter{})
	require.Len(t, res.Entries, 1)
	assert.NotEmpty(t, res.Entries[0].RequestID, "without an actor the rqid is new")

	// A trail that cannot write logs and keeps the change.
	broken := newTrail(t, failingStore{storetest.New(t, "memstore")}, &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, broken.Update(ctx, data, &Event{Detail: "machine.allocate"}, allocate("m3", false)))
	assert.Contains(t, logs.String(), "event entry lost")
	require.NoError(t, data.View(ctx, func(tx backends.Tx) error {
		_, err := tx.Get("machine", []byte("m3"))
		return err
	}))

	// A nil trail only runs the change.
	var none *Trail
	require.NoError(t, none.Update(ctx, data, &Event{}, allocate("m4", false)))
}
