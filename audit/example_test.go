package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends/memstore"
)

// exampleOptions gives examples a stepping clock and sequential ids, so
// that their output is fixed.
func exampleOptions(start time.Time) *audit.Options {
	now, n := start, 0
	return &audit.Options{
		Component: "metal-api",
		Clock: func() time.Time {
			t := now
			now = now.Add(time.Minute)
			return t
		},
		IDs: func() string {
			n++
			return fmt.Sprintf("00000000-0000-7000-8000-%012d", n)
		},
	}
}

func ExampleTrail_Search() {
	ctx := context.Background()
	trail, err := audit.New(memstore.New(), exampleOptions(time.Date(2024, 5, 10, 9, 0, 0, 0, time.UTC)))
	if err != nil {
		panic(err)
	}
	for i, path := range []string{"/v1/machine/m1", "/v1/machine/m2", "/v1/network/n1"} {
		body, _ := json.Marshal(fmt.Sprintf("This is the body of entry %d", i))
		e := audit.Entry{Type: audit.TypeHTTP, Phase: audit.PhaseRequest, Detail: "POST", Path: path, Body: body}
		if err := trail.Write(ctx, &e); err != nil {
			panic(err)
		}
	}

	res, err := trail.Search(ctx, audit.Filter{Path: "/v1/machine", Limit: 1})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Entries[0].Timestamp.Format(time.TimeOnly), res.Entries[0].Path)
	res, err = trail.Search(ctx, audit.Filter{Path: "/v1/machine", Limit: 1, After: res.Next})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Entries[0].Timestamp.Format(time.TimeOnly), res.Entries[0].Path, res.Next == "")

	res, err = trail.Search(ctx, audit.Filter{Body: `"body of" 2`})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(res.Entries), res.Entries[0].Path)
	// Output:
	// 09:01:00 /v1/machine/m2
	// 09:00:00 /v1/machine/m1 true
	// 1 /v1/network/n1
}

func ExampleMiddleware() {
	ctx := context.Background()
	opts := exampleOptions(time.Date(2024, 5, 10, 9, 0, 0, 0, time.UTC))
	opts.Redact = audit.RedactKeys("password")
	trail, err := audit.New(memstore.New(), opts)
	if err != nil {
		panic(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The library's calls find the actor in r.Context().
		actor, _ := audit.FromContext(r.Context())
		fmt.Println("handler: rqid", actor.RequestID)
		w.WriteHeader(http.StatusCreated)
	})
	h := audit.Middleware(trail, &audit.MiddlewareOptions{
		Exclude: []string{"POST /v1/switch/{id}/notify"},
		Identify: func(r *http.Request) audit.Actor {
			return audit.Actor{User: "alice", Tenant: "acme", Projects: []string{"p1"}}
		},
	})(handler)

	r := httptest.NewRequest(http.MethodPost, "/v1/user", strings.NewReader(`{"name":"bob","password":"secret"}`))
	r.Header.Set(audit.RequestIDHeader, "rq-1")
	h.ServeHTTP(httptest.NewRecorder(), r)

	res, err := trail.Search(ctx, audit.Filter{RequestID: "rq-1"})
	if err != nil {
		panic(err)
	}
	for _, e := range res.Entries {
		fmt.Printf("%s %s %s %s status=%d body=%s\n", e.Phase, e.User, e.Detail, e.Path, e.StatusCode, e.Body)
	}
	// Output:
	// handler: rqid rq-1
	// response alice POST /v1/user status=201 body=
	// request alice POST /v1/user status=0 body={"name":"bob","password":"[redacted]"}
}

func ExampleTrail_Retain() {
	ctx := context.Background()
	opts := exampleOptions(time.Date(2024, 5, 10, 9, 0, 0, 0, time.UTC))
	opts.Keep = 3
	trail, err := audit.New(memstore.New(), opts)
	if err != nil {
		panic(err)
	}
	for d := 7; d <= 10; d++ {
		e := audit.Entry{Type: audit.TypeEvent, Phase: audit.PhaseSingle, Timestamp: time.Date(2024, 5, d, 12, 0, 0, 0, time.UTC)}
		if err := trail.Write(ctx, &e); err != nil {
			panic(err)
		}
	}
	dropped, err := trail.Retain(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("days dropped:", dropped)
	res, err := trail.Search(ctx, audit.Filter{})
	if err != nil {
		panic(err)
	}
	for _, e := range res.Entries {
		fmt.Println(e.Timestamp.Format(time.DateOnly))
	}
	// Output:
	// days dropped: 1
	// 2024-05-10
	// 2024-05-09
	// 2024-05-08
}

func ExampleTrail_Verify() {
	ctx := context.Background()
	opts := exampleOptions(time.Date(2024, 5, 10, 9, 0, 0, 0, time.UTC))
	opts.Chain = true
	trail, err := audit.New(memstore.New(), opts)
	if err != nil {
		panic(err)
	}
	for i := range 3 {
		e := audit.Entry{Type: audit.TypeEvent, Phase: audit.PhaseSingle, Detail: fmt.Sprintf("op-%d", i)}
		if err := trail.Write(ctx, &e); err != nil {
			panic(err)
		}
		fmt.Println(e.Seq, e.PrevHash != "" || e.Seq == 1, len(e.Hash))
	}
	v, err := trail.Verify(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("checked:", v.Checked, "broken:", v.Broken)
	// Output:
	// 1 true 64
	// 2 true 64
	// 3 true 64
	// checked: 3 broken: <nil>
}
