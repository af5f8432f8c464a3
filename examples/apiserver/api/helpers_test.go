package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	metalgo "github.com/metal-stack/metal-go"
	"github.com/metal-stack/metal-lib/httperrors"
	"github.com/metal-stack/security"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/examples/apiserver/api"
)

// The test keys of the three roles.
const (
	adminKey = "admin-secret"
	editKey  = "edit-secret"
	viewKey  = "view-secret"
)

// harness is a server over a tracked store, served by httptest.
type harness struct {
	t       *testing.T
	kit     *metalkit.Kit
	srv     *api.Server
	ts      *httptest.Server
	tracker storeDump

	mu     sync.Mutex
	served map[string]bool // route patterns that answered
}

// harnessOptions change what newHarness builds.
type harnessOptions struct {
	// ownAuditStore keeps the audit trail in a store of its own, so that
	// the tracked store holds only the server's and the library's state.
	ownAuditStore bool
	// clock, when set, is the kit's clock (the signatures' stays the
	// wall clock).
	clock func() time.Time
	api   api.Options
}

// newHarness serves a new server over store (tracked).
func newHarness(t *testing.T, store backends.Store, o *harnessOptions) *harness {
	t.Helper()
	if o == nil {
		o = &harnessOptions{}
	}
	tracker := storeDump{store}
	opts := o.api
	if opts.Catalog == nil {
		opts.Catalog = api.NewCatalog(store, nil)
	}
	kitOpts := &metalkit.Options{Catalog: opts.Catalog, Clock: o.clock}
	if o.ownAuditStore {
		kitOpts.AuditStore = memstore.New()
	}
	kit, err := metalkit.Open(store, kitOpts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = kit.Close() })
	if opts.Keys == (api.Keys{}) {
		opts.Keys = api.Keys{Admin: adminKey, Edit: editKey, View: viewKey}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	opts.ProviderTenant = "provider"
	srv, err := api.New(kit, &opts)
	require.NoError(t, err)
	h := &harness{t: t, kit: kit, srv: srv, tracker: tracker, served: map[string]bool{}}
	h.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.ServeHTTP(w, r)
		h.mu.Lock()
		h.served[r.Pattern] = true
		h.mu.Unlock()
	}))
	t.Cleanup(h.ts.Close)
	return h
}

// client returns a metal-go client that signs as metalctl does: HMAC with
// the given auth type and key.
func (h *harness) client(authType, key string) metalgo.Client {
	h.t.Helper()
	c, err := metalgo.NewDriver(h.ts.URL, "", key, metalgo.AuthType(authType))
	require.NoError(h.t, err)
	return c
}

func (h *harness) admin() metalgo.Client { return h.client(api.AuthTypeAdmin, adminKey) }
func (h *harness) edit() metalgo.Client  { return h.client(api.AuthTypeEdit, editKey) }
func (h *harness) view() metalgo.Client  { return h.client(api.AuthTypeView, viewKey) }

// raw sends a request signed with authType and key at date (no signature
// when authType is empty) and returns the status and body.
func (h *harness) raw(method, path string, body []byte, authType, key string, date time.Time) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.ts.URL+path, bytes.NewReader(body))
	require.NoError(h.t, err)
	req.Header.Set("Content-Type", "application/json")
	if authType != "" {
		auth := security.NewHMACAuth(authType, []byte(key))
		for k, v := range auth.AuthHeaders(method, date) {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return resp.StatusCode, b
}

// errorBody decodes an error body as metal-go's client does (into
// metal-lib's HTTPErrorResponse, through its UnmarshalText).
func errorBody(t *testing.T, b []byte) *httperrors.HTTPErrorResponse {
	t.Helper()
	var e httperrors.HTTPErrorResponse
	require.NoError(t, json.Unmarshal(b, &e), "body %s", b)
	return &e
}

// requireRawError sends body to method path signed with authType and key
// now (see raw) and checks that the answer is an error of status in
// metal-api's format whose message contains every one of want.
func (h *harness) requireRawError(t *testing.T, authType, key, method, path, body string, status int, want ...string) {
	t.Helper()
	code, b := h.raw(method, path, []byte(body), authType, key, time.Now())
	require.Equal(t, status, code, "body %s", b)
	e := errorBody(t, b)
	assert.Equal(t, status, e.StatusCode)
	for _, w := range want {
		assert.Contains(t, e.Message, w)
	}
}

// httpError is what every metal-go error response carries.
type httpError interface {
	error
	Code() int
	GetPayload() *httperrors.HTTPErrorResponse
}

// requireHTTPError checks that err is a metal-go error response with
// status code whose payload carries the status and a message containing
// want.
func requireHTTPError(t *testing.T, err error, code int, want string) {
	t.Helper()
	require.Error(t, err)
	he, ok := err.(httpError)
	require.True(t, ok, "error %T %v is not a decoded error response", err, err)
	require.Equal(t, code, he.Code(), "status of %v", err)
	p := he.GetPayload()
	require.NotNil(t, p, "payload of %v", err)
	require.Equal(t, code, p.StatusCode, "payload status of %v", err)
	require.Contains(t, p.Message, want)
}

// newDriverWithToken returns a metal-go client that sends a bearer token.
func newDriverWithToken(url, token string) (metalgo.Client, error) {
	return metalgo.NewDriver(url, token, "")
}

// signedHeaders returns the HMAC headers of the admin key for method at
// date, as metal-stack/security makes them.
func signedHeaders(method string, date time.Time) map[string]string {
	return signedHeadersFor(api.AuthTypeAdmin, adminKey, method, date)
}

// signedHeadersFor returns the HMAC headers of authType and key for method
// at date.
func signedHeadersFor(authType, key, method string, date time.Time) map[string]string {
	auth := security.NewHMACAuth(authType, []byte(key))
	return auth.AuthHeaders(method, date)
}

// newKit returns a kit over a new memstore.
func newKit(t *testing.T) *metalkit.Kit {
	t.Helper()
	kit, err := metalkit.Open(memstore.New(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = kit.Close() })
	return kit
}

// storeDump reads a whole store for before/after comparisons.
type storeDump struct{ store backends.Store }

// Dump returns every key of the store as "bucket/hex(key)" -> hex(value).
func (d storeDump) Dump(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for b, kv := range backendtest.Dump(t, d.store) {
		for k, v := range kv {
			out[fmt.Sprintf("%s/%x", b, k)] = fmt.Sprintf("%x", v)
		}
	}
	return out
}
