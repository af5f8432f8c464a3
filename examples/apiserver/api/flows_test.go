package api_test

import (
	"net/http"
	"testing"
	"time"

	metalgo "github.com/metal-stack/metal-go"
	auditclient "github.com/metal-stack/metal-go/api/client/audit"
	ipclient "github.com/metal-stack/metal-go/api/client/ip"
	nwclient "github.com/metal-stack/metal-go/api/client/network"
	"github.com/metal-stack/metal-go/api/client/partition"
	"github.com/metal-stack/metal-go/api/client/project"
	swclient "github.com/metal-stack/metal-go/api/client/switch_operations"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
)

// seedCatalog creates a partition and a project through metal-go.
func seedCatalog(t *testing.T, admin metalgo.Client, partitionID, projectID string) {
	t.Helper()
	_, err := admin.Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
		ID: ptr(partitionID), Bootconfig: &models.V1PartitionBootConfiguration{},
	}), nil)
	require.NoError(t, err)
	_, err = admin.Project().CreateProject(project.NewCreateProjectParams().WithBody(&models.V1ProjectCreateRequest{
		Meta: &models.V1Meta{ID: projectID}, TenantID: "tenant",
	}), nil)
	require.NoError(t, err)
}

// usage is a network usage as four plain numbers.
type usage struct{ availableIPs, usedIPs, availablePrefixes, usedPrefixes int64 }

func usageOf(t *testing.T, u *models.V1NetworkUsage) usage {
	t.Helper()
	require.NotNil(t, u)
	for _, f := range []*int64{u.AvailableIps, u.UsedIps, u.AvailablePrefixes, u.UsedPrefixes} {
		require.NotNil(t, f, "every figure of a usage is set")
	}
	return usage{*u.AvailableIps, *u.UsedIps, *u.AvailablePrefixes, *u.UsedPrefixes}
}

// superNetwork is the release announcement's super network of partitionID.
func superNetwork(id, partitionID string) *models.V1NetworkCreateRequest {
	return &models.V1NetworkCreateRequest{
		ID:                       ptr(id),
		Partitionid:              partitionID,
		Prefixes:                 []string{"10.0.0.0/16", "2001:db8:0:10::/64"},
		Defaultchildprefixlength: map[string]int64{"IPv4": 22, "IPv6": 96},
		Privatesuper:             ptr(true),
	}
}

