package api_test

import (
	"testing"

	fwclient "github.com/metal-stack/metal-go/api/client/firewall"
	ipclient "github.com/metal-stack/metal-go/api/client/ip"
	mclient "github.com/metal-stack/metal-go/api/client/machine"
	"github.com/metal-stack/metal-go/api/client/size"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
)

// TestMachineFlowsOnEveryStore runs the machine flows through metal-go on
// memstore, boltstore and Redis: a size reservation, a machine allocated
// by size and a firewall by id, both found and freed, a machine that
// waits again and is allocated again, a size created, updated and
// deleted; every address goes back and the store is consistent at the
// end.
func TestMachineFlowsOnEveryStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		l := newMachineLab(t, s, nil)
		edit, view := l.h.edit(), l.h.view()
		l.candidate("mach-1", 1, 0)
		l.candidate("mach-2", 2, 0)

		_, err := edit.Size().CreateSizeReservation(size.NewCreateSizeReservationParams().WithBody(&models.V1SizeReservationCreateRequest{
			ID: ptr("rv1"), Sizeid: ptr("c1-small"), Partitionids: []string{"p1"}, Projectid: ptr("pr1"), Amount: ptr(int32(1)),
		}), nil)
		require.NoError(t, err)

		web, err := edit.Machine().AllocateMachine(mclient.NewAllocateMachineParams().WithBody(l.allocation("web1")), nil)
		require.NoError(t, err)
		webID := *web.Payload.ID
		require.Len(t, web.Payload.Allocation.Networks, 2)
		assert.Len(t, web.Payload.Allocation.Networks[0].Ips, 2)
		usage, err := view.Size().SizeReservationsUsage(size.NewSizeReservationsUsageParams().WithBody(&models.V1SizeReservationListRequest{}), nil)
		require.NoError(t, err)
		require.Len(t, usage.Payload, 1)
		assert.EqualValues(t, 1, *usage.Payload[0].Usedamount, "the machine uses pr1's reservation")

		other := "mach-2"
		if webID == other {
			other = "mach-1"
		}
		fw, err := edit.Firewall().AllocateFirewall(fwclient.NewAllocateFirewallParams().WithBody(&models.V1FirewallCreateRequest{
			UUID: other, Name: "fw1", Projectid: ptr("pr1"), Imageid: ptr("lab-firewall-3.0"),
			Networks: []*models.V1MachineAllocationNetwork{{Networkid: ptr(l.child)}, {Networkid: ptr("lab-internet")}},
		}), nil)
		require.NoError(t, err)
		assert.Len(t, fw.Payload.Allocation.Networks, 3)

		found, err := view.Machine().FindMachines(mclient.NewFindMachinesParams().WithBody(&models.V1MachineFindRequest{AllocationProject: "pr1"}), nil)
		require.NoError(t, err)
		assert.Len(t, found.Payload, 2)
		fws, err := view.Firewall().FindFirewalls(fwclient.NewFindFirewallsParams().WithBody(&models.V1FirewallFindRequest{AllocationProject: "pr1"}), nil)
		require.NoError(t, err)
		require.Len(t, fws.Payload, 1)
		assert.Equal(t, other, *fws.Payload[0].ID)

		for _, id := range []string{webID, other} {
			freed, err := edit.Machine().FreeMachine(mclient.NewFreeMachineParams().WithID(id), nil)
			require.NoError(t, err)
			assert.Nil(t, freed.Payload.Allocation)
		}
		ips, err := view.IP().FindIPs(ipclient.NewFindIPsParams().WithBody(&models.V1IPFindRequest{Projectid: "pr1"}), nil)
		require.NoError(t, err)
		assert.Empty(t, ips.Payload, "freeing released every address")

		l.wait(webID)
		again, err := edit.Machine().AllocateMachine(mclient.NewAllocateMachineParams().WithBody(l.allocation("web2")), nil)
		require.NoError(t, err)
		assert.Equal(t, webID, *again.Payload.ID, "the only waiting machine")
		assert.NotEqual(t, *web.Payload.Allocation.Allocationuuid, *again.Payload.Allocation.Allocationuuid, "a new allocation")
		_, err = edit.Machine().FreeMachine(mclient.NewFreeMachineParams().WithID(webID), nil)
		require.NoError(t, err)
		_, err = edit.Size().DeleteSizeReservation(size.NewDeleteSizeReservationParams().WithID("rv1"), nil)
		require.NoError(t, err)

		admin := l.h.admin()
		_, err = admin.Size().CreateSize(size.NewCreateSizeParams().WithBody(&models.V1SizeCreateRequest{
			ID: ptr("c2"), Constraints: []*models.V1SizeConstraint{{Type: ptr("cores"), Min: 16, Max: 32}},
		}), nil)
		require.NoError(t, err)
		updated, err := admin.Size().UpdateSize(size.NewUpdateSizeParams().WithBody(&models.V1SizeUpdateRequest{ID: ptr("c2"), Name: "two"}), nil)
		require.NoError(t, err)
		assert.Equal(t, "two", updated.Payload.Name)
		_, err = admin.Size().DeleteSize(size.NewDeleteSizeParams().WithID("c2"), nil)
		require.NoError(t, err)
		l.requireConsistent()
	})
}
