package api_test

import (
	"net/http"
	"testing"
	"time"

	fwclient "github.com/metal-stack/metal-go/api/client/firewall"
	mclient "github.com/metal-stack/metal-go/api/client/machine"
	"github.com/metal-stack/metal-go/api/client/partition"
	"github.com/metal-stack/metal-go/api/client/size"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/examples/apiserver/api"
)

// populatedLab returns a lab (its trail in a store of its own) with
// machine web allocated to pr1 and LOCKED, mach-2 waiting, mach-3
// registered but not waiting, reservation rv1 of c1-small for pr1, and
// size c2-big that no machine has.
func populatedLab(t *testing.T) (*machineLab, string) {
	t.Helper()
	l := newMachineLab(t, memstore.New(), &harnessOptions{ownAuditStore: true})
	l.candidate("mach-1", 1, 0)
	l.register("mach-3", 1, 1, 4)
	edit := l.h.edit()
	web, err := edit.Machine().AllocateMachine(mclient.NewAllocateMachineParams().WithBody(l.allocation("web1")), nil)
	require.NoError(t, err)
	_, err = edit.Machine().SetMachineState(mclient.NewSetMachineStateParams().WithID("mach-1").WithBody(&models.V1MachineState{
		Value: ptr("LOCKED"), Description: ptr("in production"), MetalHammerVersion: ptr(""),
	}), nil)
	require.NoError(t, err)
	_, err = edit.Size().CreateSizeReservation(size.NewCreateSizeReservationParams().WithBody(&models.V1SizeReservationCreateRequest{
		ID: ptr("rv1"), Sizeid: ptr("c1-small"), Partitionids: []string{"p1"}, Projectid: ptr("pr1"), Amount: ptr(int32(1)),
	}), nil)
	require.NoError(t, err)
	_, err = l.h.admin().Size().CreateSize(size.NewCreateSizeParams().WithBody(&models.V1SizeCreateRequest{
		ID: ptr("c2-big"), Constraints: []*models.V1SizeConstraint{{Type: ptr("cores"), Min: 16, Max: 32}},
	}), nil)
	require.NoError(t, err)
	l.candidate("mach-2", 2, 0)
	return l, *web.Payload.ID
}

