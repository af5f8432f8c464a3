package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	auditclient "github.com/metal-stack/metal-go/api/client/audit"
	ipclient "github.com/metal-stack/metal-go/api/client/ip"
	nwclient "github.com/metal-stack/metal-go/api/client/network"
	swclient "github.com/metal-stack/metal-go/api/client/switch_operations"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/switchstate"
)

// networkRoutes drives every network route through metal-go; the
// partition and the project exist.
func networkRoutes(t *testing.T, h *harness, partitionID, projectID string) {
	admin, edit, view := h.admin(), h.edit(), h.view()
	super, err := admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(&models.V1NetworkCreateRequest{
		ID: ptr("super-2"), Name: "tenant super", Partitionid: partitionID, Privatesuper: ptr(true),
		Prefixes: []string{"10.1.0.0/16", "2001:db8:1::/48"}, Defaultchildprefixlength: map[string]int64{"ipv4": 24, "IPV6": 64},
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"IPv4": 24, "IPv6": 64}, super.Payload.Defaultchildprefixlength, "family names are canonical")

	internet, err := admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(&models.V1NetworkCreateRequest{
		ID: ptr("internet"), Prefixes: []string{"185.1.2.0/24"}, Destinationprefixes: []string{"0.0.0.0/0"},
		Nat: ptr(true), Vrf: 104009, Labels: map[string]string{"network.metal-stack.io/default": ""},
	}), nil)
	require.NoError(t, err)
	n := internet.Payload
	assert.True(t, *n.Nat)
	assert.EqualValues(t, 104009, n.Vrf)
	assert.Equal(t, []string{"0.0.0.0/0"}, n.Destinationprefixes)
	assert.Nil(t, n.Consumption.IPV6, "no IPv6 prefix, no IPv6 consumption")
	assert.Equal(t, usage{256, 2, 64, 0}, usageOf(t, n.Consumption.IPV4))

	_, err = admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(&models.V1NetworkCreateRequest{
		ID: ptr("internet"), Prefixes: []string{"185.1.3.0/24"},
	}), nil)
	var dup *nwclient.CreateNetworkConflict
	require.ErrorAs(t, err, &dup, "metal-go's declared conflict")
	requireHTTPError(t, err, http.StatusConflict, `network id "internet" already exists`)

	list, err := view.Network().ListNetworks(nwclient.NewListNetworksParams(), nil)
	require.NoError(t, err)
	ids := map[string]bool{}
	for _, n := range list.Payload {
		ids[*n.ID] = true
	}
	assert.True(t, ids["super-2"] && ids["internet"])

	got, err := view.Network().FindNetwork(nwclient.NewFindNetworkParams().WithID("internet"), nil)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"network.metal-stack.io/default": ""}, got.Payload.Labels)
	_, err = view.Network().FindNetwork(nwclient.NewFindNetworkParams().WithID("nope"), nil)
	requireHTTPError(t, err, http.StatusNotFound, `"nope"`)

	found, err := view.Network().FindNetworks(nwclient.NewFindNetworksParams().WithBody(&models.V1NetworkFindRequest{
		Partitionid: partitionID, Privatesuper: true,
	}), nil)
	require.NoError(t, err)
	require.Len(t, found.Payload, 1)
	assert.Equal(t, "super-2", *found.Payload[0].ID)

	updated, err := admin.Network().UpdateNetwork(nwclient.NewUpdateNetworkParams().WithBody(&models.V1NetworkUpdateRequest{
		ID: ptr("super-2"), Description: "changed", AdditionalAnnouncableCIDRs: []string{"10.240.0.0/12"},
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "changed", updated.Payload.Description)
	assert.Equal(t, "tenant super", updated.Payload.Name, "a field not given stays")
	assert.Equal(t, []string{"10.1.0.0/16", "2001:db8:1::/48"}, updated.Payload.Prefixes, "prefixes sent as null stay")
	assert.Equal(t, []string{"10.240.0.0/12"}, updated.Payload.AdditionalAnnouncableCIDRs)
	_, err = admin.Network().UpdateNetwork(nwclient.NewUpdateNetworkParams().WithBody(&models.V1NetworkUpdateRequest{
		ID: ptr("super-2"), AdditionalAnnouncableCIDRs: []string{},
	}), nil)
	requireHTTPError(t, err, http.StatusBadRequest, "removing 10.240.0.0/12 needs force")
	forced, err := admin.Network().UpdateNetwork(nwclient.NewUpdateNetworkParams().WithForce(ptr(true)).WithBody(&models.V1NetworkUpdateRequest{
		ID: ptr("super-2"), AdditionalAnnouncableCIDRs: []string{},
	}), nil)
	require.NoError(t, err)
	assert.Empty(t, forced.Payload.AdditionalAnnouncableCIDRs)

	child, err := edit.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{
		Partitionid: partitionID, Projectid: projectID, Addressfamily: "IPv4", Length: map[string]int64{"IPv4": 26},
		Shared: true, Labels: map[string]string{"purpose": "test"},
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"10.1.0.0/26"}, child.Payload.Prefixes)
	assert.True(t, child.Payload.Shared)
	freed, err := edit.Network().FreeNetwork(nwclient.NewFreeNetworkParams().WithID(*child.Payload.ID), nil)
	require.NoError(t, err)
	assert.Equal(t, *child.Payload.ID, *freed.Payload.ID)

	child, err = edit.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{
		Partitionid: partitionID, Projectid: projectID, Addressfamily: "IPv6",
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"2001:db8:1::/64"}, child.Payload.Prefixes)
	// metal-go v0.40.3 offers "*/*" first for this operation and has no
	// producer for it, so it fails before sending; the option makes it
	// send JSON, as metalctl's older releases did.
	jsonBody := func(op *runtime.ClientOperation) { op.ConsumesMediaTypes = []string{"application/json"} }
	_, err = edit.Network().FreeNetworkDeprecated(nwclient.NewFreeNetworkDeprecatedParams().WithID(*child.Payload.ID), nil, jsonBody)
	require.NoError(t, err)
	_, err = view.Network().FindNetwork(nwclient.NewFindNetworkParams().WithID(*child.Payload.ID), nil)
	requireHTTPError(t, err, http.StatusNotFound, *child.Payload.ID)

	deleted, err := admin.Network().DeleteNetwork(nwclient.NewDeleteNetworkParams().WithID("internet"), nil)
	require.NoError(t, err)
	assert.Equal(t, "internet", *deleted.Payload.ID)
	assert.NotNil(t, deleted.Payload.Usage, "usage is always answered")
}

