package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
)

func TestBodyQuery(t *testing.T) {
	body := "This is the body of 00000000-0000-0000-0000-000000000002"
	for q, want := range map[string]bool{
		`This is body`:            true,
		`this is the BODY`:        true,
		`"This is body"`:          false,
		`"the body"`:              true,
		`"THE BODY of"`:           true,
		`"body the"`:              false,
		`002`:                     true,  // substring only
		`body 002`:                false, // 002 is no word, and the whole query no substring
		`"the body" 000000000002`: true,
		`the "body`:               true, // the lone quote is ignored
		`is the "body`:            true,
		`"`:                       false,
		`-0000-`:                  true,
		`xyz`:                     false,
		`bodies`:                  false, // no stemming, no prefix of a word
		`bod`:                     true,  // but a substring
	} {
		assert.Equal(t, want, parseBodyQuery(q).match(body), "query %q", q)
	}
	q := parseBodyQuery(`"a b" c "d`)
	assert.Equal(t, []string{"c", "d"}, q.words)
	assert.Equal(t, [][]string{{"a", "b"}}, q.phrases)
	assert.True(t, parseBodyQuery("müller").match("Herr MÜLLER"), "case folds beyond ASCII")
	assert.True(t, parseBodyQuery("path words").match("", "/path/with/words"), "any of the texts")
	assert.False(t, parseBodyQuery("path words").match("path", "words"), "all words in one text")
}

func FuzzBodyQuery(f *testing.F) {
	for _, s := range []string{`This is body`, `"This is body"`, `002`, `"the body`, `""`, `"`, `ä"ß" x`, "\xff\"a"} {
		f.Add(s, "This is the body of 00000000-0000-0000-0000-000000000002")
	}
	f.Fuzz(func(t *testing.T, query, text string) {
		q := parseBodyQuery(query)
		// Every query matches its own text as typed.
		if query != "" && !q.match(query) {
			t.Fatalf("query %q does not match itself", query)
		}
		// Words and phrases are non-empty runs of letters and digits.
		for _, w := range q.words {
			if w == "" || len(words(w)) != 1 {
				t.Fatalf("query %q: bad word %q", query, w)
			}
		}
		for _, p := range q.phrases {
			if len(p) == 0 {
				t.Fatalf("query %q: empty phrase", query)
			}
		}
		// A text holding all words and phrases, space separated, matches.
		parts := slices.Clone(q.words)
		for _, p := range q.phrases {
			parts = append(parts, strings.Join(p, " "))
		}
		if len(parts) > 0 && !q.match(text+" "+strings.Join(parts, " ")) {
			t.Fatalf("query %q does not match a text with all its words", query)
		}
		// Matching is a pure function of its input.
		_ = q.match(text)
	})
}

func TestFilterErrors(t *testing.T) {
	tr := newTrail(t, storetest.New(t, "memstore"), nil)
	for _, c := range []struct {
		f    Filter
		want string
	}{
		{Filter{Limit: -1}, "limit -1"},
		{Filter{From: day10, To: day10.Add(-time.Second)}, "from 2024-05-10T12:00:00Z is after to"},
		{Filter{After: "!!"}, `after "!!"`},
		{Filter{After: "AAAA"}, `after "AAAA"`},
		{Filter{Type: "soap"}, `type "soap"`},
		{Filter{Phase: "begin"}, `phase "begin"`},
	} {
		_, err := tr.Search(context.Background(), c.f)
		require.ErrorIs(t, err, ErrInvalidArgument, "%+v", c.f)
		assert.ErrorContains(t, err, c.want)
	}
	// Several problems come back together.
	_, err := tr.Search(context.Background(), Filter{Limit: -1, Type: "soap"})
	assert.ErrorContains(t, err, "limit -1")
	assert.ErrorContains(t, err, `type "soap"`)
}

