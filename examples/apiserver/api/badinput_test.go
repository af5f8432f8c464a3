package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/metal-stack/metal-go/api/client/image"
	"github.com/metal-stack/metal-go/api/client/partition"
	"github.com/metal-stack/metal-go/api/client/project"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/examples/apiserver/api"
	"github.com/metalkit/metalkit/network"
)

// seeded returns a harness whose trail has its own store and whose store
// holds one partition, one project and one image.
func seeded(t *testing.T, o *harnessOptions) *harness {
	t.Helper()
	if o == nil {
		o = &harnessOptions{}
	}
	o.ownAuditStore = true
	h := newHarness(t, memstore.New(), o)
	admin := h.admin()
	_, err := admin.Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
		ID: ptr("p1"), Bootconfig: &models.V1PartitionBootConfiguration{},
	}), nil)
	require.NoError(t, err)
	_, err = admin.Project().CreateProject(project.NewCreateProjectParams().WithBody(&models.V1ProjectCreateRequest{
		Meta: &models.V1Meta{ID: "pr1"}, TenantID: "t",
	}), nil)
	require.NoError(t, err)
	_, err = admin.Image().CreateImage(image.NewCreateImageParams().WithBody(&models.V1ImageCreateRequest{
		ID: ptr("ubuntu-24.04.20240501"), URL: ptr("https://x.example/u"), Features: []string{"machine"},
	}), nil)
	require.NoError(t, err)
	return h
}

