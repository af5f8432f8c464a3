package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
)

// seedThree writes the three entries of scenarios 1, 2 and 5, one second
// apart on 2024-05-10.
func seedThree(t testing.TB, tr *Trail) []Entry {
	t.Helper()
	var out []Entry
	for i := range 3 {
		body, _ := json.Marshal(fmt.Sprintf("This is the body of 00000000-0000-0000-0000-00000000000%d", i))
		e := Entry{
			Component:    "metal-api",
			RequestID:    fmt.Sprintf("rq-%d", i),
			Type:         TypeHTTP,
			Timestamp:    day10.Add(time.Duration(i) * time.Second),
			User:         fmt.Sprintf("user-%d", i),
			Tenant:       "tenant-a",
			Project:      fmt.Sprintf("project-%d", i),
			Detail:       "POST",
			Phase:        PhaseRequest,
			Path:         fmt.Sprintf("/v1/test/%d", i),
			ForwardedFor: fmt.Sprintf("10.0.0.%d", i),
			RemoteAddr:   fmt.Sprintf("192.0.2.%d:4711", i),
			Body:         body,
			Error:        fmt.Sprintf("failure %c", 'a'+i),
		}
		if i == 1 {
			e.StatusCode = 200
		}
		out = append(out, write(t, tr, e))
	}
	return out
}

// seedPaged writes the 250 entries of scenario 4 over 2024-05-01..03 and
// returns their ids newest first.
func seedPaged(t testing.TB, tr *Trail) []string {
	t.Helper()
	start := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	var all []string
	err := tr.store.Update(context.Background(), func(tx backends.Tx) error {
		all = all[:0]
		for i := range 250 {
			e := Entry{Type: TypeGRPC, Phase: PhaseSingle, Detail: "unary", Path: "/api.v1/Paged",
				Timestamp: start.Add(time.Duration(i) * 17 * time.Minute)}
			if err := tr.WriteTx(tx, &e); err != nil {
				return err
			}
			all = append(all, e.ID)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, "2024-05-03", dayOf(start.Add(249*17*time.Minute)))
	slices.Reverse(all)
	return all
}

func TestScenario1BodyQuery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		tr := newTrail(t, s, nil)
		seedThree(t, tr)
		scenario1(t, tr)
	})
}

func scenario1(t *testing.T, tr *Trail) {
	for q, want := range map[string]int{
		`This is body`:     3,
		`"This is body"`:   0,
		`this is the BODY`: 3,
		`002`:              1,
		`"the body"`:       3,
		`test/2`:           1, // substring of the path
		`failure b`:        1, // words of the error
	} {
		res := search(t, tr, Filter{Body: q})
		assert.Len(t, res.Entries, want, "body query %q", q)
	}
	res := search(t, tr, Filter{Body: "002"})
	require.Len(t, res.Entries, 1)
	assert.Equal(t, "/v1/test/2", res.Entries[0].Path)
}

func TestScenario2EveryField(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		tr := newTrail(t, s, nil)
		es := seedThree(t, tr)
		scenario2(t, tr, es)
	})
}

func scenario2(t *testing.T, tr *Trail, es []Entry) {
	e := es[0]
	f := Filter{
		From: e.Timestamp, To: e.Timestamp,
		Component: e.Component, RequestID: e.RequestID, Type: e.Type, User: e.User,
		Tenant: e.Tenant, Project: e.Project, Detail: e.Detail, Phase: e.Phase,
		Path: e.Path, ForwardedFor: e.ForwardedFor, RemoteAddr: e.RemoteAddr,
		Body: bodyText(e.Body), StatusCode: intp(0), Error: e.Error,
	}
	res := search(t, tr, f)
	require.Len(t, res.Entries, 1)
	assert.Equal(t, e, res.Entries[0])
	assert.Empty(t, res.Next)

	// The same without the rqid reads the days instead of the index.
	f.RequestID = ""
	assert.Equal(t, []string{e.ID}, ids(search(t, tr, f).Entries))

	res = search(t, tr, Filter{})
	assert.Equal(t, []string{es[2].ID, es[1].ID, es[0].ID}, ids(res.Entries))
	assert.Empty(t, res.Next)
}

func TestScenario3ResponseBeforeRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		tr := newTrail(t, s, nil)
		req, resp := seedPair(t, tr)
		scenario3(t, tr, req, resp)
	})
}

