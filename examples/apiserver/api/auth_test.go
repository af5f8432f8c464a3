package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/metal-stack/metal-go/api/client/health"
	"github.com/metal-stack/metal-go/api/client/image"
	"github.com/metal-stack/metal-go/api/client/partition"
	"github.com/metal-stack/metal-go/api/client/project"
	"github.com/metal-stack/metal-go/api/client/version"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/examples/apiserver/api"
)

func TestRoles(t *testing.T) {
	h := newHarness(t, memstore.New(), &harnessOptions{ownAuditStore: true})
	before := h.tracker.Dump(t)
	newPartition := partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
		ID: ptr("p"), Bootconfig: &models.V1PartitionBootConfiguration{},
	})
	newImage := image.NewCreateImageParams().WithBody(&models.V1ImageCreateRequest{
		ID: ptr("ubuntu-24.04"), URL: ptr("https://x.example/u"),
	})

	t.Run("view cannot create a partition", func(t *testing.T) {
		_, err := h.view().Partition().CreatePartition(newPartition, nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-View may not PUT /v1/partition: it needs the admin role")
	})
	t.Run("view cannot create an image", func(t *testing.T) {
		_, err := h.view().Image().CreateImage(newImage, nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the admin role")
	})
	t.Run("edit cannot create a partition, an image or a project", func(t *testing.T) {
		// metal-api wraps these routes in admin(): edit is not enough.
		_, err := h.edit().Partition().CreatePartition(newPartition, nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-Edit may not PUT /v1/partition")
		_, err = h.edit().Image().CreateImage(newImage, nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-Edit may not PUT /v1/image")
		_, err = h.edit().Project().CreateProject(project.NewCreateProjectParams().WithBody(&models.V1ProjectCreateRequest{TenantID: "t"}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-Edit may not PUT /v1/project")
	})
	t.Run("view and edit may read and find", func(t *testing.T) {
		_, err := h.view().Partition().ListPartitions(partition.NewListPartitionsParams(), nil)
		require.NoError(t, err)
		_, err = h.edit().Image().FindImages(image.NewFindImagesParams().WithBody(&models.V1ImageFindRequest{}), nil)
		require.NoError(t, err)
		_, err = h.view().Project().FindProjects(project.NewFindProjectsParams().WithBody(&models.V1ProjectFindRequest{}), nil)
		require.NoError(t, err)
	})
	t.Run("wrong key", func(t *testing.T) {
		_, err := h.client(api.AuthTypeAdmin, "not-the-key").Partition().ListPartitions(partition.NewListPartitionsParams(), nil)
		requireHTTPError(t, err, http.StatusUnauthorized, "does not match")
		_, err = h.client(api.AuthTypeView, adminKey).Partition().CreatePartition(newPartition, nil)
		requireHTTPError(t, err, http.StatusUnauthorized, "under the key of Metal-View")
	})
	t.Run("unknown auth type", func(t *testing.T) {
		_, err := h.client("Metal-Root", adminKey).Partition().ListPartitions(partition.NewListPartitionsParams(), nil)
		requireHTTPError(t, err, http.StatusUnauthorized, `names the auth type "Metal-Root"`)
	})
	t.Run("no signature", func(t *testing.T) {
		code, body := h.raw(http.MethodGet, "/v1/partition", nil, "", "", time.Now())
		require.Equal(t, http.StatusUnauthorized, code)
		assert.Contains(t, errorBody(t, body).Message, "no Authorization header")
	})
	t.Run("bearer token", func(t *testing.T) {
		c, err := newDriverWithToken(h.ts.URL, "some.jwt.token")
		require.NoError(t, err)
		_, err = c.Partition().ListPartitions(partition.NewListPartitionsParams(), nil)
		requireHTTPError(t, err, http.StatusUnauthorized, "bearer tokens are not accepted")
	})
	t.Run("stale date", func(t *testing.T) {
		code, body := h.raw(http.MethodGet, "/v1/partition", nil, api.AuthTypeAdmin, adminKey, time.Now().Add(-time.Hour))
		require.Equal(t, http.StatusUnauthorized, code)
		e := errorBody(t, body)
		assert.Equal(t, http.StatusUnauthorized, e.StatusCode)
		assert.Contains(t, e.Message, "is more than 30s old")
	})
	t.Run("date in the future", func(t *testing.T) {
		code, body := h.raw(http.MethodGet, "/v1/partition", nil, api.AuthTypeAdmin, adminKey, time.Now().Add(time.Hour))
		require.Equal(t, http.StatusUnauthorized, code)
		assert.Contains(t, errorBody(t, body).Message, "in the future")
	})
	t.Run("a signature is bound to its method", func(t *testing.T) {
		// Signed for GET, sent as DELETE.
		req, err := http.NewRequest(http.MethodDelete, h.ts.URL+"/v1/partition/p", nil)
		require.NoError(t, err)
		for k, v := range signedHeaders(http.MethodGet, time.Now()) {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	t.Run("health and version are open", func(t *testing.T) {
		c := h.client(api.AuthTypeAdmin, "")
		_, err := c.Health().Health(health.NewHealthParams(), nil)
		require.NoError(t, err)
		_, err = c.Version().Info(version.NewInfoParams(), nil)
		require.NoError(t, err)
	})
	assert.Equal(t, before, h.tracker.Dump(t), "refused requests change nothing")
}

func TestUnconfiguredKeyIsOff(t *testing.T) {
	h := newHarness(t, memstore.New(), &harnessOptions{api: api.Options{Keys: api.Keys{Admin: adminKey}}})
	_, err := h.client(api.AuthTypeView, viewKey).Partition().ListPartitions(partition.NewListPartitionsParams(), nil)
	requireHTTPError(t, err, http.StatusUnauthorized, "this server accepts Metal-Admin")
	_, err = h.admin().Partition().ListPartitions(partition.NewListPartitionsParams(), nil)
	require.NoError(t, err)
}

func TestNewRefusesBadOptions(t *testing.T) {
	kit := newKit(t)
	for name, o := range map[string]*api.Options{
		"no key":           nil,
		"negative max":     {Keys: api.Keys{Admin: "k"}, MaxBody: -1},
		"negative life":    {Keys: api.Keys{Admin: "k"}, Lifetime: -time.Second},
		"catalog of other": {Keys: api.Keys{Admin: "k"}, Catalog: api.NewCatalog(memstore.New(), nil)},
	} {
		_, err := api.New(kit, o)
		assert.Error(t, err, name)
	}
	_, err := api.New(nil, &api.Options{Keys: api.Keys{Admin: "k"}})
	assert.ErrorContains(t, err, "kit is nil")
}
