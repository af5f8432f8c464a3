package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	ipclient "github.com/metal-stack/metal-go/api/client/ip"
	nwclient "github.com/metal-stack/metal-go/api/client/network"
	swclient "github.com/metal-stack/metal-go/api/client/switch_operations"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/examples/apiserver/api"
)

// populated returns a seeded harness (its trail in a store of its own)
// that also holds the release flow's networks and IPs and the switch
// leaf01.
func populated(t *testing.T) (*harness, string) {
	t.Helper()
	h := seeded(t, nil)
	child := releaseFlow(t, h, "p1", "pr1")
	switchFlow(t, h, "p1")
	return h, child
}

// TestNetworkRolesChangeNothing shows the roles of the network, IP and
// switch routes: each refused request gets 401 or 403 with a message and
// leaves the store as it was.
func TestNetworkRolesChangeNothing(t *testing.T) {
	h, child := populated(t)
	before := h.tracker.Dump(t)
	view, edit := h.view(), h.edit()

	t.Run("view cannot allocate", func(t *testing.T) {
		_, err := view.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{
			Partitionid: "p1", Projectid: "pr1",
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-View may not POST /v1/network/allocate: it needs the edit role")
		_, err = view.IP().AllocateIP(ipclient.NewAllocateIPParams().WithBody(&models.V1IPAllocateRequest{
			Networkid: ptr(child), Projectid: ptr("pr1"),
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-View may not POST /v1/ip/allocate")
		_, err = view.IP().FreeIP(ipclient.NewFreeIPParams().WithID("10.0.0.1"), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the edit role")
		_, err = view.Network().FreeNetwork(nwclient.NewFreeNetworkParams().WithID(child), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the edit role")
		_, _, err = view.SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParams().WithBody(sonicSwitch("leaf09", "p1")), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-View may not POST /v1/switch/register")
	})
	t.Run("edit cannot create a super network", func(t *testing.T) {
		_, err := edit.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(superNetwork("super-9", "p1")), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-Edit may not PUT /v1/network: it needs the admin role")
	})
	t.Run("edit cannot change networks or operate switches", func(t *testing.T) {
		_, err := edit.Network().DeleteNetwork(nwclient.NewDeleteNetworkParams().WithID("super"), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-Edit may not DELETE /v1/network/{id}")
		_, err = edit.Network().UpdateNetwork(nwclient.NewUpdateNetworkParams().WithBody(&models.V1NetworkUpdateRequest{ID: ptr("super"), Name: "x"}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the admin role")
		_, err = edit.SwitchOperations().ToggleSwitchPort(swclient.NewToggleSwitchPortParams().WithID("leaf01").WithBody(&models.V1SwitchPortToggleRequest{
			Nic: ptr("Ethernet0"), Status: ptr("DOWN"),
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the admin role")
		_, err = edit.SwitchOperations().MigrateSwitch(swclient.NewMigrateSwitchParams().WithBody(&models.V1SwitchMigrateRequest{
			OldSwitchID: ptr("leaf01"), NewSwitchID: ptr("leaf02"),
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the admin role")
	})
	t.Run("bad signature", func(t *testing.T) {
		wrong := h.client(api.AuthTypeEdit, "not-the-key")
		_, err := wrong.IP().AllocateIP(ipclient.NewAllocateIPParams().WithBody(&models.V1IPAllocateRequest{
			Networkid: ptr(child), Projectid: ptr("pr1"),
		}), nil)
		requireHTTPError(t, err, http.StatusUnauthorized, "does not match")
		_, err = wrong.Network().ListNetworks(nwclient.NewListNetworksParams(), nil)
		requireHTTPError(t, err, http.StatusUnauthorized, "under the key of Metal-Edit")
		code, body := h.raw(http.MethodPost, "/v1/switch/leaf01/notify", []byte(`{}`), "", "", time.Now())
		require.Equal(t, http.StatusUnauthorized, code)
		assert.Contains(t, errorBody(t, body).Message, "no Authorization header")
	})
	assert.Equal(t, before, h.tracker.Dump(t), "refused requests change nothing")
}

// TestNetworkBadInputChangesNothing sends malformed and invalid requests
// to the network, IP and switch routes: each gets a 4xx whose message
// metal-go surfaces, and the store holds what it held before.
func TestNetworkBadInputChangesNothing(t *testing.T) {
	h, child := populated(t)
	before := h.tracker.Dump(t)
	admin, edit := h.admin(), h.edit()

	for _, c := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"malformed network", http.MethodPut, "/v1/network", `{"id": "n1", "prefixes": [`, 400, "not valid JSON"},
		{"malformed allocation", http.MethodPost, "/v1/ip/allocate", `{"networkid": `, 400, "not valid JSON"},
		{"malformed registration", http.MethodPost, "/v1/switch/register", `{"id": "leaf09"`, 400, "not valid JSON"},
		{"malformed report", http.MethodPost, "/v1/switch/leaf01/notify", `sync_duration=1`, 400, "not valid JSON"},
		{"wrong type", http.MethodPost, "/v1/network/allocate", `{"partitionid": 1}`, 400, "partitionid: a JSON number cannot be a string"},
		{"duration as text", http.MethodPost, "/v1/switch/leaf01/notify", `{"sync_duration": "10s"}`, 400, "sync_duration: a JSON string cannot be a int64"},
		{"force not a boolean", http.MethodPost, "/v1/network?force=maybe", `{"id": "super"}`, 400, `force "maybe" is not a boolean`},
		{"delete force not a boolean", http.MethodDelete, "/v1/switch/leaf01?force=sure", ``, 400, `force "sure" is not a boolean`},
		{"address in the path", http.MethodGet, "/v1/ip/10.0.0.256", ``, 400, `the address in the path "10.0.0.256" is not an IP address`},
		{"specific address in the path", http.MethodPost, "/v1/ip/allocate/nope", `{"networkid": "` + child + `", "projectid": "pr1"}`, 400, `"nope" is not an IP address`},
		{"free address in the path", http.MethodDelete, "/v1/ip/free/x", ``, 400, `"x" is not an IP address`},
		{"prefix with length 33", http.MethodPut, "/v1/network", `{"id": "n1", "prefixes": ["10.9.0.0/33"]}`, 400, `prefixes[0] "10.9.0.0/33" is not a prefix`},
		{"vrf out of range", http.MethodPut, "/v1/network", `{"id": "n1", "prefixes": ["10.9.0.0/24"], "vrf": -1}`, 400, "vrf -1: must lie in 1..131072"},
		{"created network with a parent", http.MethodPut, "/v1/network", `{"id": "n1", "prefixes": ["10.9.0.0/24"], "parentnetworkid": "super"}`, 400, `parentnetworkid "super": a created network has no parent`},
		{"null nic", http.MethodPost, "/v1/switch/register", `{"id": "leaf09", "partition_id": "p1", "rack_id": "r", "os": {"vendor": "SONiC"}, "nics": [null]}`, 400, "nics[0] is null"},
		{"null BGP state", http.MethodPost, "/v1/switch/leaf01/notify", `{"bgp_port_states": {"Ethernet0": null}}`, 400, `bgp_port_states["Ethernet0"] is null`},
		{"negative duration", http.MethodPost, "/v1/switch/leaf01/notify", `{"sync_duration": -5}`, 400, "sync_duration -5 is negative"},
		{"update without id", http.MethodPost, "/v1/switch", `{"description": "x"}`, 400, "id is required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.requireRawError(t, api.AuthTypeAdmin, adminKey, c.method, c.path, c.body, c.status, c.want)
		})
	}

	t.Run("host bits", func(t *testing.T) {
		_, err := admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(&models.V1NetworkCreateRequest{
			ID: ptr("n1"), Prefixes: []string{"10.9.0.1/16", "2001:db8:9::1/48"},
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "prefixes[0] 10.9.0.1/16 has host bits set; the canonical form is 10.9.0.0/16")
		assert.Contains(t, err.(httpError).GetPayload().Message, "prefixes[1] 2001:db8:9::1/48 has host bits set; the canonical form is 2001:db8:9::/48",
			"every problem at once")
		_, err = edit.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{
			Partitionid: "p1", Projectid: "pr1", Destinationprefixes: []string{"0.0.0.1/0"},
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "destinationprefixes[0] 0.0.0.1/0 has host bits set")
	})
	t.Run("unknown family", func(t *testing.T) {
		_, err := edit.IP().AllocateIP(ipclient.NewAllocateIPParams().WithBody(&models.V1IPAllocateRequest{
			Networkid: ptr(child), Projectid: ptr("pr1"), Addressfamily: "IPv5",
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `addressfamily "IPv5" must be IPv4 or IPv6`)
		_, err = edit.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{
			Partitionid: "p1", Projectid: "pr1", Addressfamily: "ipx",
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `addressfamily "ipx" must be IPv4 or IPv6`)
		_, err = edit.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{
			Partitionid: "p1", Projectid: "pr1", Length: map[string]int64{"IPv9": 24},
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `length key "IPv9" must be IPv4 or IPv6`)
		super := superNetwork("super-9", "p9")
		super.Defaultchildprefixlength = map[string]int64{"IPv4": 22, "inet6": 96}
		_, err = admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(super), nil)
		requireHTTPError(t, err, http.StatusNotFound, `partitionid "p9"`)
		super.Partitionid = "p1"
		_, err = admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(super), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `defaultchildprefixlength key "inet6" must be IPv4 or IPv6`)
	})
	t.Run("network rules", func(t *testing.T) {
		super := superNetwork("super-9", "p1")
		super.Prefixes = []string{"10.9.0.0/16", "2001:db8:9::/48"}
		super.Defaultchildprefixlength = map[string]int64{"IPv4": 22}
		_, err := admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(super), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "a super network with IPv6 prefixes needs a default child prefix length for IPv6")
		super.Defaultchildprefixlength = map[string]int64{"IPv4": 22, "IPv6": 64}
		_, err = admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(super), nil)
		requireHTTPError(t, err, http.StatusConflict, `partition "p1" already has a super network`)
		_, err = admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(&models.V1NetworkCreateRequest{
			ID: ptr("overlap"), Prefixes: []string{"10.0.128.0/17"},
		}), nil)
		requireHTTPError(t, err, http.StatusConflict, "10.0.128.0/17")
		_, err = admin.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(&models.V1NetworkCreateRequest{
			ID: ptr("n1"), Prefixes: []string{"10.9.0.0/24"}, Defaultchildprefixlength: map[string]int64{"IPv4": 26},
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "only a super network (privatesuper) has default child prefix lengths")
		_, err = edit.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{Partitionid: "p1"}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "projectid is required")
		_, err = edit.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{Partitionid: "p1", Projectid: "pr9"}), nil)
		requireHTTPError(t, err, http.StatusNotFound, `projectid "pr9"`)
		_, err = edit.Network().AllocateNetwork(nwclient.NewAllocateNetworkParams().WithBody(&models.V1NetworkAllocateRequest{
			Partitionid: "p1", Projectid: "pr1", Length: map[string]int64{"IPv4": 8},
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "length[IPv4] = 8: must be longer than the prefix 10.0.0.0/16")
		_, err = edit.Network().FreeNetwork(nwclient.NewFreeNetworkParams().WithID(child), nil)
		requireHTTPError(t, err, http.StatusConflict, "still holds allocated IPs")
		_, err = edit.Network().FreeNetwork(nwclient.NewFreeNetworkParams().WithID("super"), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "only child networks are freed")
		_, err = admin.Network().DeleteNetwork(nwclient.NewDeleteNetworkParams().WithID("super"), nil)
		requireHTTPError(t, err, http.StatusConflict, "still has child networks")
		_, err = admin.Network().DeleteNetwork(nwclient.NewDeleteNetworkParams().WithID("nope"), nil)
		requireHTTPError(t, err, http.StatusNotFound, `"nope"`)
		_, err = admin.Network().UpdateNetwork(nwclient.NewUpdateNetworkParams().WithBody(&models.V1NetworkUpdateRequest{Name: "x"}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "id is required")
		_, err = admin.Network().UpdateNetwork(nwclient.NewUpdateNetworkParams().WithBody(&models.V1NetworkUpdateRequest{
			ID: ptr("super"), Prefixes: []string{"10.0.0.0/16"},
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "defaultchildprefixlength[IPv6]: the network has no IPv6 prefix")
		_, err = admin.Network().UpdateNetwork(nwclient.NewUpdateNetworkParams().WithBody(&models.V1NetworkUpdateRequest{
			ID: ptr("super"), Prefixes: []string{"10.0.0.0/16"}, Defaultchildprefixlength: map[string]int64{"IPv4": 22},
		}), nil)
		requireHTTPError(t, err, http.StatusConflict, "2001:db8:0:10::/64 of network \"super\" still holds")
	})
	t.Run("IP rules", func(t *testing.T) {
		_, err := edit.IP().AllocateIP(ipclient.NewAllocateIPParams().WithBody(&models.V1IPAllocateRequest{
			Networkid: ptr(child), Projectid: ptr("pr1"), Type: ptr("floating"),
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `type "floating": must be ephemeral or static`)
		_, err = edit.IP().AllocateIP(ipclient.NewAllocateIPParams().WithBody(&models.V1IPAllocateRequest{Projectid: ptr("pr1")}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "networkid is required")
		_, err = edit.IP().AllocateSpecificIP(ipclient.NewAllocateSpecificIPParams().WithIP("10.99.0.1").WithBody(&models.V1IPAllocateRequest{
			Networkid: ptr(child), Projectid: ptr("pr1"),
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "ipaddress 10.99.0.1 lies in no prefix of network")
		_, err = edit.IP().AllocateSpecificIP(ipclient.NewAllocateSpecificIPParams().WithIP("10.0.0.0").WithBody(&models.V1IPAllocateRequest{
			Networkid: ptr(child), Projectid: ptr("pr1"),
		}), nil)
		requireHTTPError(t, err, http.StatusConflict, "10.0.0.0")
		_, err = edit.IP().AllocateSpecificIP(ipclient.NewAllocateSpecificIPParams().WithIP("10.0.0.9").WithBody(&models.V1IPAllocateRequest{
			Networkid: ptr(child), Projectid: ptr("pr1"), Addressfamily: "IPv4",
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "give one or the other")
		_, err = edit.IP().AllocateIP(ipclient.NewAllocateIPParams().WithBody(&models.V1IPAllocateRequest{
			Networkid: ptr(child), Projectid: ptr("other"),
		}), nil)
		requireHTTPError(t, err, http.StatusNotFound, `projectid "other"`)
		_, err = edit.IP().UpdateIP(ipclient.NewUpdateIPParams().WithBody(&models.V1IPUpdateRequest{
			Ipaddress: ptr("2001:db8:0:10::1"), Type: ptr("ephemeral"),
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "is static and cannot become ephemeral")
		_, err = edit.IP().UpdateIP(ipclient.NewUpdateIPParams().WithBody(&models.V1IPUpdateRequest{Name: "x"}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "ipaddress is required")
		_, err = edit.IP().FreeIP(ipclient.NewFreeIPParams().WithID("10.0.0.99"), nil)
		requireHTTPError(t, err, http.StatusNotFound, "10.0.0.99")
	})
	t.Run("switch rules", func(t *testing.T) {
		reg := sonicSwitch("leaf09", "p1")
		reg.Os = nil
		_, _, err := edit.SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParams().WithBody(reg), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "os is required")
		reg.Os = &models.V1SwitchOS{Vendor: "JunOS"}
		reg.Nics = append(reg.Nics, &models.V1SwitchNic{Name: ptr("Ethernet0"), Identifier: ptr("other"), Mac: ptr("aa")})
		_, _, err = edit.SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParams().WithBody(reg), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `os vendor "JunOS" is neither SONiC nor Cumulus`)
		assert.Contains(t, err.(httpError).GetPayload().Message, `two ports named "Ethernet0"`)
		reg = sonicSwitch("", "p1")
		_, _, err = edit.SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParams().WithBody(reg), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "id is required")
		_, _, err = edit.SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParams().WithBody(sonicSwitch("leaf09", "p9")), nil)
		requireHTTPError(t, err, http.StatusNotFound, `partition_id "p9"`)
		reg = sonicSwitch("leaf09", "p1")
		reg.ManagementIP = "10.1.0.300"
		_, _, err = edit.SwitchOperations().RegisterSwitch(swclient.NewRegisterSwitchParams().WithBody(reg), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `management_ip "10.1.0.300" is not an IP address`)

		_, err = edit.SwitchOperations().NotifySwitch(swclient.NewNotifySwitchParams().WithID("leaf01").WithBody(&models.V1SwitchNotifyRequest{
			SyncDuration: ptr(int64(1)), PortStates: map[string]string{"Ethernet0": "SIDEWAYS"},
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `port_states["Ethernet0"] "SIDEWAYS" is not one of UP, DOWN, UNKNOWN`)
		_, err = edit.SwitchOperations().NotifySwitch(swclient.NewNotifySwitchParams().WithID("leaf09").WithBody(&models.V1SwitchNotifyRequest{
			SyncDuration: ptr(int64(1)),
		}), nil)
		requireHTTPError(t, err, http.StatusNotFound, `"leaf09"`)
		_, err = admin.SwitchOperations().ToggleSwitchPort(swclient.NewToggleSwitchPortParams().WithID("leaf01").WithBody(&models.V1SwitchPortToggleRequest{
			Nic: ptr("Ethernet9"), Status: ptr("UP"),
		}), nil)
		requireHTTPError(t, err, http.StatusNotFound, `has no port "Ethernet9"`)
		_, err = admin.SwitchOperations().UpdateSwitch(swclient.NewUpdateSwitchParams().WithBody(&models.V1SwitchUpdateRequest{
			ID: ptr("leaf01"), RackID: ptr("rack01"), Mode: "maintenance",
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, `mode "maintenance" must be "operational" or "replace"`)
		_, err = admin.SwitchOperations().MigrateSwitch(swclient.NewMigrateSwitchParams().WithBody(&models.V1SwitchMigrateRequest{
			OldSwitchID: ptr("leaf01"), NewSwitchID: ptr("leaf01"),
		}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "onto itself")
		_, err = admin.SwitchOperations().MigrateSwitch(swclient.NewMigrateSwitchParams().WithBody(&models.V1SwitchMigrateRequest{}), nil)
		requireHTTPError(t, err, http.StatusBadRequest, "old switch id is required")
		_, err = edit.SwitchOperations().DeleteSwitch(swclient.NewDeleteSwitchParams().WithID("leaf09"), nil)
		requireHTTPError(t, err, http.StatusNotFound, `"leaf09"`)
	})
	t.Run("a too large body", func(t *testing.T) {
		code, body := h.raw(http.MethodPost, "/v1/switch/register", []byte(`{"id": "`+strings.Repeat("x", 5<<20)+`"}`), api.AuthTypeAdmin, adminKey, time.Now())
		require.Equal(t, http.StatusRequestEntityTooLarge, code)
		assert.Contains(t, errorBody(t, body).Message, "larger than")
	})
	assert.Equal(t, before, h.tracker.Dump(t), "no bad request changed the store")
}