func seedPair(t testing.TB, tr *Trail) (req, resp Entry) {
	ts := day10.Add(time.Hour)
	// The response is written first and gets the lower id, so only the
	// phase can put it first.
	resp = write(t, tr, Entry{Type: TypeHTTP, Phase: PhaseResponse, RequestID: "pair", Timestamp: ts, StatusCode: 201})
	req = write(t, tr, Entry{Type: TypeHTTP, Phase: PhaseRequest, RequestID: "pair", Timestamp: ts})
	return req, resp
}

func scenario3(t *testing.T, tr *Trail, req, resp Entry) {
	want := []string{resp.ID, req.ID}
	assert.Equal(t, want, ids(search(t, tr, Filter{RequestID: "pair"}).Entries))
	assert.Equal(t, want, ids(search(t, tr, Filter{From: req.Timestamp, To: req.Timestamp}).Entries))
}

func TestScenario4Paging(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		tr := newTrail(t, s, nil)
		all := seedPaged(t, tr)
		scenario4(t, tr, all)
	})
}

func scenario4(t *testing.T, tr *Trail, all []string) {
	var got []string
	f := Filter{Path: "Paged"}
	for _, size := range []int{100, 100, 50} {
		res := search(t, tr, f)
		require.Len(t, res.Entries, size)
		got = append(got, ids(res.Entries)...)
		if size == 50 {
			assert.Empty(t, res.Next)
		} else {
			require.NotEmpty(t, res.Next)
		}
		f.After = res.Next
	}
	assert.Equal(t, all, got, "no gaps, no repeats, newest first across days")

	// A limit that ends exactly at the last entry gives no token.
	res := search(t, tr, Filter{Path: "Paged", Limit: 250})
	assert.Len(t, res.Entries, 250)
	assert.Empty(t, res.Next)
}

func TestScenario5Matching(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		tr := newTrail(t, s, nil)
		es := seedThree(t, tr)
		scenario5(t, tr, es)
	})
}

func scenario5(t *testing.T, tr *Trail, es []Entry) {
	assert.Equal(t, []string{es[1].ID}, ids(search(t, tr, Filter{Path: "test/1"}).Entries))
	assert.Empty(t, search(t, tr, Filter{Component: "metal"}).Entries, "no prefix matching")
	assert.Empty(t, search(t, tr, Filter{Path: "TEST/1"}).Entries, "path is case-sensitive")
	assert.Equal(t, []string{es[2].ID, es[0].ID}, ids(search(t, tr, Filter{Path: "/v1/test", StatusCode: intp(0)}).Entries))
	assert.Equal(t, []string{es[1].ID}, ids(search(t, tr, Filter{Path: "/v1/test", StatusCode: intp(200)}).Entries))
	assert.Len(t, search(t, tr, Filter{Path: "/v1/test"}).Entries, 3)
}

func TestScenario6WriteDefaults(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		tr := newTrail(t, s, nil)
		e := Entry{Type: TypeEvent, Phase: PhaseSingle}
		require.NoError(t, tr.Write(context.Background(), &e))
		assert.NotEmpty(t, e.ID)
		assert.Equal(t, "metal-api", e.Component)
		assert.Equal(t, day10, e.Timestamp)
		res := search(t, tr, Filter{})
		require.Len(t, res.Entries, 1)
		assert.Equal(t, e, res.Entries[0])

		bad := Entry{Type: TypeEvent}
		err := tr.Write(context.Background(), &bad)
		require.ErrorIs(t, err, ErrInvalidArgument)
		assert.ErrorContains(t, err, `phase ""`)
		assert.Equal(t, Entry{Type: TypeEvent}, bad, "the entry is unchanged")
		assert.Len(t, search(t, tr, Filter{}).Entries, 1, "nothing stored")
	})
}

// seedDays writes three entries on each day 2024-05-07..10 and returns
// their ids by day.
func seedDays(t testing.TB, tr *Trail) map[string][]string {
	byDay := map[string][]string{}
	for d := 7; d <= 10; d++ {
		for i := range 3 {
			e := write(t, tr, Entry{Type: TypeHTTP, Phase: PhaseRequest, RequestID: fmt.Sprintf("rq-%d", i),
				Timestamp: time.Date(2024, 5, d, 8+i, 0, 0, 0, time.UTC)})
			byDay[dayOf(e.Timestamp)] = append(byDay[dayOf(e.Timestamp)], e.ID)
		}
	}
	return byDay
}

