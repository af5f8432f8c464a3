package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	ipclient "github.com/metal-stack/metal-go/api/client/ip"
	nwclient "github.com/metal-stack/metal-go/api/client/network"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