func TestWriteErrors(t *testing.T) {
	tr := newTrail(t, storetest.New(t, "memstore"), nil)
	for _, c := range []struct {
		e    Entry
		want string
	}{
		{Entry{Type: "soap", Phase: PhaseSingle}, `type "soap"`},
		{Entry{Type: TypeHTTP, Phase: "begin"}, `phase "begin"`},
		{Entry{Type: TypeHTTP, Phase: PhaseSingle, Timestamp: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)}, "timestamp 1969-12-31T00:00:00Z"},
		{Entry{Type: TypeHTTP, Phase: PhaseSingle, ID: "nope"}, `id "nope"`},
		{Entry{Type: TypeHTTP, Phase: PhaseSingle, Body: json.RawMessage(`{"a":`)}, `body "{\"a\":"`},
		{Entry{Type: TypeHTTP, Phase: PhaseSingle, RequestID: strings.Repeat("r", 2000)}, "rqid of 2000 bytes"},
	} {
		e := c.e
		err := tr.Write(context.Background(), &e)
		require.ErrorIs(t, err, ErrInvalidArgument)
		assert.ErrorContains(t, err, c.want)
		assert.Equal(t, c.e, e)
	}
	assert.Empty(t, search(t, tr, Filter{}).Entries)

	_, err := New(nil, nil)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = New(storetest.New(t, "memstore"), &Options{Keep: -1})
	assert.ErrorContains(t, err, "Keep -1")
}

// TestSearchModel checks search against a model over a day with many
// blocks, late entries and equal timestamps, before and after compression,
// on every adapter.
func TestSearchModel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		clock := newClock(day10, 0)
		tr := newTrail(t, s, &Options{Clock: clock.Now})
		rnd := rand.New(rand.NewPCG(1, 2))
		var model []Entry
		add := func(n int) {
			require.NoError(t, s.Update(context.Background(), func(tx backends.Tx) error {
				for range n {
					e := Entry{
						Type:      TypeHTTP,
						Phase:     []Phase{PhaseRequest, PhaseResponse}[rnd.IntN(2)],
						Timestamp: time.Date(2024, 5, 8+rnd.IntN(2), 0, 0, 0, 0, time.UTC).Add(time.Duration(rnd.IntN(600)) * time.Second),
						RequestID: fmt.Sprintf("rq-%d", rnd.IntN(20)),
						User:      fmt.Sprintf("u%d", rnd.IntN(3)),
					}
					if err := tr.WriteTx(tx, &e); err != nil {
						return err
					}
					model = append(model, e)
				}
				return nil
			}))
		}
		check := func(stage string) {
			slices.SortFunc(model, func(a, b Entry) int {
				ka, _ := parseID(a.ID)
				kb, _ := parseID(b.ID)
				return -slices.Compare(entryKey(a.Timestamp, a.Phase, ka), entryKey(b.Timestamp, b.Phase, kb))
			})
			from := time.Date(2024, 5, 8, 0, 5, 0, 0, time.UTC)
			to := time.Date(2024, 5, 9, 0, 7, 0, 0, time.UTC)
			for _, f := range []Filter{{}, {User: "u1"}, {RequestID: "rq-3"}, {From: from, To: to}, {RequestID: "rq-4", From: from, To: to}} {
				var want []string
				for _, e := range model {
					if (f.User == "" || e.User == f.User) && (f.RequestID == "" || e.RequestID == f.RequestID) &&
						(f.From.IsZero() || !e.Timestamp.Before(f.From)) && (f.To.IsZero() || !e.Timestamp.After(f.To)) {
						want = append(want, e.ID)
					}
				}
				var got []string
				f.Limit = 37
				for {
					res := search(t, tr, f)
					got = append(got, ids(res.Entries)...)
					if res.Next == "" {
						break
					}
					f.After = res.Next
				}
				assert.Equal(t, want, got, "%s: %+v", stage, f)
			}
		}
		add(700)
		check("plain")
		clock.Set(day10.Add(72 * time.Hour))
		_, err := tr.Compress(context.Background())
		require.NoError(t, err)
		check("compressed")
		add(60) // late entries inside and between blocks
		check("late")
	})
}