func TestScenario7Retain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		clock := newClock(time.Date(2024, 5, 10, 23, 0, 0, 0, time.UTC), 0)
		tr := newTrail(t, s, &Options{Keep: 3, Clock: clock.Now})
		byDay := seedDays(t, tr)
		tr.batch = 1
		steps := 0
		tr.hook = func(step string) {
			steps++
			for _, f := range []Filter{{}, {RequestID: "rq-0"}, {To: time.Date(2024, 5, 7, 23, 0, 0, 0, time.UTC)}} {
				for _, e := range search(t, tr, f).Entries {
					assert.NotEqual(t, "2024-05-07", dayOf(e.Timestamp), "step %s: a dropping day is skipped", step)
				}
			}
		}
		n, err := tr.Retain(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		assert.Equal(t, 5, steps, "marked, 3 batches of 1, dropped")

		var want []string
		for _, d := range []string{"2024-05-10", "2024-05-09", "2024-05-08"} {
			w := slices.Clone(byDay[d])
			slices.Reverse(w)
			want = append(want, w...)
		}
		assert.Equal(t, want, ids(search(t, tr, Filter{}).Entries))
		assertDayGone(t, s, "2024-05-07")

		// Running it again changes nothing.
		n, err = tr.Retain(context.Background())
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.Len(t, search(t, tr, Filter{}).Entries, 9)
	})
}

// assertDayGone checks that nothing of day is left: no entries, no day
// index entry, no rqid index key.
func assertDayGone(t *testing.T, s backends.Store, day string) {
	t.Helper()
	require.NoError(t, s.View(context.Background(), func(tx backends.Tx) error {
		n := 0
		count := func(k, _ []byte) (bool, error) { n++; return true, nil }
		require.NoError(t, tx.Ascend(dayBucket(day), nil, count))
		assert.Zero(t, n, "entries of %s", day)
		_, err := tx.Get(daysBucket, []byte(day))
		assert.ErrorIs(t, err, backends.ErrNotFound)
		return tx.Ascend(rqidBucket, nil, func(k, _ []byte) (bool, error) {
			assert.NotEqual(t, day, keyDay(k[len(k)-entryKeyLen:]), "rqid index key %x", k)
			return true, nil
		})
	}))
}

func TestRetainResumes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		clock := newClock(time.Date(2024, 5, 10, 23, 0, 0, 0, time.UTC), 0)
		tr := newTrail(t, s, &Options{Keep: 2, Clock: clock.Now})
		seedDays(t, tr)
		tr.batch = 2
		ctx, cancel := context.WithCancel(context.Background())
		tr.hook = func(step string) {
			if step == "batch" {
				cancel()
			}
		}
		_, err := tr.Retain(ctx)
		require.ErrorIs(t, err, context.Canceled)
		for _, e := range search(t, tr, Filter{}).Entries {
			assert.NotEqual(t, "2024-05-07", dayOf(e.Timestamp))
		}
		tr.hook = nil
		n, err := tr.Retain(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		assertDayGone(t, s, "2024-05-07")
		assertDayGone(t, s, "2024-05-08")
		assert.Len(t, search(t, tr, Filter{}).Entries, 6)
	})
}

