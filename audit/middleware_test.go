package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
)

// echo answers 201 with {"got": <request body>} and records what it read.
type echo struct {
	calls int
	read  []byte
	actor Actor
}

func (h *echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls++
	h.read, _ = io.ReadAll(r.Body)
	h.actor, _ = FromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"ok":true}`))
}

func serve(h http.Handler, method, target string, body []byte, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestScenario10WhatIsAudited(t *testing.T) {
	tr := newTrail(t, storetest.New(t, "memstore"), nil)
	h := &echo{}
	mw := Middleware(tr, &MiddlewareOptions{
		Include: []string{"GET /v1/machine/{id}/console-password"},
		Exclude: []string{"POST /v1/switch/{id}/notify"},
		Identify: func(r *http.Request) Actor {
			return Actor{User: "alice", Tenant: "acme", Projects: []string{"p1"}}
		},
	})(h)

	w := serve(mw, http.MethodGet, "/v1/machine/m1", nil, nil)
	assert.Equal(t, http.StatusCreated, w.Code)
	assert.Equal(t, 1, h.calls, "the handler runs")
	assert.Empty(t, w.Header().Get(RequestIDHeader))
	assert.Empty(t, search(t, tr, Filter{}).Entries, "GET is not audited")

	w = serve(mw, http.MethodPost, "/v1/machine/allocate?x=1", []byte(`{ "name": "m1" }`),
		map[string]string{"X-Forwarded-For": "203.0.113.9"})
	rqid := w.Header().Get(RequestIDHeader)
	require.NotEmpty(t, rqid)
	assert.Equal(t, Actor{User: "alice", Tenant: "acme", Projects: []string{"p1"}, RequestID: rqid}, h.actor)
	res := search(t, tr, Filter{})
	require.Len(t, res.Entries, 2)
	resp, req := res.Entries[0], res.Entries[1]
	assert.Equal(t, rqid, req.RequestID)
	assert.Equal(t, rqid, resp.RequestID)
	assert.Equal(t, PhaseRequest, req.Phase)
	assert.Equal(t, TypeHTTP, req.Type)
	assert.Equal(t, "POST", req.Detail)
	assert.Equal(t, "/v1/machine/allocate", req.Path, "without query")
	assert.Equal(t, "203.0.113.9", req.ForwardedFor)
	assert.Equal(t, "192.0.2.1:1234", req.RemoteAddr)
	assert.Equal(t, "alice", req.User)
	assert.JSONEq(t, `{"name":"m1"}`, string(req.Body), "the decoded body")
	assert.Zero(t, req.StatusCode)
	assert.Equal(t, PhaseResponse, resp.Phase)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.JSONEq(t, `{"ok":true}`, string(resp.Body))

	serve(mw, http.MethodPost, "/v1/switch/sw1/notify", []byte(`{}`), nil)
	assert.Len(t, search(t, tr, Filter{}).Entries, 2, "excluded pattern")

	serve(mw, http.MethodGet, "/v1/machine/m1/console-password", nil, map[string]string{RequestIDHeader: "given-id"})
	res = search(t, tr, Filter{RequestID: "given-id"})
	require.Len(t, res.Entries, 2, "included GET pattern")
	assert.Empty(t, res.Entries[1].Body)
	assert.Equal(t, "given-id", h.actor.RequestID)

	// An overlong or unprintable request id is replaced.
	w = serve(mw, http.MethodDelete, "/v1/x", nil, map[string]string{RequestIDHeader: strings.Repeat("a", 129)})
	assert.Len(t, w.Header().Get(RequestIDHeader), 36)
	w = serve(mw, http.MethodDelete, "/v1/x", nil, map[string]string{RequestIDHeader: "a\x01"})
	assert.Len(t, w.Header().Get(RequestIDHeader), 36)
}

func TestScenario11BodyCap(t *testing.T) {
	tr := newTrail(t, storetest.New(t, "memstore"), nil)
	h := &echo{}
	mw := Middleware(tr, &MiddlewareOptions{MaxBody: 64 << 10})(h)
	body := bytes.Repeat([]byte("x"), 100<<10)
	serve(mw, http.MethodPut, "/v1/image", body, nil)
	assert.Equal(t, body, h.read, "the handler reads the whole body")
	res := search(t, tr, Filter{Phase: PhaseRequest})
	require.Len(t, res.Entries, 1)
	var s string
	require.NoError(t, json.Unmarshal(res.Entries[0].Body, &s))
	assert.Len(t, s, 64<<10)
	assert.True(t, res.Entries[0].Truncated)

	// A long response is recorded up to the cap while the client gets it
	// whole.
	big := Middleware(tr, &MiddlewareOptions{MaxBody: 10})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"a":"0123456789"}`))
	}))
	w := serve(big, http.MethodPost, "/v1/big", nil, nil)
	assert.Equal(t, `{"a":"0123456789"}`, w.Body.String())
	res = search(t, tr, Filter{Path: "/v1/big", Phase: PhaseResponse})
	require.Len(t, res.Entries, 1)
	assert.Equal(t, `"{\"a\":\"0123"`, string(res.Entries[0].Body))
	assert.True(t, res.Entries[0].Truncated)
	assert.Equal(t, http.StatusOK, res.Entries[0].StatusCode, "200 when the handler set none")

	// A negative cap records no body.
	none := Middleware(tr, &MiddlewareOptions{MaxBody: -1})(h)
	serve(none, http.MethodPost, "/v1/none", []byte(`{"a":1}`), nil)
	assert.Equal(t, `{"a":1}`, string(h.read))
	for _, e := range search(t, tr, Filter{Path: "/v1/none"}).Entries {
		assert.Empty(t, e.Body)
	}
}

