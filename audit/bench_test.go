package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
)

// BenchmarkWrite writes single entries, one transaction each, on every
// adapter.
func BenchmarkWrite(b *testing.B) {
	for _, f := range storetest.Factories() {
		b.Run(f.Name, func(b *testing.B) {
			tr, err := New(f.New(b), &Options{Component: "bench"})
			require.NoError(b, err)
			body := []byte(`{"name":"m1","size":"c1-large","networks":["internet","underlay"]}`)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e := Entry{Type: TypeHTTP, Phase: PhaseRequest, RequestID: fmt.Sprintf("rq-%d", i), Detail: "POST", Path: "/v1/machine/allocate", Body: body}
				if err := tr.Write(ctx, &e); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// benchTrail fills a memstore trail with n entries over 10 days, every
// 100th by user "needle", and returns it with an rqid in the middle.
func benchTrail(b *testing.B, n int) (*Trail, string) {
	s := storetest.New(b, "memstore")
	tr, err := New(s, &Options{Component: "bench", IDs: seqIDs()})
	require.NoError(b, err)
	start := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	step := 10 * 24 * time.Hour / time.Duration(n)
	const perTx = 1000
	for i := 0; i < n; i += perTx {
		require.NoError(b, s.Update(context.Background(), func(tx backends.Tx) error {
			for j := i; j < min(i+perTx, n); j++ {
				user := "user"
				if j%100 == 0 {
					user = "needle"
				}
				e := Entry{Type: TypeHTTP, Phase: []Phase{PhaseRequest, PhaseResponse}[j%2],
					RequestID: fmt.Sprintf("rq-%d", j/2), User: user, Detail: "POST",
					Path: "/v1/machine/allocate", Timestamp: start.Add(time.Duration(j) * step),
					Body: []byte(`{"name":"m1","size":"c1-large"}`)}
				if err := tr.WriteTx(tx, &e); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	return tr, fmt.Sprintf("rq-%d", n/4)
}

// BenchmarkSearch measures an rqid lookup, the newest page of 100 without
// a filter and a user filter matching 1% of the entries, at two sizes.
func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("memstore/entries=%d", n), func(b *testing.B) {
			tr, rqid := benchTrail(b, n)
			ctx := context.Background()
			for _, c := range []struct {
				name string
				f    Filter
				want int
			}{
				{"rqid", Filter{RequestID: rqid}, 2},
				{"newest100", Filter{}, 100},
				{"user1pct", Filter{User: "needle"}, 100},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						res, err := tr.Search(ctx, c.f)
						if err != nil {
							b.Fatal(err)
						}
						if len(res.Entries) != c.want {
							b.Fatalf("%d entries, want %d", len(res.Entries), c.want)
						}
					}
				})
			}
		})
	}
}
