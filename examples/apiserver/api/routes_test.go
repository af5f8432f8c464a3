package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	metalgo "github.com/metal-stack/metal-go"
	"github.com/metal-stack/metal-go/api/client/filesystemlayout"
	"github.com/metal-stack/metal-go/api/client/health"
	"github.com/metal-stack/metal-go/api/client/image"
	"github.com/metal-stack/metal-go/api/client/partition"
	"github.com/metal-stack/metal-go/api/client/project"
	"github.com/metal-stack/metal-go/api/client/user"
	"github.com/metal-stack/metal-go/api/client/version"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/examples/apiserver/api"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/network"
)

func ptr[T any](v T) *T { return &v }

// TestEveryRouteWithMetalGo drives every route through metal-go's typed
// client on memstore; every answer decodes into metal-go's models.
func TestEveryRouteWithMetalGo(t *testing.T) {
	clock := newLabClock()
	h := newHarness(t, memstore.New(), &harnessOptions{clock: clock.Now})
	admin, view := h.admin(), h.view()

	t.Run("health", func(t *testing.T) {
		ok, err := view.Health().Health(health.NewHealthParams(), nil)
		require.NoError(t, err)
		assert.Equal(t, "healthy", *ok.Payload.Status)
		assert.Equal(t, "healthy", *ok.Payload.Services["store"].Status)
		ok, err = view.Health().Health(health.NewHealthParams().WithService(ptr("store")), nil)
		require.NoError(t, err)
		assert.Len(t, ok.Payload.Services, 1)
	})
	t.Run("version", func(t *testing.T) {
		ok, err := view.Version().Info(version.NewInfoParams(), nil)
		require.NoError(t, err)
		assert.Equal(t, "metalkit-apiserver", *ok.Payload.Name)
		assert.Equal(t, "v0.0.0", *ok.Payload.MinClientVersion)
		assert.NotEmpty(t, *ok.Payload.Version)
	})
	t.Run("user me", func(t *testing.T) {
		for _, c := range []struct {
			client metalgo.Client
			name   string
			email  string
			group  string
		}{
			{admin, "Metal-Admin", "metal-admin@metal-stack.io", "maas-all-all-admin"},
			{h.edit(), "Metal-Edit", "metal-edit@metal-stack.io", "maas-all-all-edit"},
			{view, "Metal-View", "metal-view@metal-stack.io", "maas-all-all-view"},
		} {
			ok, err := c.client.User().GetMe(user.NewGetMeParams(), nil)
			require.NoError(t, err)
			assert.Equal(t, c.name, *ok.Payload.Name)
			assert.Equal(t, c.email, *ok.Payload.EMail)
			assert.Equal(t, "provider", *ok.Payload.Tenant)
			assert.Contains(t, ok.Payload.Groups, c.group)
			assert.Empty(t, *ok.Payload.Issuer)
		}
	})

	t.Run("partition", func(t *testing.T) {
		created, err := admin.Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
			ID:          ptr("fra-equ01"),
			Name:        "Frankfurt",
			Description: "the first partition",
			Labels:      map[string]string{"dc": "fra"},
			Bootconfig: &models.V1PartitionBootConfiguration{
				Imageurl:    "https://images.example.org/metal-hammer.tar.lz4",
				Kernelurl:   "https://images.example.org/metal-hammer-kernel",
				Commandline: "console=ttyS1,115200n8",
			},
			DNSServers: []*models.V1DNSServer{{IP: ptr("1.1.1.1")}, {IP: ptr("2001:4860:4860::8888")}},
			NtpServers: []*models.V1NTPServer{{Address: ptr("pool.ntp.org")}},
		}), nil)
		require.NoError(t, err)
		p := created.Payload
		assert.Equal(t, "fra-equ01", *p.ID)
		assert.Equal(t, "Frankfurt", p.Name)
		assert.Equal(t, "console=ttyS1,115200n8", p.Bootconfig.Commandline)
		assert.Len(t, p.DNSServers, 2)
		assert.Equal(t, "pool.ntp.org", *p.NtpServers[0].Address)
		assert.False(t, time.Time(p.Created).IsZero())

		_, err = admin.Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
			ID: ptr("fra-equ01"), Bootconfig: &models.V1PartitionBootConfiguration{},
		}), nil)
		var dup *partition.CreatePartitionConflict
		require.ErrorAs(t, err, &dup)
		requireHTTPError(t, err, http.StatusConflict, `partition "fra-equ01" already exists`)

		got, err := view.Partition().FindPartition(partition.NewFindPartitionParams().WithID("fra-equ01"), nil)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"dc": "fra"}, got.Payload.Labels)

		updated, err := admin.Partition().UpdatePartition(partition.NewUpdatePartitionParams().WithBody(&models.V1PartitionUpdateRequest{
			ID:          ptr("fra-equ01"),
			Description: "changed",
		}), nil)
		require.NoError(t, err)
		assert.Equal(t, "changed", updated.Payload.Description)
		assert.Equal(t, "Frankfurt", updated.Payload.Name, "a field not given stays")
		assert.Len(t, updated.Payload.DNSServers, 2, "null dns_servers are not given")
		assert.True(t, time.Time(updated.Payload.Created).Equal(time.Time(p.Created)))

		list, err := view.Partition().ListPartitions(partition.NewListPartitionsParams(), nil)
		require.NoError(t, err)
		require.Len(t, list.Payload, 1)

		_, err = view.Partition().FindPartition(partition.NewFindPartitionParams().WithID("nope"), nil)
		requireHTTPError(t, err, http.StatusNotFound, `partition "nope" not found`)
	})

	t.Run("project", func(t *testing.T) {
		created, err := admin.Project().CreateProject(project.NewCreateProjectParams().WithBody(&models.V1ProjectCreateRequest{
			Name: "project a", Description: "first", TenantID: "tenant-a",
			Meta:   &models.V1Meta{ID: "project-a", Annotations: map[string]string{"a": "b"}, Labels: []string{"x"}},
			Quotas: &models.V1QuotaSet{Machine: &models.V1Quota{Quota: 3}},
		}), nil)
		require.NoError(t, err)
		p := created.Payload
		assert.Equal(t, "project-a", p.Meta.ID)
		assert.Equal(t, "Project", p.Meta.Kind)
		assert.Equal(t, "v1", p.Meta.Apiversion)
		assert.False(t, time.Time(p.Meta.CreatedTime).IsZero())
		assert.EqualValues(t, 3, p.Quotas.Machine.Quota)

		generated, err := admin.Project().CreateProject(project.NewCreateProjectParams().WithBody(&models.V1ProjectCreateRequest{
			Name: "project b", TenantID: "tenant-b",
		}), nil)
		require.NoError(t, err)
		assert.Len(t, generated.Payload.Meta.ID, 36, "a project created without an id gets a UUID")

		_, err = h.kit.Networks.Create(context.Background(), superRequest("fra-equ01"))
		require.NoError(t, err)
		child, err := h.kit.Networks.AllocateChild(context.Background(), network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "project-a"})
		require.NoError(t, err)
		_, err = h.kit.Networks.AllocateIP(context.Background(), network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "project-a"})
		require.NoError(t, err)

		got, err := view.Project().FindProject(project.NewFindProjectParams().WithID("project-a"), nil)
		require.NoError(t, err)
		assert.EqualValues(t, 1, got.Payload.Quotas.IP.Used, "one IP of the project")
		assert.EqualValues(t, 3, got.Payload.Quotas.Machine.Quota)

		list, err := view.Project().ListProjects(project.NewListProjectsParams(), nil)
		require.NoError(t, err)
		assert.Len(t, list.Payload, 2)

		found, err := view.Project().FindProjects(project.NewFindProjectsParams().WithBody(&models.V1ProjectFindRequest{TenantID: "tenant-b"}), nil)
		require.NoError(t, err)
		require.Len(t, found.Payload, 1)
		assert.Equal(t, "project b", found.Payload[0].Name)

		updated, err := admin.Project().UpdateProject(project.NewUpdateProjectParams().WithBody(&models.V1ProjectUpdateRequest{
			Name: "project a2", Description: "changed", Meta: got.Payload.Meta,
		}), nil)
		require.NoError(t, err)
		assert.Equal(t, "project a2", updated.Payload.Name)
		assert.Equal(t, "tenant-a", updated.Payload.TenantID, "an empty tenant keeps the stored one")
		assert.EqualValues(t, 1, updated.Payload.Meta.Version)
		assert.True(t, time.Time(updated.Payload.Meta.CreatedTime).Equal(time.Time(p.Meta.CreatedTime)))
		assert.False(t, time.Time(updated.Payload.Meta.UpdatedTime).IsZero())

		_, err = admin.Project().UpdateProject(project.NewUpdateProjectParams().WithBody(&models.V1ProjectUpdateRequest{
			Name: "stale", Meta: got.Payload.Meta,
		}), nil)
		var staleErr *project.UpdateProjectPreconditionFailed
		require.ErrorAs(t, err, &staleErr, "metal-api's OptimisticLock answer")
		requireHTTPError(t, err, http.StatusPreconditionFailed, "older than the stored version 1")

		_, err = admin.Project().DeleteProject(project.NewDeleteProjectParams().WithID("project-a"), nil)
		requireHTTPError(t, err, http.StatusConflict, `project "project-a" still has 1 networks`)

		deleted, err := admin.Project().DeleteProject(project.NewDeleteProjectParams().WithID(generated.Payload.Meta.ID), nil)
		require.NoError(t, err)
		assert.Equal(t, "project b", deleted.Payload.Name)
		_, err = view.Project().FindProject(project.NewFindProjectParams().WithID(generated.Payload.Meta.ID), nil)
		requireHTTPError(t, err, http.StatusNotFound, "not found")
	})

	t.Run("image", func(t *testing.T) {
		for _, id := range []string{"ubuntu-24.04.20240501", "ubuntu-24.04.20240601", "ubuntu-22.04.20230101", "firewall-ubuntu-3.0.20240101"} {
			features := []string{"machine"}
			if strings.HasPrefix(id, "firewall") {
				features = []string{"firewall"}
			}
			created, err := admin.Image().CreateImage(image.NewCreateImageParams().WithBody(&models.V1ImageCreateRequest{
				ID: ptr(id), URL: ptr("https://images.example.org/" + id + ".tar.lz4"), Features: features, Name: id,
			}), nil)
			require.NoError(t, err, id)
			assert.Equal(t, "preview", created.Payload.Classification)
			assert.WithinDuration(t, time.Now().Add(90*24*time.Hour), time.Time(*created.Payload.ExpirationDate), time.Minute,
				"an unset expiration date (sent as 0001-01-01) gets the default")
		}

		got, err := view.Image().FindImage(image.NewFindImageParams().WithID("ubuntu-24.04.20240501"), nil)
		require.NoError(t, err)
		assert.Equal(t, []string{"machine"}, got.Payload.Features)

		latest, err := view.Image().FindLatestImage(image.NewFindLatestImageParams().WithID("ubuntu-24.04"), nil)
		require.NoError(t, err)
		assert.Equal(t, "ubuntu-24.04.20240601", *latest.Payload.ID)
		_, err = view.Image().FindLatestImage(image.NewFindLatestImageParams().WithID("debian-12"), nil)
		requireHTTPError(t, err, http.StatusNotFound, `no image for id "debian-12"`)

		query, err := view.Image().QueryImagesByID(image.NewQueryImagesByIDParams().WithID("ubuntu-24.04"), nil)
		require.NoError(t, err)
		require.Len(t, query.Payload, 2)
		assert.Equal(t, "ubuntu-24.04.20240601", *query.Payload[0].ID, "most recent first")

		list, err := view.Image().ListImages(image.NewListImagesParams().WithShowUsage(ptr(true)), nil)
		require.NoError(t, err)
		assert.Len(t, list.Payload, 4)

		found, err := view.Image().FindImages(image.NewFindImagesParams().WithBody(&models.V1ImageFindRequest{Features: []string{"firewall"}}), nil)
		require.NoError(t, err)
		require.Len(t, found.Payload, 1)
		assert.Equal(t, "firewall-ubuntu-3.0.20240101", *found.Payload[0].ID)
		found, err = view.Image().FindImages(image.NewFindImagesParams().WithBody(&models.V1ImageFindRequest{Os: "ubuntu", Version: "22.4.20230101"}), nil)
		require.NoError(t, err)
		require.Len(t, found.Payload, 1)

		exp := strfmt.DateTime(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
		updated, err := admin.Image().UpdateImage(image.NewUpdateImageParams().WithBody(&models.V1ImageUpdateRequest{
			ID: ptr("ubuntu-22.04.20230101"), Classification: "deprecated", ExpirationDate: &exp, Features: []string{"machine", "firewall"},
		}), nil)
		require.NoError(t, err)
		assert.Equal(t, "deprecated", updated.Payload.Classification)
		assert.Equal(t, []string{"firewall", "machine"}, updated.Payload.Features)
		assert.True(t, time.Time(*updated.Payload.ExpirationDate).Equal(time.Time(exp)))
		assert.Equal(t, "https://images.example.org/ubuntu-22.04.20230101.tar.lz4", updated.Payload.URL, "a field not given stays")

		deleted, err := admin.Image().DeleteImage(image.NewDeleteImageParams().WithID("ubuntu-22.04.20230101"), nil)
		require.NoError(t, err)
		assert.Equal(t, "ubuntu-22.04.20230101", *deleted.Payload.ID)
		_, err = view.Image().FindImage(image.NewFindImageParams().WithID("ubuntu-22.04.20230101"), nil)
		requireHTTPError(t, err, http.StatusNotFound, "not found")
	})

	t.Run("filesystemlayout", func(t *testing.T) {
		require.NoError(t, h.srv.Catalog().PutFilesystemLayout(context.Background(), []byte(`{
			"id": "default", "name": "default layout",
			"filesystems": [{"path": "/", "device": "/dev/sda1", "format": "ext4", "mountoptions": ["noatime"]}],
			"disks": [{"device": "/dev/sda", "partitions": [{"number": 1, "size": 0, "gpttype": "8300"}], "wipeonreinstall": true}],
			"constraints": {"sizes": ["c1-large-x86"], "images": {"ubuntu": ">= 20.04"}}
		}`)))
		list, err := view.Filesystemlayout().ListFilesystemLayouts(filesystemlayout.NewListFilesystemLayoutsParams(), nil)
		require.NoError(t, err)
		require.Len(t, list.Payload, 1)
		l := list.Payload[0]
		assert.Equal(t, "default", *l.ID)
		assert.Equal(t, "ext4", *l.Filesystems[0].Format)
		assert.Equal(t, ">= 20.04", l.Constraints.Images["ubuntu"])
		assert.True(t, *l.Disks[0].Wipeonreinstall)
	})

	t.Run("network, ip, switch and audit", func(t *testing.T) {
		seedCatalog(t, admin, "fra-equ02", "project-n")
		t.Run("network", func(t *testing.T) { networkRoutes(t, h, "fra-equ02", "project-n") })
		t.Run("ip", func(t *testing.T) { ipRoutes(t, h, "fra-equ02", "project-n") })
		t.Run("switch", func(t *testing.T) { switchRoutes(t, h, "fra-equ02") })
		t.Run("audit", func(t *testing.T) { auditRoutes(t, h) })
	})

	t.Run("delete partition", func(t *testing.T) {
		_, err := admin.Partition().DeletePartition(partition.NewDeletePartitionParams().WithID("fra-equ01"), nil)
		requireHTTPError(t, err, http.StatusConflict, `partition "fra-equ01" still has`)
		_, err = admin.Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
			ID: ptr("empty"), Bootconfig: &models.V1PartitionBootConfiguration{},
		}), nil)
		require.NoError(t, err)
		deleted, err := admin.Partition().DeletePartition(partition.NewDeletePartitionParams().WithID("empty"), nil)
		require.NoError(t, err)
		assert.Equal(t, "empty", *deleted.Payload.ID)
	})

	t.Run("metrics", func(t *testing.T) {
		code, body := h.raw(http.MethodGet, "/metrics", nil, "", "", time.Now())
		require.Equal(t, http.StatusOK, code)
		assert.Contains(t, string(body), `metalkit_apiserver_http_requests_total{code="201",method="PUT",route="PUT /v1/partition"} 3`)
		assert.Contains(t, string(body), `metalkit_apiserver_http_request_duration_seconds_bucket{method="GET",route="GET /v1/partition/{id}"`)
		assert.Contains(t, string(body), "go_goroutines")
	})

	t.Run("size, machine, firewall and capacity", func(t *testing.T) {
		l := setupMachineLab(t, h, clock)
		l.candidate("mach-1", 1, 0)
		l.candidate("mach-2", 2, 0)
		l.register("mach-3", 1, 1, 4)
		t.Run("size", func(t *testing.T) { sizeRoutes(t, l) })
		t.Run("size reservation", func(t *testing.T) { reservationRoutes(t, l) })
		t.Run("machine", func(t *testing.T) { machineRoutes(t, l) })
	})

	t.Run("admin check", func(t *testing.T) {
		// The switch subtest connected machine m1, which was never
		// registered: the check finds it, and a repair removes it.
		code, body := h.raw(http.MethodGet, "/v1/admin/check", nil, api.AuthTypeAdmin, adminKey, time.Now())
		require.Equal(t, http.StatusOK, code, "%s", body)
		var rep struct {
			Findings []struct {
				Invariant  string `json:"invariant"`
				Message    string `json:"message"`
				Repairable bool   `json:"repairable"`
			} `json:"findings"`
			Repaired int  `json:"repaired"`
			DryRun   bool `json:"dry_run"`
		}
		require.NoError(t, json.Unmarshal(body, &rep))
		require.Len(t, rep.Findings, 1, "%s", body)
		assert.Equal(t, "machine.connection", rep.Findings[0].Invariant)
		assert.Contains(t, rep.Findings[0].Message, `machine "m1", which does not exist`)
		assert.True(t, rep.Findings[0].Repairable)
		assert.True(t, rep.DryRun)

		code, body = h.raw(http.MethodGet, "/v1/admin/check?repair=true", nil, api.AuthTypeAdmin, adminKey, time.Now())
		require.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, errorBody(t, body).Message, "repair=true needs POST /v1/admin/check")
		code, body = h.raw(http.MethodPost, "/v1/admin/check?repair=true", nil, api.AuthTypeAdmin, adminKey, time.Now())
		require.Equal(t, http.StatusOK, code, "%s", body)
		require.NoError(t, json.Unmarshal(body, &rep))
		assert.Equal(t, 1, rep.Repaired)
		assert.False(t, rep.DryRun)
		code, body = h.raw(http.MethodPost, "/v1/admin/check", nil, api.AuthTypeAdmin, adminKey, time.Now())
		require.Equal(t, http.StatusOK, code, "%s", body)
		assert.JSONEq(t, `{"findings": [], "repaired": 0, "dry_run": true}`, string(body), "nothing is left")
	})

	for _, rt := range h.srv.Routes() {
		assert.True(t, h.served[rt.Pattern], "route %s was not exercised", rt.Pattern)
	}
}