// ipRoutes drives every IP route through metal-go. The partition's super
// network is super-2 (see networkRoutes).
func ipRoutes(t *testing.T, h *harness, partitionID, projectID string) {
	edit, view := h.edit(), h.view()
	child, err := edit.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{
		Partitionid: partitionID, Projectid: projectID,
	}), nil)
	require.NoError(t, err)
	nw := child.Payload.ID

	first, err := edit.IP().AllocateIP(ipclient.NewAllocateIPParams().WithBody(&models.V1IPAllocateRequest{
		Networkid: nw, Projectid: ptr(projectID), Name: "first", Description: "the first", Tags: []string{"b=2", "a=1", "a=1"},
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "10.1.0.1", *first.Payload.Ipaddress)
	assert.Equal(t, []string{"a=1", "b=2"}, first.Payload.Tags, "tags deduplicated and sorted")

	specific, err := edit.IP().AllocateSpecificIP(ipclient.NewAllocateSpecificIPParams().WithIP("10.1.0.77").WithBody(&models.V1IPAllocateRequest{
		Networkid: nw, Projectid: ptr(projectID), Machineid: "m-1", Type: ptr("static"),
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "10.1.0.77", *specific.Payload.Ipaddress)
	assert.Equal(t, []string{"machine.metal-stack.io/id=m-1"}, specific.Payload.Tags)
	_, err = edit.IP().AllocateSpecificIP(ipclient.NewAllocateSpecificIPParams().WithIP("10.1.0.77").WithBody(&models.V1IPAllocateRequest{
		Networkid: nw, Projectid: ptr(projectID),
	}), nil)
	var taken *ipclient.AllocateSpecificIPConflict
	require.ErrorAs(t, err, &taken, "a taken address is metal-go's declared conflict")

	got, err := view.IP().FindIP(ipclient.NewFindIPParams().WithID("10.1.0.1"), nil)
	require.NoError(t, err)
	assert.Equal(t, "first", got.Payload.Name)
	assert.Equal(t, *nw, *got.Payload.Networkid)
	assert.Equal(t, projectID, *got.Payload.Projectid)
	assert.False(t, time.Time(got.Payload.Created).IsZero())
	_, err = view.IP().FindIP(ipclient.NewFindIPParams().WithID("10.1.0.2"), nil)
	requireHTTPError(t, err, http.StatusNotFound, "10.1.0.2")

	list, err := view.IP().ListIPs(ipclient.NewListIPsParams(), nil)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(list.Payload), 2)

	found, err := view.IP().FindIPs(ipclient.NewFindIPsParams().WithBody(&models.V1IPFindRequest{
		Networkid: *nw, Machineid: "m-1",
	}), nil)
	require.NoError(t, err)
	require.Len(t, found.Payload, 1)
	assert.Equal(t, "10.1.0.77", *found.Payload[0].Ipaddress)

	updated, err := edit.IP().UpdateIP(ipclient.NewUpdateIPParams().WithBody(&models.V1IPUpdateRequest{
		Ipaddress: ptr("10.1.0.1"), Name: "renamed", Type: ptr("static"),
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "renamed", updated.Payload.Name)
	assert.Equal(t, "static", *updated.Payload.Type)
	assert.Equal(t, []string{"a=1", "b=2"}, updated.Payload.Tags, "tags sent as null stay")
	assert.Equal(t, "the first", updated.Payload.Description)

	_, err = edit.IP().FreeIP(ipclient.NewFreeIPParams().WithID("10.1.0.77"), nil)
	requireHTTPError(t, err, http.StatusForbidden, `bound to machine "m-1"`)
	freed, err := edit.IP().FreeIP(ipclient.NewFreeIPParams().WithID("10.1.0.1"), nil)
	require.NoError(t, err)
	assert.Equal(t, "10.1.0.1", *freed.Payload.Ipaddress)
	_, err = view.IP().FindIP(ipclient.NewFindIPParams().WithID("10.1.0.1"), nil)
	requireHTTPError(t, err, http.StatusNotFound, "")
}

// connectMachine wires a machine to port Ethernet0 of leaf01 and leaf02,
// as the machine package does during registration.
func connectMachine(t *testing.T, h *harness, machineID, partitionID string, ports map[string]string) {
	t.Helper()
	var nics []switchstate.MachineNic
	for sw, identifier := range ports {
		nics = append(nics, switchstate.MachineNic{
			Name: "lan-" + sw, MAC: "1c:34:da:00:00:" + sw[len(sw)-2:],
			Neighbors: []switchstate.Neighbor{{Hostname: sw, Identifier: identifier, Name: "Ethernet0"}},
		})
	}
	err := h.kit.Update(context.Background(), func(tx *metalkit.Tx) error {
		_, _, err := tx.Switches.ConnectMachine(machineID, partitionID, nics)
		return err
	})
	require.NoError(t, err)
}

// sonicSwitch is the registration of a SONiC switch with two ports.
func sonicSwitch(id, partitionID string) *models.V1SwitchRegisterRequest {
	return &models.V1SwitchRegisterRequest{
		ID: ptr(id), Name: id, PartitionID: ptr(partitionID), RackID: ptr("rack01"),
		Os: &models.V1SwitchOS{Vendor: "sonic"},
		Nics: []*models.V1SwitchNic{
			{Name: ptr("Ethernet0"), Identifier: ptr(id + "-Eth1/1"), Mac: ptr("aa:aa:aa:aa:aa:00")},
			{Name: ptr("Ethernet4"), Identifier: ptr(id + "-Eth1/2"), Mac: ptr("aa:aa:aa:aa:aa:04")},
		},
	}
}

// switchRoutes drives every switch route through metal-go.
func switchRoutes(t *testing.T, h *harness, partitionID string) {
	admin, edit, view := h.admin(), h.edit(), h.view()
	for _, id := range []string{"leaf01", "leaf02"} {
		_, created, err := edit.SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParams().WithBody(sonicSwitch(id, partitionID)), nil)
		require.NoError(t, err)
		require.NotNil(t, created)
		assert.Equal(t, "SONiC", created.Payload.Os.Vendor, "the vendor is canonical")
	}
	_, created, err := edit.SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParams().WithBody(&models.V1SwitchRegisterRequest{
		ID: ptr("leaf03"), Name: "leaf03", PartitionID: ptr(partitionID), RackID: ptr("rack01"),
		Os: &models.V1SwitchOS{Vendor: "Cumulus"},
		Nics: []*models.V1SwitchNic{
			{Name: ptr("swp1"), Mac: ptr("bb:bb:bb:bb:bb:01")},
			{Name: ptr("swp2"), Mac: ptr("bb:bb:bb:bb:bb:02")},
		},
	}), nil)
	require.NoError(t, err)
	require.NotNil(t, created)
	connectMachine(t, h, "m1", partitionID, map[string]string{"leaf01": "leaf01-Eth1/1", "leaf02": "leaf02-Eth1/1"})

	list, err := view.SwitchOperations().ListSwitches(swclient.NewListSwitchesParams(), nil)
	require.NoError(t, err)
	require.Len(t, list.Payload, 3)
	assert.Equal(t, "leaf01", *list.Payload[0].ID, "sorted by partition, rack and id")
	require.Len(t, list.Payload[0].Connections, 1)
	assert.Equal(t, "m1", list.Payload[0].Connections[0].MachineID)
	assert.Equal(t, "Ethernet0", *list.Payload[0].Connections[0].Nic.Name)

	found, err := view.SwitchOperations().FindSwitches(swclient.NewFindSwitchesParams().WithBody(&models.V1SwitchFindRequest{
		Partitionid: partitionID, Osvendor: "cumulus",
	}), nil)
	require.NoError(t, err)
	require.Len(t, found.Payload, 1)
	assert.Equal(t, "leaf03", *found.Payload[0].ID)
	found, err = view.SwitchOperations().FindSwitches(swclient.NewFindSwitchesParams().WithBody(&models.V1SwitchFindRequest{ID: "leaf02"}), nil)
	require.NoError(t, err)
	require.Len(t, found.Payload, 1)
	assert.Equal(t, "leaf02", *found.Payload[0].ID)

	toggled, err := admin.SwitchOperations().ToggleSwitchPort(swclient.NewToggleSwitchPortParams().WithID("leaf02").WithBody(&models.V1SwitchPortToggleRequest{
		Nic: ptr("ethernet0"), Status: ptr("DOWN"),
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "DOWN", *toggled.Payload.Nics[0].Actual, "a switch's nics show the desired state")
	assert.Equal(t, "UNKNOWN", *toggled.Payload.Connections[0].Nic.Actual, "its connections the observed one")
	_, err = admin.SwitchOperations().ToggleSwitchPort(swclient.NewToggleSwitchPortParams().WithID("leaf02").WithBody(&models.V1SwitchPortToggleRequest{
		Nic: ptr("Ethernet0"), Status: ptr("UNKNOWN"),
	}), nil)
	requireHTTPError(t, err, http.StatusBadRequest, `the status "UNKNOWN" must be concrete`)

	updated, err := admin.SwitchOperations().UpdateSwitch(swclient.NewUpdateSwitchParams().WithBody(&models.V1SwitchUpdateRequest{
		ID: ptr("leaf02"), RackID: ptr("rack01"), Description: "second leaf", ConsoleCommand: "ssh console@leaf02",
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "second leaf", updated.Payload.Description)
	assert.Equal(t, "ssh console@leaf02", updated.Payload.ConsoleCommand)
	assert.Equal(t, "operational", updated.Payload.Mode, "no mode keeps the stored one")

	migrated, err := admin.SwitchOperations().MigrateSwitch(swclient.NewMigrateSwitchParams().WithBody(&models.V1SwitchMigrateRequest{
		OldSwitchID: ptr("leaf01"), NewSwitchID: ptr("leaf03"),
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "leaf03", *migrated.Payload.ID)
	require.Len(t, migrated.Payload.Connections, 1)
	assert.Equal(t, "swp1", *migrated.Payload.Connections[0].Nic.Name, "Ethernet0 is swp1 in Cumulus' naming")

	got, err := view.SwitchOperations().FindSwitch(swclient.NewFindSwitchParams().WithID("leaf01"), nil)
	require.NoError(t, err)
	assert.Empty(t, got.Payload.Connections)
	assert.Equal(t, partitionID, *got.Payload.Partition.ID)

	_, err = edit.SwitchOperations().DeleteSwitch(swclient.NewDeleteSwitchParams().WithID("leaf02"), nil)
	requireHTTPError(t, err, http.StatusConflict, "delete with force")
	deleted, err := edit.SwitchOperations().DeleteSwitch(swclient.NewDeleteSwitchParams().WithID("leaf02").WithForce(ptr(true)), nil)
	require.NoError(t, err)
	assert.Equal(t, "leaf02", *deleted.Payload.ID)
	_, err = view.SwitchOperations().FindSwitch(swclient.NewFindSwitchParams().WithID("leaf02"), nil)
	requireHTTPError(t, err, http.StatusNotFound, "leaf02")

	notified, err := edit.SwitchOperations().NotifySwitch(swclient.NewNotifySwitchParams().WithID("leaf03").WithBody(&models.V1SwitchNotifyRequest{
		SyncDuration: ptr(int64(time.Second)), Error: ptr("failed to apply config"),
	}), nil)
	require.NoError(t, err)
	require.NotNil(t, notified.Payload.LastSyncError)
	assert.Equal(t, "failed to apply config", notified.Payload.LastSyncError.Error)
	assert.Nil(t, notified.Payload.LastSync)
}

// auditRoutes finds what the other subtests did.
func auditRoutes(t *testing.T, h *harness) {
	found, err := h.view().Audit().FindAuditTraces(auditclient.NewFindAuditTracesParams().WithBody(&models.V1AuditFindRequest{
		Path: "/v1/switch/migrate", Phase: "response",
	}), nil)
	require.NoError(t, err)
	require.Len(t, found.Payload, 1)
	e := found.Payload[0]
	assert.Equal(t, "metal-admin@metal-stack.io", e.User)
	assert.Equal(t, "http", e.Type)
	assert.EqualValues(t, http.StatusOK, e.StatusCode)
	assert.Contains(t, e.Body, `"id":"leaf03"`, "a JSON body is answered as its JSON text")
}