// TestMachineRolesChangeNothing shows the roles of the size, machine,
// firewall and admin routes: each refused request gets 403 with a message
// and leaves the store as it was; view reads everything.
func TestMachineRolesChangeNothing(t *testing.T) {
	l, web := populatedLab(t)
	before := l.h.tracker.Dump(t)
	view, edit := l.h.view(), l.h.edit()

	t.Run("view cannot allocate, free or change machines", func(t *testing.T) {
		_, err := view.Machine().AllocateMachine(mclient.NewAllocateMachineParams().WithBody(l.allocation("web2")), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-View may not POST /v1/machine/allocate: it needs the edit role")
		_, err = view.Firewall().AllocateFirewall(fwclient.NewAllocateFirewallParams().WithBody(&models.V1FirewallCreateRequest{
			UUID: "mach-2", Projectid: ptr("pr1"), Imageid: ptr("lab-firewall-3.0"),
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-View may not POST /v1/firewall/allocate")
		_, err = view.Machine().FreeMachine(mclient.NewFreeMachineParams().WithID(web), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the edit role")
		_, err = view.Machine().SetMachineState(mclient.NewSetMachineStateParams().WithID("mach-3").WithBody(&models.V1MachineState{
			Value: ptr(""), Description: ptr(""), MetalHammerVersion: ptr(""),
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the edit role")
		_, err = view.Machine().ReinstallMachine(mclient.NewReinstallMachineParams().WithID(web).WithBody(&models.V1MachineReinstallRequest{
			ID: ptr(web), Imageid: ptr("lab-ubuntu-24.04"),
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the edit role")
		_, err = view.Machine().ChassisIdentifyLEDOn(mclient.NewChassisIdentifyLEDOnParams().WithID("mach-3"), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the edit role")
		_, err = view.Machine().MachineOn(mclient.NewMachineOnParams().WithID("mach-3"), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the edit role")
		_, err = view.Machine().GetMachineConsolePassword(mclient.NewGetMachineConsolePasswordParams().WithBody(&models.V1MachineConsolePasswordRequest{
			ID: ptr(web), Reason: ptr("curious"),
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-View may not GET /v1/machine/consolepassword")
	})
	t.Run("view cannot change size reservations", func(t *testing.T) {
		_, err := view.Size().CreateSizeReservation(size.NewCreateSizeReservationParams().WithBody(&models.V1SizeReservationCreateRequest{
			ID: ptr("rv9"), Sizeid: ptr("c1-small"), Partitionids: []string{"p1"}, Projectid: ptr("pr1"), Amount: ptr(int32(1)),
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-View may not PUT /v1/size/reservations")
		_, err = view.Size().UpdateSizeReservation(size.NewUpdateSizeReservationParams().WithBody(&models.V1SizeReservationUpdateRequest{
			ID: ptr("rv1"), Amount: ptr(int32(3)),
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the edit role")
		_, err = view.Size().DeleteSizeReservation(size.NewDeleteSizeReservationParams().WithID("rv1"), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the edit role")
	})
	t.Run("edit cannot change sizes, delete or update machines, or check the store", func(t *testing.T) {
		_, err := edit.Size().CreateSize(size.NewCreateSizeParams().WithBody(&models.V1SizeCreateRequest{
			ID: ptr("c9"), Constraints: []*models.V1SizeConstraint{{Type: ptr("cores"), Min: 90, Max: 99}},
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-Edit may not PUT /v1/size: it needs the admin role")
		_, err = edit.Size().UpdateSize(size.NewUpdateSizeParams().WithBody(&models.V1SizeUpdateRequest{ID: ptr("c1-small"), Name: "x"}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the admin role")
		_, err = edit.Size().DeleteSize(size.NewDeleteSizeParams().WithID("c1-small"), nil)
		requireHTTPError(t, err, http.StatusForbidden, "needs the admin role")
		_, err = edit.Machine().DeleteMachine(mclient.NewDeleteMachineParams().WithID("mach-3"), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-Edit may not DELETE /v1/machine/{id}")
		_, err = edit.Machine().UpdateMachine(mclient.NewUpdateMachineParams().WithBody(&models.V1MachineUpdateRequest{
			ID: ptr(web), Description: ptr("x"),
		}), nil)
		requireHTTPError(t, err, http.StatusForbidden, "Metal-Edit may not POST /v1/machine")
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			code, body := l.h.raw(method, "/v1/admin/check?repair=true", nil, api.AuthTypeEdit, editKey, time.Now())
			require.Equal(t, http.StatusForbidden, code)
			assert.Contains(t, errorBody(t, body).Message, "needs the admin role")
		}
	})
	t.Run("view reads", func(t *testing.T) {
		_, err := view.Machine().ListMachines(mclient.NewListMachinesParams(), nil)
		require.NoError(t, err)
		_, err = view.Machine().FindIPMIMachine(mclient.NewFindIPMIMachineParams().WithID("mach-3"), nil)
		require.NoError(t, err)
		_, err = view.Firewall().ListFirewalls(fwclient.NewListFirewallsParams(), nil)
		require.NoError(t, err)
		_, err = view.Size().ListSizes(size.NewListSizesParams(), nil)
		require.NoError(t, err)
		_, err = view.Partition().PartitionCapacity(partition.NewPartitionCapacityParams().WithBody(&models.V1PartitionCapacityRequest{}), nil)
		require.NoError(t, err)
		_, err = view.Machine().Issues(mclient.NewIssuesParams().WithBody(&models.V1MachineIssuesRequest{}), nil)
		require.NoError(t, err)
	})
	assert.Equal(t, before, l.h.tracker.Dump(t), "refused requests and reads change nothing")
}

// TestMachineBadInputChangesNothing sends malformed and invalid requests
// to the size, machine, firewall, capacity and admin routes: each gets a
// 4xx (501 for power commands) whose message metal-go surfaces, and the
// store holds what it held before.
func TestMachineBadInputChangesNothing(t *testing.T) {
	l, web := populatedLab(t)
	before := l.h.tracker.Dump(t)
	child := l.child
	alloc := func(extra string) string {
		return `{"projectid": "pr1", "partitionid": "p1", "sizeid": "c1-small", "imageid": "lab-ubuntu-24.04", "networks": [{"networkid": "` + child + `"}]` + extra + `}`
	}

	for _, c := range []struct {
		name, method, path, body string
		status                   int
		want                     []string
	}{
		{"malformed allocation", http.MethodPost, "/v1/machine/allocate", `{"networks": [`, 400, []string{"not valid JSON"}},
		{"empty allocation", http.MethodPost, "/v1/machine/allocate", `{}`, 400, []string{
			"imageid is required", "networks: at least one network is required", `projectid`, `partitionid`, `sizeid`}},
		{"null network", http.MethodPost, "/v1/machine/allocate", `{"projectid": "pr1", "imageid": "x-1.0", "uuid": "mach-2", "networks": [null]}`, 400, []string{"networks[0] is null"}},
		{"no IP address", http.MethodPost, "/v1/machine/allocate", alloc(`, "ips": ["42"]`), 400, []string{`ips[0] "42" is not an IP address`}},
		{"SSH key", http.MethodPost, "/v1/machine/allocate", alloc(`, "ssh_pub_keys": ["42"]`), 400, []string{`ssh_pub_keys[0] "42" is not an authorized_keys line`}},
		{"DNS server", http.MethodPost, "/v1/machine/allocate", alloc(`, "dns_servers": [{"ip": "one"}]`), 400, []string{`dns_servers[0].ip "one" is not an IP address`}},
		{"unknown role of the fields", http.MethodPost, "/v1/machine/allocate", alloc(`, "firewall_rules": {"egress": [{"ports": [1], "to": ["0.0.0.0/0"]}]}`), 400, []string{"only a firewall has firewall rules"}},
		{"unknown image", http.MethodPost, "/v1/machine/allocate", `{"projectid": "pr1", "partitionid": "p1", "sizeid": "c1-small", "imageid": "debian-12", "networks": [{"networkid": "` + child + `"}]}`, 404, []string{`imageid: no image for id "debian-12"`}},
		{"image of another role", http.MethodPost, "/v1/machine/allocate", `{"projectid": "pr1", "partitionid": "p1", "sizeid": "c1-small", "imageid": "lab-firewall-3.0", "networks": [{"networkid": "` + child + `"}]}`, 400, []string{"cannot be used for a machine"}},
		{"unknown layout", http.MethodPost, "/v1/machine/allocate", alloc(`, "filesystemlayoutid": "raid"`), 404, []string{`filesystemlayoutid: filesystem layout "raid" not found`}},
		{"unknown project", http.MethodPost, "/v1/machine/allocate", `{"projectid": "pr9", "partitionid": "p1", "sizeid": "c1-small", "imageid": "lab-ubuntu-24.04", "networks": [{"networkid": "` + child + `"}]}`, 404, []string{`projectid "pr9"`}},
		{"unknown network", http.MethodPost, "/v1/machine/allocate", `{"projectid": "pr1", "partitionid": "p1", "sizeid": "c1-small", "imageid": "lab-ubuntu-24.04", "networks": [{"networkid": "nope"}]}`, 404, []string{`"nope"`}},
		{"allocated machine", http.MethodPost, "/v1/machine/allocate", `{"uuid": "` + web + `", "projectid": "pr1", "imageid": "lab-ubuntu-24.04", "networks": [{"networkid": "` + child + `"}]}`, 409, []string{"is already allocated"}},
		{"another size", http.MethodPost, "/v1/machine/allocate", `{"uuid": "mach-2", "sizeid": "c2", "projectid": "pr1", "imageid": "lab-ubuntu-24.04", "networks": [{"networkid": "` + child + `"}]}`, 400, []string{`sizeid "c2" differs from the size "c1-small" of machine "mach-2"`}},
		{"firewall rule prefix", http.MethodPost, "/v1/firewall/allocate", `{"uuid": "mach-2", "projectid": "pr1", "imageid": "lab-firewall-3.0", "networks": [{"networkid": "` + child + `"}], "firewall_rules": {"egress": [{"ports": [1], "to": ["x"]}], "ingress": [{"ports": [70000], "from": ["10.0.0.1/8"]}]}}`, 400, []string{
			`firewall_rules.egress[0].to[0] "x" is not a prefix`, "firewall_rules.ingress[0].ports[0] 70000 is outside 0..65535", "has host bits set"}},
		{"firewall without auto network", http.MethodPost, "/v1/firewall/allocate", `{"uuid": "mach-2", "projectid": "pr1", "imageid": "lab-firewall-3.0", "networks": [{"networkid": "` + child + `", "autoacquire": false}]}`, 400, []string{"a firewall needs an IP"}},

		{"unsupported machine filters", http.MethodPost, "/v1/machine/find", `{"name": "web", "network_ids": ["x"], "fru_board_mfg": "y", "hardware_memory": 1}`, 400, []string{
			"the filter name is not supported", "the filter network_ids is not supported", "the filter fru_board_mfg is not supported",
			"the filter hardware_memory is not supported", "machines can be found by id, partition_id"}},
		{"unknown machine filter", http.MethodPost, "/v1/machine/find", `{"color": "red"}`, 400, []string{`the filter "color" is not supported`}},
		{"unknown role filter", http.MethodPost, "/v1/machine/ipmi/find", `{"allocation_role": "router"}`, 400, []string{`allocation_role "router" is unknown`}},
		{"unknown state filter", http.MethodPost, "/v1/firewall/find", `{"state_value": "broken"}`, 400, []string{`state_value "broken" is unknown`}},
		{"unsupported issue filter", http.MethodPost, "/v1/machine/issues/evaluate", `{"allocation_image_id": "x"}`, 400, []string{"the filter allocation_image_id is not supported"}},
		{"unknown severity", http.MethodPost, "/v1/machine/issues/evaluate", `{"severity": "fatal", "only": ["nope"]}`, 400, []string{`severity "fatal" is unknown`, `only[0] "nope" is not an issue type`}},

		{"inverted constraint", http.MethodPut, "/v1/size", `{"id": "c9", "constraints": [{"type": "cores", "min": 9, "max": 1}, {"type": "disks"}]}`, 400, []string{
			"constraints[0]: min 9 is greater than max 1", `constraints[1].type "disks" is unknown`}},
		{"reserved size id", http.MethodPut, "/v1/size", `{"id": "unknown", "constraints": []}`, 400, []string{`id "unknown" is reserved`}},
		{"overlapping size", http.MethodPut, "/v1/size", `{"id": "c9", "constraints": [{"type": "cores", "min": 2, "max": 3}]}`, 409, []string{`size "c9" overlaps size "c1-small"`}},
		{"negative constraint", http.MethodPut, "/v1/size", `{"id": "c9", "constraints": [{"type": "cores", "min": -1}]}`, 400, []string{"cannot be a uint64"}},
		{"size update without id", http.MethodPost, "/v1/size", `{"name": "x"}`, 400, []string{"id is required"}},
		{"reserved size", http.MethodDelete, "/v1/size/c1-small", ``, 409, []string{`size "c1-small" is named by size reservation "rv1"`}},
		{"unknown size", http.MethodDelete, "/v1/size/c9", ``, 404, []string{`size "c9" does not exist`}},
		{"suggest without machine", http.MethodPost, "/v1/size/suggest", `{}`, 400, []string{"machineID is required"}},
		{"suggest of an unknown machine", http.MethodPost, "/v1/size/suggest", `{"machineID": "mach-9"}`, 404, []string{`"mach-9"`}},

		{"named reservation", http.MethodPut, "/v1/size/reservations", `{"id": "rv9", "name": "db", "sizeid": "c1-small", "partitionids": ["p1"], "projectid": "pr1", "amount": 1}`, 400, []string{
			`name "db": size reservations have no name here`}},
		{"empty reservation", http.MethodPut, "/v1/size/reservations", `{"id": "rv9"}`, 400, []string{"amount 0: must be at least 1", "partitionids: at least one partition is required", "sizeid", "projectid"}},
		{"reservation of an unknown size", http.MethodPut, "/v1/size/reservations", `{"id": "rv9", "sizeid": "c9", "partitionids": ["p1"], "projectid": "pr1", "amount": 1}`, 404, []string{`size "c9" does not exist`}},
		{"reservation of an unknown project", http.MethodPut, "/v1/size/reservations", `{"id": "rv9", "sizeid": "c1-small", "partitionids": ["p1"], "projectid": "pr9", "amount": 1}`, 404, []string{`projectid "pr9"`}},
		{"reservation twice in a partition", http.MethodPost, "/v1/size/reservations", `{"id": "rv1", "partitionids": ["p1", "p1"]}`, 400, []string{`partitionids[1] "p1" is already listed`}},
		{"reservation update without id", http.MethodPost, "/v1/size/reservations", `{"amount": 2}`, 400, []string{"id is required"}},
		{"unknown reservation filter", http.MethodPost, "/v1/size/reservations/find", `{"amount": 2}`, 400, []string{`the filter "amount" is not supported`}},
		{"unknown reservation", http.MethodGet, "/v1/size/reservations/rv9", ``, 404, []string{`size reservation "rv9" does not exist`}},

		{"unknown state", http.MethodPost, "/v1/machine/mach-3/state", `{"value": "BROKEN", "description": "x"}`, 400, []string{`state value "BROKEN" is unknown`}},
		{"lock without a reason", http.MethodPost, "/v1/machine/mach-3/state", `{"value": "LOCKED"}`, 400, []string{`description is required for state "LOCKED"`}},
		{"state without value", http.MethodPost, "/v1/machine/mach-3/state", `{"description": "x"}`, 400, []string{"value is required"}},
		{"state of an unknown machine", http.MethodPost, "/v1/machine/mach-9/state", `{"value": ""}`, 404, []string{`"mach-9"`}},
		{"reinstall without image", http.MethodPost, "/v1/machine/" + web + "/reinstall", `{}`, 400, []string{"imageid is required"}},
		{"reinstall with an unknown image", http.MethodPost, "/v1/machine/" + web + "/reinstall", `{"imageid": "debian-12"}`, 404, []string{`imageid: no image for id "debian-12"`}},
		{"reinstall a locked machine", http.MethodPost, "/v1/machine/" + web + "/reinstall", `{"imageid": "lab-ubuntu-24.04"}`, 409, []string{"is locked"}},
		{"reinstall a free machine", http.MethodPost, "/v1/machine/mach-3/reinstall", `{"imageid": "lab-ubuntu-24.04"}`, 409, []string{"is not allocated"}},
		{"free a locked machine", http.MethodDelete, "/v1/machine/" + web + "/free", ``, 409, []string{"is locked", "unlock it to free it"}},
		{"free an unknown machine", http.MethodDelete, "/v1/machine/mach-9/free", ``, 404, []string{`"mach-9"`}},
		{"delete an allocated machine", http.MethodDelete, "/v1/machine/" + web, ``, 409, []string{"free it before deleting it"}},
		{"delete a living machine", http.MethodDelete, "/v1/machine/mach-3", ``, 409, []string{"can only delete dead machines"}},
		{"LED of an unknown machine", http.MethodPost, "/v1/machine/mach-9/power/chassis-identify-led-on", ``, 404, []string{`"mach-9"`}},
		{"power", http.MethodPost, "/v1/machine/mach-3/power/cycle", ``, 501, []string{`power cycle of machine "mach-3" is not supported by this server`}},
		{"update a free machine", http.MethodPost, "/v1/machine", `{"id": "mach-3", "description": "x"}`, 409, []string{"only an allocated machine is updated"}},
		{"update without id", http.MethodPost, "/v1/machine", `{"description": "x"}`, 400, []string{"id is required"}},
		{"console password without reason", http.MethodGet, "/v1/machine/consolepassword", `{"id": "` + web + `"}`, 400, []string{"reason is required"}},
		{"console password of a free machine", http.MethodGet, "/v1/machine/consolepassword", `{"id": "mach-3", "reason": "x"}`, 409, []string{"is not allocated"}},
		{"firewall that is a machine", http.MethodGet, "/v1/firewall/" + web, ``, 404, []string{"is not a firewall"}},

		{"capacity of an unknown partition", http.MethodPost, "/v1/partition/capacity", `{"id": "p9"}`, 404, []string{`partition "p9" not found`}},
		{"unknown capacity member", http.MethodPost, "/v1/partition/capacity", `{"rack": "r1"}`, 400, []string{`the filter "rack" is not supported`}},
		{"repair not a boolean", http.MethodPost, "/v1/admin/check?repair=maybe", ``, 400, []string{`repair "maybe" is not a boolean`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l.h.requireRawError(t, api.AuthTypeAdmin, adminKey, c.method, c.path, c.body, c.status, c.want...)
		})
	}

	t.Run("through metal-go", func(t *testing.T) {
		req := l.allocation("web2")
		req.Sizeid = ptr("c2-big")
		_, err := l.h.edit().Machine().AllocateMachine(mclient.NewAllocateMachineParams().WithBody(req), nil)
		requireHTTPError(t, err, http.StatusUnprocessableEntity, `no machine of size "c2-big" is available in partition "p1"`)
		code, body := l.h.raw(http.MethodGet, "/metrics", nil, "", "", time.Now())
		require.Equal(t, http.StatusOK, code)
		assert.Contains(t, string(body), `metalkit_apiserver_allocations_total{kind="machine",result="exhausted"} 1`)
		req = l.allocation("web2")
		req.Projectid = ptr("pr2")
		_, err = l.h.edit().Machine().AllocateMachine(mclient.NewAllocateMachineParams().WithBody(req), nil)
		requireHTTPError(t, err, http.StatusNotFound, `projectid "pr2"`)
		req = l.allocation("web2")
		req.Partitionid = ptr("p9")
		_, err = l.h.edit().Machine().AllocateMachine(mclient.NewAllocateMachineParams().WithBody(req), nil)
		requireHTTPError(t, err, http.StatusNotFound, `partitionid "p9"`)
	})
	assert.Equal(t, before, l.h.tracker.Dump(t), "no bad request changed the store")
}