// superRequest is a dual-stack super network of a partition.
func superRequest(partitionID string) network.CreateRequest {
	return network.CreateRequest{
		ID:                       "super-" + partitionID,
		PartitionID:              partitionID,
		Prefixes:                 []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
		DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22},
		PrivateSuper:             true,
	}
}

// TestMainFlowsOnEveryStore runs the create, read, update and delete flow
// of each kind through metal-go on memstore, boltstore and Redis.
func TestMainFlowsOnEveryStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		h := newHarness(t, s, nil)
		admin := h.admin()

		_, err := admin.Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
			ID: ptr("p1"), Bootconfig: &models.V1PartitionBootConfiguration{Imageurl: "http://x.example/i"},
		}), nil)
		require.NoError(t, err)
		_, err = admin.Partition().UpdatePartition(partition.NewUpdatePartitionParams().WithBody(&models.V1PartitionUpdateRequest{
			ID: ptr("p1"), Name: "one",
		}), nil)
		require.NoError(t, err)
		parts, err := admin.Partition().ListPartitions(partition.NewListPartitionsParams(), nil)
		require.NoError(t, err)
		require.Len(t, parts.Payload, 1)
		assert.Equal(t, "one", parts.Payload[0].Name)

		_, err = admin.Project().CreateProject(project.NewCreateProjectParams().WithBody(&models.V1ProjectCreateRequest{
			Meta: &models.V1Meta{ID: "pr1"}, TenantID: "t",
		}), nil)
		require.NoError(t, err)
		pr, err := admin.Project().FindProject(project.NewFindProjectParams().WithID("pr1"), nil)
		require.NoError(t, err)
		_, err = admin.Project().UpdateProject(project.NewUpdateProjectParams().WithBody(&models.V1ProjectUpdateRequest{
			Meta: pr.Payload.Meta, Name: "renamed",
		}), nil)
		require.NoError(t, err)

		_, err = admin.Image().CreateImage(image.NewCreateImageParams().WithBody(&models.V1ImageCreateRequest{
			ID: ptr("ubuntu-24.04.20240501"), URL: ptr("https://x.example/u"), Features: []string{"machine"},
		}), nil)
		require.NoError(t, err)
		latest, err := admin.Image().FindLatestImage(image.NewFindLatestImageParams().WithID("ubuntu-24.04"), nil)
		require.NoError(t, err)
		assert.Equal(t, "ubuntu-24.04.20240501", *latest.Payload.ID)

		ctx := context.Background()
		cat := h.srv.Catalog()
		require.NoError(t, cat.Partition(ctx, "p1"))
		require.NoError(t, cat.Project(ctx, "pr1"))
		require.NoError(t, cat.Image(ctx, "ubuntu-24.04", "machine", "c1-large"))

		_, err = admin.Image().DeleteImage(image.NewDeleteImageParams().WithID("ubuntu-24.04.20240501"), nil)
		require.NoError(t, err)
		_, err = admin.Project().DeleteProject(project.NewDeleteProjectParams().WithID("pr1"), nil)
		require.NoError(t, err)
		_, err = admin.Partition().DeletePartition(partition.NewDeletePartitionParams().WithID("p1"), nil)
		require.NoError(t, err)
		for _, b := range []string{"apiserver/partition", "apiserver/project", "apiserver/image"} {
			for k := range h.tracker.Dump(t) {
				assert.False(t, strings.HasPrefix(k, b+"/"), "%s is left after the deletes", k)
			}
		}
	})
}