func TestScenario12Redaction(t *testing.T) {
	tr := newTrail(t, storetest.New(t, "memstore"), &Options{Redact: RedactKeys("password", "console_password", "user_data")})
	h := &echo{}
	mw := Middleware(tr, nil)(h)
	serve(mw, http.MethodPost, "/v1/user", []byte(`{"user":"a","password":"x"}`), nil)
	assert.Equal(t, `{"user":"a","password":"x"}`, string(h.read), "the handler saw x")
	res := search(t, tr, Filter{Phase: PhaseRequest})
	require.Len(t, res.Entries, 1)
	assert.Equal(t, `{"user":"a","password":"[redacted]"}`, string(res.Entries[0].Body))

	// At any depth, and in events too.
	err := Update(context.Background(), tr, tr.store, func(tx backends.Tx, rec *Recorder) error {
		return rec.Record("machine.allocate", "machine/m1",
			map[string]any{"spec": []any{map[string]any{"user_data": "#cloud-config", "n": 1}}})
	})
	require.NoError(t, err)
	res = search(t, tr, Filter{Type: TypeEvent})
	require.Len(t, res.Entries, 1)
	assert.Equal(t, `{"spec":[{"n":1,"user_data":"[redacted]"}]}`, string(res.Entries[0].Body))
}

// failingStore fails every transaction.
type failingStore struct{ backends.Store }

var errDown = errors.New("store down")

func (failingStore) Update(context.Context, func(backends.Tx) error) error { return errDown }
func (failingStore) View(context.Context, func(backends.Tx) error) error   { return errDown }

func TestScenario13FailurePolicy(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	tr := newTrail(t, failingStore{storetest.New(t, "memstore")}, &Options{Logger: log})

	h := &echo{}
	w := serve(Middleware(tr, nil)(h), http.MethodPost, "/v1/x", []byte(`{}`), nil)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Zero(t, h.calls, "the handler does not run")
	assert.True(t, json.Valid(w.Body.Bytes()), "a short JSON error: %s", w.Body)
	assert.Equal(t, 1, strings.Count(logs.String(), "\n"))

	logs.Reset()
	w = serve(Middleware(tr, &MiddlewareOptions{OnFailure: FailOpen})(h), http.MethodPost, "/v1/x", []byte(`{}`), nil)
	assert.Equal(t, http.StatusCreated, w.Code)
	assert.Equal(t, 1, h.calls, "the handler runs")
	assert.Equal(t, 1, strings.Count(logs.String(), "\n"), "one log line: %s", logs.String())
	assert.Contains(t, logs.String(), "store down")
}

func TestMiddlewarePanic(t *testing.T) {
	tr := newTrail(t, storetest.New(t, "memstore"), nil)
	mw := Middleware(tr, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	}))
	assert.PanicsWithValue(t, "boom", func() { serve(mw, http.MethodPost, "/v1/p", nil, nil) })
	res := search(t, tr, Filter{})
	require.Len(t, res.Entries, 2)
	assert.Equal(t, PhaseError, res.Entries[0].Phase)
	assert.Equal(t, "boom", res.Entries[0].Error)
	assert.Equal(t, res.Entries[1].RequestID, res.Entries[0].RequestID)
}

func TestMiddlewareFlushAndHijack(t *testing.T) {
	tr := newTrail(t, storetest.New(t, "memstore"), nil)
	errs := make(chan error, 2)
	mw := Middleware(tr, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_, _ = w.Write([]byte("part"))
		errs <- rc.Flush()
		conn, _, err := rc.Hijack()
		errs <- err
		if err == nil {
			_ = conn.Close()
		}
	}))
	srv := httptest.NewServer(mw)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/stream", "text/plain", strings.NewReader("hi"))
	if err == nil {
		_ = resp.Body.Close()
	}
	require.NoError(t, <-errs, "flush")
	require.NoError(t, <-errs, "hijack")
}

func TestMiddlewareBadPattern(t *testing.T) {
	tr := newTrail(t, storetest.New(t, "memstore"), nil)
	assert.Panics(t, func() { Middleware(tr, &MiddlewareOptions{Include: []string{"GET /a/{"}}) })
}