// releaseFlow runs the flow of the release announcement through metal-go:
// a dual-stack super network, a child for a project, an IP without a
// family (IPv4) and one with IPv6, each figure as the spec gives it. It
// returns the child's id.
func releaseFlow(t *testing.T, h *harness, partitionID, projectID string) string {
	t.Helper()
	admin, edit := h.admin(), h.edit()

	created, err := admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(superNetwork("super", partitionID)), nil)
	require.NoError(t, err)
	super := created.Payload
	assert.Equal(t, "super", *super.ID)
	assert.True(t, *super.Privatesuper)
	assert.False(t, *super.Nat, "nat sent as null is false")
	assert.False(t, *super.Underlay)
	assert.Equal(t, []string{"10.0.0.0/16", "2001:db8:0:10::/64"}, super.Prefixes)
	assert.Equal(t, []string{}, super.Destinationprefixes)
	assert.Equal(t, map[string]int64{"IPv4": 22, "IPv6": 96}, super.Defaultchildprefixlength)
	assert.Equal(t, usage{65536, 2, 16384, 0}, usageOf(t, super.Consumption.IPV4))
	assert.Equal(t, usage{2147483647, 1, 2147483647, 0}, usageOf(t, super.Consumption.IPV6))
	assert.Equal(t, usage{65536, 2, 16384, 0}, usageOf(t, super.Usage), "usage is the IPv4 consumption")
	assert.False(t, time.Time(super.Created).IsZero())

	allocated, err := edit.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{
		Name: "project network", Partitionid: partitionID, Projectid: projectID,
	}), nil)
	require.NoError(t, err)
	child := allocated.Payload
	assert.Equal(t, []string{"10.0.0.0/22", "2001:db8:0:10::/96"}, child.Prefixes)
	assert.Equal(t, "super", child.Parentnetworkid)
	assert.Equal(t, projectID, child.Projectid)
	assert.Equal(t, partitionID, child.Partitionid)
	assert.NotZero(t, child.Vrf)
	assert.Equal(t, usage{1024, 2, 256, 0}, usageOf(t, child.Consumption.IPV4))
	assert.Equal(t, usage{2147483647, 1, 1073741824, 0}, usageOf(t, child.Consumption.IPV6))

	got, err := h.view().Network().FindNetwork(nwclient.NewFindNetworkParams().WithID("super"), nil)
	require.NoError(t, err)
	assert.Equal(t, usage{65536, 2, 16128, 1}, usageOf(t, got.Payload.Consumption.IPV4))

	v4, err := edit.IP().AllocateIP(ipclient.NewAllocateIPParams().WithBody(&models.V1IPAllocateRequest{
		Networkid: child.ID, Projectid: ptr(projectID), Name: "v4",
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.1", *v4.Payload.Ipaddress, "an IP with no family is IPv4")
	assert.Equal(t, "ephemeral", *v4.Payload.Type, "type sent as null is ephemeral")
	assert.Equal(t, []string{}, v4.Payload.Tags)
	assert.NotEmpty(t, *v4.Payload.Allocationuuid)

	v6, err := edit.IP().AllocateIP(ipclient.NewAllocateIPParams().WithBody(&models.V1IPAllocateRequest{
		Networkid: child.ID, Projectid: ptr(projectID), Addressfamily: "IPv6", Type: ptr("static"),
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "2001:db8:0:10::1", *v6.Payload.Ipaddress)
	assert.Equal(t, "static", *v6.Payload.Type)

	second, err := edit.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{
		Partitionid: partitionID, Projectid: projectID,
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.4.0/22", "2001:db8:0:10:0:1::/96"}, second.Payload.Prefixes)
	_, err = edit.Network().FreeNetwork(nwclient.NewFreeNetworkParams().WithID(*second.Payload.ID), nil)
	require.NoError(t, err)
	return *child.ID
}

// switchFlow registers a SONiC switch twice (201, then 200) and reports a
// sync with port and BGP states, all through metal-go.
func switchFlow(t *testing.T, h *harness, partitionID string) {
	t.Helper()
	edit := h.edit()
	register := &models.V1SwitchRegisterRequest{
		ID: ptr("leaf01"), Name: "leaf01", PartitionID: ptr(partitionID), RackID: ptr("rack01"),
		Os: &models.V1SwitchOS{Vendor: "SONiC", Version: "ec202211", MetalCoreVersion: "v0.13.0"},
		Nics: []*models.V1SwitchNic{
			{Name: ptr("Ethernet0"), Identifier: ptr("Eth1/1"), Mac: ptr("aa:aa:aa:aa:aa:00")},
			{Name: ptr("Ethernet4"), Identifier: ptr("Eth1/2"), Mac: ptr("aa:aa:aa:aa:aa:04")},
		},
		ManagementIP: "10.1.0.1", ManagementUser: "admin",
	}
	ok, created, err := edit.SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParams().WithBody(register), nil)
	require.NoError(t, err)
	require.Nil(t, ok)
	require.NotNil(t, created, "a new switch answers 201")
	sw := created.Payload
	assert.Equal(t, "leaf01", *sw.ID)
	assert.Equal(t, "operational", sw.Mode)
	assert.Equal(t, "SONiC", sw.Os.Vendor)
	assert.Equal(t, partitionID, *sw.Partition.ID)
	assert.Equal(t, "10.1.0.1", sw.ManagementIP)
	require.Len(t, sw.Nics, 2)
	assert.Equal(t, "UNKNOWN", *sw.Nics[0].Actual)
	assert.Empty(t, sw.Connections)

	ok, created, err = edit.SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParams().WithBody(register), nil)
	require.NoError(t, err)
	require.Nil(t, created)
	require.NotNil(t, ok, "a known switch answers 200")
	assert.Equal(t, "leaf01", *ok.Payload.ID)

	established := time.Now().Add(-time.Minute).Unix()
	notified, err := edit.SwitchOperations().NotifySwitch(swclient.NewNotifySwitchParams().WithID("leaf01").WithBody(&models.V1SwitchNotifyRequest{
		SyncDuration: ptr(int64(2 * time.Second)),
		PortStates:   map[string]string{"Ethernet0": "UP", "Ethernet4": "down"},
		BgpPortStates: map[string]models.V1SwitchBGPPortState{"Ethernet0": {
			Neighbor: ptr("machine-1"), PeerGroup: ptr("MACHINE"), VrfName: ptr("vrf20"), BgpState: ptr("Established"),
			BgpTimerUpEstablished: ptr(established), SentPrefixCounter: ptr(int64(3)), AcceptedPrefixCounter: ptr(int64(7)),
		}},
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "leaf01", *notified.Payload.ID)
	require.NotNil(t, notified.Payload.LastSync)
	assert.Equal(t, int64(2*time.Second), *notified.Payload.LastSync.Duration, "durations in nanoseconds")
	assert.Nil(t, notified.Payload.LastSyncError)

	got, err := h.view().SwitchOperations().FindSwitch(swclient.NewFindSwitchParams().WithID("leaf01"), nil)
	require.NoError(t, err)
	nics := got.Payload.Nics
	assert.Equal(t, "UP", *nics[0].Actual)
	assert.Equal(t, "DOWN", *nics[1].Actual, "port states parse case-insensitively")
	b := nics[0].BgpPortState
	require.NotNil(t, b)
	assert.Equal(t, "Established", *b.BgpState)
	assert.Equal(t, "machine-1", *b.Neighbor)
	assert.Equal(t, established, *b.BgpTimerUpEstablished)
	assert.Equal(t, int64(7), *b.AcceptedPrefixCounter)
	assert.Nil(t, nics[1].BgpPortState)
	require.NotNil(t, got.Payload.LastSync)
	assert.WithinDuration(t, time.Now(), time.Time(*got.Payload.LastSync.Time), time.Minute)
}

// auditFlow finds the changes the flows made, by actor and kind.
func auditFlow(t *testing.T, h *harness) {
	t.Helper()
	found, err := h.view().Audit().FindAuditTraces(auditclient.NewFindAuditTracesParams().WithBody(&models.V1AuditFindRequest{
		Type: "event", Detail: "network.allocatechild",
	}), nil)
	require.NoError(t, err)
	require.Len(t, found.Payload, 2, "two children were allocated")
	e := found.Payload[0]
	assert.Equal(t, "metal-edit@metal-stack.io", e.User, "the HMAC user is the actor")
	assert.Equal(t, "provider", e.Tenant)
	assert.Equal(t, "single", e.Phase)
	assert.Contains(t, e.Body, `"partitionid"`)
	assert.NotEmpty(t, e.Rqid)
	assert.False(t, time.Time(e.Timestamp).IsZero())

	// The request and response of the same call share the event's rqid.
	same, err := h.view().Audit().FindAuditTraces(auditclient.NewFindAuditTracesParams().WithBody(&models.V1AuditFindRequest{Rqid: e.Rqid}), nil)
	require.NoError(t, err)
	var phases []string
	for _, x := range same.Payload {
		phases = append(phases, x.Phase)
	}
	assert.Equal(t, []string{"response", "single", "request"}, phases)
	assert.EqualValues(t, http.StatusCreated, same.Payload[0].StatusCode)
	assert.Equal(t, "/v1/network/allocate", same.Payload[0].Path)
}

// TestReleaseFlowOnEveryStore runs the release announcement's flow, a
// switch registration with a BGP report and an audit search through
// metal-go on memstore, boltstore and Redis.
func TestReleaseFlowOnEveryStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		h := newHarness(t, s, nil)
		seedCatalog(t, h.admin(), "p1", "pr1")
		releaseFlow(t, h, "p1", "pr1")
		switchFlow(t, h, "p1")
		auditFlow(t, h)
	})
}
