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

// record wraps a change so that it records one event through rec.
func record(detail, path string, body any, change func(tx backends.Tx) error) func(tx backends.Tx, rec *Recorder) error {
	return func(tx backends.Tx, rec *Recorder) error {
		if err := change(tx); err != nil {
			return err
		}
		return rec.Record(detail, path, body)
	}
}

func TestScenario14EventEntries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		store := &retryingStore{Store: s}
		tr := newTrail(t, store, nil)
		ctx := NewContext(context.Background(), Actor{User: "alice", Tenant: "acme", Projects: []string{"p1"}, RequestID: "R"})
		body := map[string]string{"size": "c1-large"}

		err := Update(ctx, tr, store, record("machine.allocate", "machine/m1", body, allocate("m1", true)))
		require.ErrorIs(t, err, errNoIP)
		assert.Empty(t, search(t, tr, Filter{RequestID: "R"}).Entries, "a failed change leaves no entry")
		require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
			_, err := tx.Get("machine", []byte("m1"))
			assert.ErrorIs(t, err, backends.ErrNotFound, "nor any half of the change")
			return nil
		}))

		store.runs = 0
		committed := 0
		err = Update(ctx, tr, store, func(tx backends.Tx, rec *Recorder) error {
			rec.AfterCommit(func() { committed++ })
			return record("machine.allocate", "machine/m1", body, allocate("m1", false))(tx, rec)
		})
		require.NoError(t, err)
		assert.Equal(t, 2, store.runs, "fn ran twice")
		assert.Equal(t, 1, committed, "AfterCommit runs once, for the committed attempt")
		res := search(t, tr, Filter{RequestID: "R"})
		require.Len(t, res.Entries, 1, "exactly one entry for one committed change")
		got := res.Entries[0]
		assert.Equal(t, TypeEvent, got.Type)
		assert.Equal(t, PhaseSingle, got.Phase)
		assert.Equal(t, "machine.allocate", got.Detail)
		assert.Equal(t, "machine/m1", got.Path)
		assert.Equal(t, "alice", got.User)
		assert.Equal(t, "acme", got.Tenant)
		assert.Equal(t, "p1", got.Project)
		assert.Equal(t, `{"size":"c1-large"}`, string(got.Body))

		// Through the middleware: request, event and response share R2, and
		// the handler finds the actor in its context.
		h := Middleware(tr, &MiddlewareOptions{Identify: func(*http.Request) Actor { return Actor{User: "bob"} }})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				err := Update(r.Context(), tr, store, record("machine.allocate", "machine/m2", nil, allocate("m2", false)))
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
		assert.Equal(t, "bob", res.Entries[1].User)
	})
}

func TestEventsOfOneTransactionShareARequestID(t *testing.T) {
	store := storetest.New(t, "memstore")
	tr := newTrail(t, store, nil)
	require.NoError(t, Update(context.Background(), tr, store, func(tx backends.Tx, rec *Recorder) error {
		for _, m := range []string{"m1", "m2"} {
			if err := record("machine.allocate", "machine/"+m, nil, allocate(m, false))(tx, rec); err != nil {
				return err
			}
		}
		// A nested operation records nothing of its own.
		return rec.Quiet().Record("network.allocateip", "ip/10.0.0.1", nil)
	}))
	res := search(t, tr, Filter{})
	require.Len(t, res.Entries, 2)
	assert.NotEmpty(t, res.Entries[0].RequestID)
	assert.Equal(t, res.Entries[0].RequestID, res.Entries[1].RequestID)
}

func TestActorContext(t *testing.T) {
	_, ok := FromContext(context.Background())
	assert.False(t, ok)
	a := Actor{User: "u", Projects: []string{"p1", "p2"}}
	got, ok := FromContext(NewContext(context.Background(), a))
	require.True(t, ok)
	assert.Equal(t, a, got)
	assert.True(t, a.ActsFor("p2"))
	assert.False(t, a.ActsFor("p3"))
	assert.True(t, Actor{}.ActsFor("p3"), "an actor without projects is not limited")
	assert.True(t, Actor{Admin: true, Projects: []string{"p1"}}.ActsFor("p3"))
}

func TestEventOwnStore(t *testing.T) {
	ctx := context.Background()
	data := storetest.New(t, "memstore")
	var logs bytes.Buffer
	tr := newTrail(t, storetest.New(t, "memstore"), &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	require.ErrorIs(t, Update(ctx, tr, data, record("machine.allocate", "", nil, allocate("m1", true))), errNoIP)
	assert.Empty(t, search(t, tr, Filter{}).Entries)

	require.NoError(t, Update(ctx, tr, data, record("machine.allocate", "", nil, allocate("m1", false))))
	res := search(t, tr, Filter{})
	require.Len(t, res.Entries, 1)
	assert.NotEmpty(t, res.Entries[0].RequestID, "without an actor the rqid is new")

	// A trail that cannot write logs and keeps the change.
	broken := newTrail(t, failingStore{storetest.New(t, "memstore")}, &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, Update(ctx, broken, data, record("machine.allocate", "", nil, allocate("m3", false))))
	assert.Contains(t, logs.String(), "event entry lost")
	require.NoError(t, data.View(ctx, func(tx backends.Tx) error {
		_, err := tx.Get("machine", []byte("m3"))
		return err
	}))

	// A nil trail only runs the change, and still the AfterCommit functions.
	ran := false
	require.NoError(t, Update(ctx, nil, data, func(tx backends.Tx, rec *Recorder) error {
		rec.AfterCommit(func() { ran = true })
		return record("machine.allocate", "", nil, allocate("m4", false))(tx, rec)
	}))
	assert.True(t, ran)
}