func TestRetainKeepsFutureDays(t *testing.T) {
	clock := newClock(time.Date(2024, 5, 8, 1, 0, 0, 0, time.UTC), 0)
	tr := newTrail(t, storetest.New(t, "memstore"), &Options{Keep: 1, Clock: clock.Now})
	seedDays(t, tr) // 05-07..05-10; 05-09 and 05-10 lie in the future
	n, err := tr.Retain(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	days := map[string]bool{}
	for _, e := range search(t, tr, Filter{Limit: 100}).Entries {
		days[dayOf(e.Timestamp)] = true
	}
	assert.Equal(t, map[string]bool{"2024-05-08": true, "2024-05-09": true, "2024-05-10": true}, days)
}

// allQueries runs the queries of scenarios 1 to 5 and returns their
// complete results.
func allQueries(t *testing.T, tr *Trail) map[string]*Result {
	out := map[string]*Result{}
	for name, f := range map[string]Filter{
		"body words":     {Body: `This is body`},
		"body phrase":    {Body: `"This is body"`},
		"body folded":    {Body: `this is the BODY`},
		"body substring": {Body: `002`},
		"body phrase 2":  {Body: `"the body"`},
		"every field": {From: day10, To: day10, Component: "metal-api", RequestID: "rq-0", Type: TypeHTTP,
			User: "user-0", Tenant: "tenant-a", Project: "project-0", Detail: "POST", Phase: PhaseRequest,
			Path: "/v1/test/0", ForwardedFor: "10.0.0.0", RemoteAddr: "192.0.2.0:4711", StatusCode: intp(0)},
		"empty":       {},
		"pair":        {RequestID: "pair"},
		"pair time":   {From: day10.Add(time.Hour), To: day10.Add(time.Hour)},
		"path":        {Path: "test/1"},
		"component":   {Component: "metal"},
		"status 0":    {Path: "/v1/test", StatusCode: intp(0)},
		"status nil":  {Path: "/v1/test"},
		"paged limit": {Path: "Paged", Limit: 250},
	} {
		out[name] = search(t, tr, f)
	}
	f := Filter{Path: "Paged"}
	for i := 0; ; i++ {
		res := search(t, tr, f)
		out[fmt.Sprintf("page %d", i)] = res
		if res.Next == "" {
			break
		}
		f.After = res.Next
	}
	return out
}

func TestScenario8Compressed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		// compressed seeds a fresh trail, compresses all its days and
		// checks that every query gives what it gave before.
		compressed := func(t *testing.T, s backends.Store, days int, seed func(tr *Trail)) *Trail {
			clock := newClock(day10, time.Second)
			tr := newTrail(t, s, &Options{Clock: clock.Now})
			seed(tr)
			before := allQueries(t, tr)
			clock.Set(day10.Add(72 * time.Hour))
			n, err := tr.Compress(context.Background())
			require.NoError(t, err)
			assert.Equal(t, days, n)
			assert.Zero(t, countPlain(t, tr.store), "every entry is in a block")
			assert.Equal(t, before, allQueries(t, tr))
			n, err = tr.Compress(context.Background())
			require.NoError(t, err)
			assert.Zero(t, n, "compressing again does nothing")
			return tr
		}
		t.Run("scenarios 1, 2, 5", func(t *testing.T) {
			var es []Entry
			tr := compressed(t, s, 1, func(tr *Trail) { es = seedThree(t, tr) })
			scenario1(t, tr)
			scenario2(t, tr, es)
			scenario5(t, tr, es)

			// A late entry for a compressed day is stored plainly and
			// merged.
			late := write(t, tr, Entry{Type: TypeHTTP, Phase: PhaseRequest, RequestID: "rq-1",
				Timestamp: day10.Add(1500 * time.Millisecond)})
			assert.Equal(t, 1, countPlain(t, tr.store))
			res := search(t, tr, Filter{})
			assert.Equal(t, []string{es[2].ID, late.ID, es[1].ID, es[0].ID}, ids(res.Entries))
			res = search(t, tr, Filter{Limit: 2, After: search(t, tr, Filter{Limit: 1}).Next})
			assert.Equal(t, []string{late.ID, es[1].ID}, ids(res.Entries))
			res = search(t, tr, Filter{RequestID: "rq-1"})
			assert.Equal(t, []string{late.ID, es[1].ID}, ids(res.Entries))
		})
		t.Run("scenario 3", func(t *testing.T) {
			var req, resp Entry
			tr := compressed(t, storetest.New(t, adapterOf(t)), 1, func(tr *Trail) { req, resp = seedPair(t, tr) })
			scenario3(t, tr, req, resp)
		})
		t.Run("scenario 4", func(t *testing.T) {
			var all []string
			tr := compressed(t, storetest.New(t, adapterOf(t)), 3, func(tr *Trail) { all = seedPaged(t, tr) })
			scenario4(t, tr, all)
		})
	})
}

// adapterOf returns the adapter name of the storetest.Each subtest t runs
// in, for a further fresh store of the same adapter.
func adapterOf(t *testing.T) string {
	for _, f := range storetest.Factories() {
		if strings.Contains(t.Name(), "/"+f.Name) {
			return f.Name
		}
	}
	t.Fatalf("no adapter in test name %s", t.Name())
	return ""
}

// countPlain counts the plain entries in all day buckets.
func countPlain(t *testing.T, s backends.Store) int {
	n := 0
	require.NoError(t, s.View(context.Background(), func(tx backends.Tx) error {
		var days []string
		err := tx.Ascend(daysBucket, nil, func(k, _ []byte) (bool, error) {
			days = append(days, string(k))
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, d := range days {
			err := tx.Ascend(dayBucket(d), nil, func(_, v []byte) (bool, error) {
				if !isBlock(v) {
					n++
				}
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}))
	return n
}