// TestBadInputChangesNothing sends malformed and incomplete requests: each
// gets a 4xx whose message metal-go's client surfaces, and the store holds
// what it held before, bucket for bucket.
func TestBadInputChangesNothing(t *testing.T) {
	h := seeded(t, nil)
	before := h.tracker.Dump(t)
	require.NotEmpty(t, before)
	admin := h.admin()

	for _, c := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"malformed JSON", http.MethodPut, "/v1/partition", `{"id": "p2",`, 400, "not valid JSON"},
		{"not JSON", http.MethodPut, "/v1/image", `id=x`, 400, "not valid JSON"},
		{"empty body", http.MethodPut, "/v1/project", ``, 400, "the request body is empty"},
		{"two values", http.MethodPost, "/v1/partition", `{"id":"p1"} {"id":"p1"}`, 400, "more than one JSON value"},
		{"wrong type", http.MethodPut, "/v1/partition", `{"id": 7}`, 400, "id: a JSON number cannot be a string"},
		{"null id", http.MethodPut, "/v1/partition", `{"id": null, "bootconfig": {}}`, 400, "id is required"},
		{"missing update id", http.MethodPost, "/v1/image", `{"name": "x"}`, 400, "id is required"},
		{"missing project meta", http.MethodPost, "/v1/project", `{"name": "x"}`, 400, "meta.id is required"},
		{"missing tenant", http.MethodPut, "/v1/project", `{"meta": {"id": "pr2"}}`, 400, "tenant_id is required"},
		{"path without id", http.MethodGet, "/v1/partition/", ``, 404, "no route for GET /v1/partition/"},
		{"delete without id", http.MethodDelete, "/v1/image/", ``, 404, "no route"},
		{"too large", http.MethodPut, "/v1/partition", `{"id": "` + strings.Repeat("x", 5<<20) + `"}`, 413, "larger than"},
		{"bad show-usage", http.MethodGet, "/v1/image?show-usage=maybe", ``, 400, `show-usage "maybe" is not a boolean`},
		{"unknown image filter", http.MethodPost, "/v1/image/find", `{"owner": "x"}`, 400, `the filter "owner" is not supported`},
		{"unknown project filter", http.MethodPost, "/v1/project/find", `{"id": "pr1", "labels": ["x"]}`, 400, `the filter "labels" is not supported`},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.requireRawError(t, api.AuthTypeAdmin, adminKey, c.method, c.path, c.body, c.status, c.want)
		})
	}

	t.Run("every problem of a partition, each naming field and value", func(t *testing.T) {
		_, err := admin.Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
			ID: ptr("p2"),
			Bootconfig: &models.V1PartitionBootConfiguration{
				Imageurl: "ftp://x/y", Kernelurl: "not a url at all",
			},
			DNSServers: []*models.V1DNSServer{{IP: ptr("1.1.1.1")}, {IP: ptr("one")}, {IP: ptr("8.8.8.8")}, {IP: ptr("9.9.9.9")}},
			NtpServers: []*models.V1NTPServer{{Address: ptr("-bad-.example")}},
			Labels:     map[string]string{"": "x"},
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `bootconfig.imageurl "ftp://x/y": want an http or https URL`)
		msg := err.(httpError).GetPayload().Message
		for _, want := range []string{
			`bootconfig.kernelurl "not a url at all"`,
			"dns_servers has 4 entries; at most 3 are allowed",
			`dns_servers[1].ip "one" is not an IP address`,
			`ntp_servers[0].address "-bad-.example" is neither an IP address nor a DNS name`,
			"labels has an empty key",
		} {
			assert.Contains(t, msg, want)
		}
	})
	t.Run("image id, feature and classification", func(t *testing.T) {
		_, err := admin.Image().CreateImage(image.NewCreateImageParams().WithBody(&models.V1ImageCreateRequest{
			ID: ptr("ubuntu"), URL: ptr("https://x.example/u"), Features: []string{"router"}, Classification: "beta",
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `id "ubuntu": want <os>-<major>.<minor>[.<patch>]`)
		msg := err.(httpError).GetPayload().Message
		assert.Contains(t, msg, `features[0] "router": want "machine" or "firewall"`)
		assert.Contains(t, msg, `classification "beta": want one of preview, supported, deprecated`)
		_, err = admin.Image().CreateImage(image.NewCreateImageParams().WithBody(&models.V1ImageCreateRequest{ID: ptr("debian-12")}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "url is required")
	})
	t.Run("an update that breaks validation", func(t *testing.T) {
		_, err := admin.Partition().UpdatePartition(partition.NewUpdatePartitionParams().WithBody(&models.V1PartitionUpdateRequest{
			ID: ptr("p1"), DNSServers: []*models.V1DNSServer{{IP: ptr("nope")}},
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `dns_servers[0].ip "nope"`)
		_, err = admin.Image().UpdateImage(image.NewUpdateImageParams().WithBody(&models.V1ImageUpdateRequest{
			ID: ptr("ubuntu-24.04.20240501"), URL: "file:///etc/passwd",
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `url "file:///etc/passwd": want an http or https URL`)
	})
	t.Run("missing ids through metal-go", func(t *testing.T) {
		_, err := admin.Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
			Bootconfig: &models.V1PartitionBootConfiguration{},
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "id is required")
		_, err = admin.Image().UpdateImage(image.NewUpdateImageParams().WithBody(&models.V1ImageUpdateRequest{Name: "x"}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "id is required")
		_, err = admin.Project().UpdateProject(project.NewUpdateProjectParams().WithBody(&models.V1ProjectUpdateRequest{Name: "x"}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "meta.id is required")
	})
	t.Run("absent entities", func(t *testing.T) {
		_, err := admin.Partition().UpdatePartition(partition.NewUpdatePartitionParams().WithBody(&models.V1PartitionUpdateRequest{ID: ptr("nope")}), nil)
		requireHTTPError(t, err, http.StatusNotFound, `partition "nope" not found`)
		_, err = admin.Image().DeleteImage(image.NewDeleteImageParams().WithID("nope-1.0"), nil)
		requireHTTPError(t, err, http.StatusNotFound, `image "nope-1.0" not found`)
		_, err = admin.Project().DeleteProject(project.NewDeleteProjectParams().WithID("nope"), nil)
		requireHTTPError(t, err, http.StatusNotFound, `project "nope" not found`)
	})
	t.Run("duplicates", func(t *testing.T) {
		_, err := admin.Project().CreateProject(project.NewCreateProjectParams().WithBody(&models.V1ProjectCreateRequest{
			Meta: &models.V1Meta{ID: "pr1"}, TenantID: "t",
		}), nil)
		var dup *project.CreateProjectConflict
		require.ErrorAs(t, err, &dup)
		_, err = admin.Image().CreateImage(image.NewCreateImageParams().WithBody(&models.V1ImageCreateRequest{
			ID: ptr("ubuntu-24.04.20240501"), URL: ptr("https://x.example/u"),
		}), nil)
		requireHTTPError(t, err, http.StatusConflict, "already exists")
	})
	assert.Equal(t, before, h.tracker.Dump(t), "no bad request changed the store")
}

// TestURLCheck shows Options.CheckURL refusing a URL after its syntax.
func TestURLCheck(t *testing.T) {
	var checked []string
	h := seeded(t, &harnessOptions{api: api.Options{CheckURL: func(_ context.Context, field, url string) error {
		checked = append(checked, field+"="+url)
		if strings.Contains(url, "missing") {
			return errdefs.ErrNotFound
		}
		return nil
	}}})
	before := h.tracker.Dump(t)
	_, err := h.admin().Image().UpdateImage(image.NewUpdateImageParams().WithBody(&models.V1ImageUpdateRequest{
		ID: ptr("ubuntu-24.04.20240501"), URL: "https://x.example/missing",
	}), nil)
	requireHTTPError(t, err, http.StatusBadRequest, `url "https://x.example/missing": not found`)
	assert.Equal(t, before, h.tracker.Dump(t))
	assert.Contains(t, checked, "url=https://x.example/missing")
}

// TestErrorBodyOnTheWire shows the body metal-api sends and metal-go
// expects: a JSON string that holds the JSON of the error.
func TestErrorBodyOnTheWire(t *testing.T) {
	h := newHarness(t, memstore.New(), nil)
	code, body := h.raw(http.MethodGet, "/v1/partition/nope", nil, api.AuthTypeAdmin, adminKey, time.Now())
	require.Equal(t, http.StatusNotFound, code)
	var text string
	require.NoError(t, json.Unmarshal(body, &text), "the body is a JSON string: %s", body)
	assert.JSONEq(t, `{"statuscode":404,"message":"partition \"nope\" not found"}`, text)

	code, body = h.raw(http.MethodPatch, "/v1/partition", nil, "", "", time.Now())
	require.Equal(t, http.StatusMethodNotAllowed, code)
	assert.Contains(t, errorBody(t, body).Message, "PATCH is not allowed on /v1/partition; allowed: GET, HEAD, POST, PUT")
}

// TestCatalogHooks shows the catalog answering the library's questions
// with the errdefs classes.
func TestCatalogHooks(t *testing.T) {
	h := seeded(t, nil)
	ctx := context.Background()
	var cat network.Catalog = h.srv.Catalog()
	require.NoError(t, cat.Partition(ctx, "p1"))
	require.NoError(t, cat.Project(ctx, "pr1"))
	assert.ErrorIs(t, cat.Partition(ctx, "p2"), errdefs.ErrNotFound)
	assert.ErrorIs(t, cat.Project(ctx, "pr2"), errdefs.ErrNotFound)
	assert.ErrorIs(t, cat.Partition(ctx, ""), errdefs.ErrInvalidArgument)

	c := h.srv.Catalog()
	require.NoError(t, c.Image(ctx, "ubuntu-24.04.20240501", api.ImageForMachine, ""))
	require.NoError(t, c.Image(ctx, "ubuntu-24.04", api.ImageForMachine, "c1-large-x86"), "a short id takes the latest")
	assert.ErrorIs(t, c.Image(ctx, "ubuntu-24.04", api.ImageForFirewall, ""), errdefs.ErrInvalidArgument, "no firewall feature")
	assert.ErrorIs(t, c.Image(ctx, "ubuntu-26.04", api.ImageForMachine, ""), errdefs.ErrNotFound)
	assert.ErrorIs(t, c.Image(ctx, "ubuntu", api.ImageForMachine, ""), errdefs.ErrNotFound)
	assert.ErrorIs(t, c.Image(ctx, "ubuntu-24.04", "router", ""), errdefs.ErrInvalidArgument)

	assert.ErrorIs(t, c.PutFilesystemLayout(ctx, []byte(`{"id": "x", "unknown": 1}`)), errdefs.ErrInvalidArgument)
	assert.ErrorIs(t, c.PutFilesystemLayout(ctx, []byte(`{"name": "no id"}`)), errdefs.ErrInvalidArgument)
}

// TestCatalogOverTheKitsStore wires one catalog into the kit's network
// service and the server, as an embedder does.
func TestCatalogOverTheKitsStore(t *testing.T) {
	h := seeded(t, nil)
	cat := h.srv.Catalog()
	kit := h.kit
	nets := network.New(kit.Store, &network.Options{Catalog: cat, Trail: kit.Trail})
	ctx := context.Background()
	_, err := nets.Create(ctx, superRequest("p1"))
	require.NoError(t, err)
	_, err = nets.Create(ctx, superRequest("p9"))
	assert.ErrorIs(t, err, errdefs.ErrNotFound, "the catalog refuses an unknown partition")
}
