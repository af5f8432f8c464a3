package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	metalgo "github.com/metal-stack/metal-go"
	"github.com/metal-stack/metal-go/api/client/image"
	"github.com/metal-stack/metal-go/api/client/partition"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/examples/apiserver/api"
)

// TestAuditTrail shows the HMAC user as the actor of the audited request
// and of the catalog's event entry, all under one request id; a search
// (POST .../find) and a refused request are not recorded.
func TestAuditTrail(t *testing.T) {
	h := newHarness(t, memstore.New(), nil)
	ctx := context.Background()
	_, err := h.admin().Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
		ID: ptr("p1"), Name: "one", Bootconfig: &models.V1PartitionBootConfiguration{},
	}), nil)
	require.NoError(t, err)

	events, err := h.kit.Trail.Search(ctx, audit.Filter{Type: audit.TypeEvent})
	require.NoError(t, err)
	require.Len(t, events.Entries, 1)
	ev := events.Entries[0]
	assert.Equal(t, "partition.create", ev.Detail)
	assert.Equal(t, "partition/p1", ev.Path)
	assert.Equal(t, "metal-admin@metal-stack.io", ev.User)
	assert.Equal(t, "provider", ev.Tenant)
	assert.JSONEq(t, `"one"`, string(mustField(t, ev.Body, "name")))

	all, err := h.kit.Trail.Search(ctx, audit.Filter{RequestID: ev.RequestID})
	require.NoError(t, err)
	var phases []audit.Phase
	for _, e := range all.Entries {
		phases = append(phases, e.Phase)
		assert.Equal(t, "metal-admin@metal-stack.io", e.User)
	}
	assert.Equal(t, []audit.Phase{audit.PhaseResponse, audit.PhaseSingle, audit.PhaseRequest}, phases)

	_, err = h.view().Image().FindImages(image.NewFindImagesParams().WithBody(&models.V1ImageFindRequest{}), nil)
	require.NoError(t, err)
	_, err = h.view().Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
		ID: ptr("p2"), Bootconfig: &models.V1PartitionBootConfiguration{},
	}), nil)
	require.Error(t, err)
	entries, err := h.kit.Trail.Search(ctx, audit.Filter{Type: audit.TypeHTTP})
	require.NoError(t, err)
	assert.Len(t, entries.Entries, 2, "only the create's request and response")
}

func mustField(t *testing.T, body []byte, key string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m))
	return m[key]
}

// downStore is a store that cannot be reached.
type downStore struct{}

func (downStore) View(context.Context, func(backends.Tx) error) error {
	return errdefs.Errorf(errdefs.ErrUnavailable, "down")
}
func (downStore) Update(context.Context, func(backends.Tx) error) error {
	return errdefs.Errorf(errdefs.ErrUnavailable, "down")
}
func (downStore) Close() error { return nil }

// TestTrailDown shows a request refused because its audit entry cannot be
// written (metal-api's fail-closed behaviour): 503 in metal-api's error
// format, and the handler did not run.
func TestTrailDown(t *testing.T) {
	store := memstore.New()
	kit, err := metalkit.Open(store, &metalkit.Options{AuditStore: downStore{}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = kit.Close() })
	srv, err := api.New(kit, &api.Options{Keys: api.Keys{Admin: adminKey}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c, err := metalgo.NewDriver(ts.URL, "", adminKey)
	require.NoError(t, err)
	_, err = c.Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
		ID: ptr("p1"), Bootconfig: &models.V1PartitionBootConfiguration{},
	}), nil)
	requireHTTPError(t, err, http.StatusServiceUnavailable, "the audit trail cannot record the request")
	require.ErrorIs(t, srv.Catalog().Partition(context.Background(), "p1"), errdefs.ErrNotFound, "the handler did not run")
}
