package api_test

import (
	"net/http"
	"testing"
	"time"

	fwclient "github.com/metal-stack/metal-go/api/client/firewall"
	"github.com/metal-stack/metal-go/api/client/image"
	ipclient "github.com/metal-stack/metal-go/api/client/ip"
	mclient "github.com/metal-stack/metal-go/api/client/machine"
	"github.com/metal-stack/metal-go/api/client/partition"
	"github.com/metal-stack/metal-go/api/client/project"
	"github.com/metal-stack/metal-go/api/client/size"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sizeRoutes drives the size routes through metal-go; machine mach-1
// exists.
func sizeRoutes(t *testing.T, l *machineLab) {
	admin, view := l.h.admin(), l.h.view()
	created, err := admin.Size().CreateSize(size.NewCreateSizeParams().WithBody(&models.V1SizeCreateRequest{
		ID: ptr("c1-large"), Name: "large", Description: "many cores", Labels: map[string]string{"class": "big"},
		Constraints: []*models.V1SizeConstraint{{Type: ptr("cores"), Min: 9, Max: 64}, {Type: ptr("memory"), Min: 1 << 30, Max: 1 << 40}},
	}), nil)
	require.NoError(t, err)
	s := created.Payload
	assert.Equal(t, "c1-large", *s.ID)
	assert.Equal(t, map[string]string{"class": "big"}, s.Labels)
	require.Len(t, s.Constraints, 2)
	assert.EqualValues(t, 64, s.Constraints[0].Max)
	assert.False(t, time.Time(s.Created).IsZero())

	_, err = admin.Size().CreateSize(size.NewCreateSizeParams().WithBody(&models.V1SizeCreateRequest{
		ID: ptr("c1-large"), Constraints: []*models.V1SizeConstraint{{Type: ptr("cores"), Min: 100, Max: 200}},
	}), nil)
	var dup *size.CreateSizeConflict
	require.ErrorAs(t, err, &dup, "metal-go's declared conflict")
	requireHTTPError(t, err, http.StatusConflict, `size "c1-large" already exists`)

	list, err := view.Size().ListSizes(size.NewListSizesParams(), nil)
	require.NoError(t, err)
	require.Len(t, list.Payload, 2)
	assert.Equal(t, "c1-large", *list.Payload[0].ID, "ordered by id")

	got, err := view.Size().FindSize(size.NewFindSizeParams().WithID("c1-small"), nil)
	require.NoError(t, err)
	assert.Equal(t, "small", got.Payload.Name)
	_, err = view.Size().FindSize(size.NewFindSizeParams().WithID("c9"), nil)
	requireHTTPError(t, err, http.StatusNotFound, `size "c9" does not exist`)

	updated, err := admin.Size().UpdateSize(size.NewUpdateSizeParams().WithBody(&models.V1SizeUpdateRequest{
		ID: ptr("c1-large"), Description: "more cores",
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "more cores", updated.Payload.Description)
	assert.Equal(t, "large", updated.Payload.Name, "a field not given stays")
	assert.Len(t, updated.Payload.Constraints, 2, "constraints sent as null stay")
	assert.True(t, time.Time(updated.Payload.Created).Equal(time.Time(s.Created)))

	suggested, err := view.Size().Suggest(size.NewSuggestParams().WithBody(&models.V1SizeSuggestRequest{MachineID: ptr("mach-1")}), nil)
	require.NoError(t, err)
	require.Len(t, suggested.Payload, 3)
	assert.Equal(t, "cores", *suggested.Payload[0].Type)
	assert.EqualValues(t, 4, suggested.Payload[0].Min)
	assert.Equal(t, "EPYC 7402P", suggested.Payload[0].Identifier)
	assert.EqualValues(t, int64(32<<30), suggested.Payload[1].Max)
	assert.Equal(t, "/dev/nvme0n1", suggested.Payload[2].Identifier)

	deleted, err := admin.Size().DeleteSize(size.NewDeleteSizeParams().WithID("c1-large"), nil)
	require.NoError(t, err)
	assert.Equal(t, "c1-large", *deleted.Payload.ID)
}

// reservationRoutes drives the size reservation routes through metal-go
// and leaves reservation rv1: 1 machine of c1-small in p1 for project
// pr2.
func reservationRoutes(t *testing.T, l *machineLab) {
	edit, view := l.h.edit(), l.h.view()
	_, err := l.h.admin().Project().CreateProject(project.NewCreateProjectParams().WithBody(&models.V1ProjectCreateRequest{
		Meta: &models.V1Meta{ID: "pr2"}, TenantID: "tenant",
	}), nil)
	require.NoError(t, err)
	created, err := edit.Size().CreateSizeReservation(size.NewCreateSizeReservationParams().WithBody(&models.V1SizeReservationCreateRequest{
		ID: ptr("rv1"), Sizeid: ptr("c1-small"), Partitionids: []string{"p1"}, Projectid: ptr("pr2"), Amount: ptr(int32(2)),
		Description: "for the database", Labels: map[string]string{"team": "db"},
	}), nil)
	require.NoError(t, err)
	rv := created.Payload
	assert.Equal(t, "rv1", *rv.ID)
	assert.EqualValues(t, 2, *rv.Amount)
	assert.Equal(t, []string{"p1"}, rv.Partitionids)

	list, err := view.Size().ListSizeReservations(size.NewListSizeReservationsParams(), nil)
	require.NoError(t, err)
	require.Len(t, list.Payload, 1)
	got, err := view.Size().GetSizeReservation(size.NewGetSizeReservationParams().WithID("rv1"), nil)
	require.NoError(t, err)
	assert.Equal(t, "for the database", got.Payload.Description)
	found, err := view.Size().FindSizeReservations(size.NewFindSizeReservationsParams().WithBody(&models.V1SizeReservationListRequest{
		Projectid: "pr2", Partitionid: "p1",
	}), nil)
	require.NoError(t, err)
	require.Len(t, found.Payload, 1)
	found, err = view.Size().FindSizeReservations(size.NewFindSizeReservationsParams().WithBody(&models.V1SizeReservationListRequest{Projectid: "pr1"}), nil)
	require.NoError(t, err)
	assert.Empty(t, found.Payload)

	updated, err := edit.Size().UpdateSizeReservation(size.NewUpdateSizeReservationParams().WithBody(&models.V1SizeReservationUpdateRequest{
		ID: ptr("rv1"), Amount: ptr(int32(1)),
	}), nil)
	require.NoError(t, err)
	assert.EqualValues(t, 1, *updated.Payload.Amount)
	assert.Equal(t, "for the database", updated.Payload.Description, "a field not given stays")
	assert.Equal(t, map[string]string{"team": "db"}, updated.Payload.Labels)

	usage, err := view.Size().SizeReservationsUsage(size.NewSizeReservationsUsageParams().WithBody(&models.V1SizeReservationListRequest{}), nil)
	require.NoError(t, err)
	require.Len(t, usage.Payload, 1)
	u := usage.Payload[0]
	assert.Equal(t, "p1", *u.Partitionid)
	assert.EqualValues(t, 1, *u.Amount)
	assert.EqualValues(t, 0, *u.Usedamount)
	assert.EqualValues(t, 0, *u.Projectallocations)

	other, err := edit.Size().CreateSizeReservation(size.NewCreateSizeReservationParams().WithBody(&models.V1SizeReservationCreateRequest{
		ID: ptr("rv2"), Sizeid: ptr("c1-small"), Partitionids: []string{"p1"}, Projectid: ptr("pr2"), Amount: ptr(int32(5)),
	}), nil)
	require.NoError(t, err)
	deleted, err := edit.Size().DeleteSizeReservation(size.NewDeleteSizeReservationParams().WithID(*other.Payload.ID), nil)
	require.NoError(t, err)
	assert.Equal(t, "rv2", *deleted.Payload.ID)
	_, err = view.Size().GetSizeReservation(size.NewGetSizeReservationParams().WithID("rv2"), nil)
	requireHTTPError(t, err, http.StatusNotFound, `"rv2"`)
}

// capacityOf returns the capacity of size in p1.
func capacityOf(t *testing.T, l *machineLab, project *string) *models.V1ServerCapacity {
	t.Helper()
	caps, err := l.h.view().Partition().PartitionCapacity(partition.NewPartitionCapacityParams().WithBody(&models.V1PartitionCapacityRequest{
		ID: "p1", Projectid: project,
	}), nil)
	require.NoError(t, err)
	require.Len(t, caps.Payload, 1)
	require.Equal(t, "p1", *caps.Payload[0].ID)
	require.Len(t, caps.Payload[0].Servers, 1)
	return caps.Payload[0].Servers[0]
}

// machineRoutes drives the machine, firewall and capacity routes through
// metal-go, and the project and image routes that count machines. The lab
// has machines mach-1 and mach-2 waiting in racks 1 and 2, mach-3
// registered in rack 1 but not waiting, and reservation rv1.
func machineRoutes(t *testing.T, l *machineLab) {
	admin, edit, view := l.h.admin(), l.h.edit(), l.h.view()

	list, err := view.Machine().ListMachines(mclient.NewListMachinesParams(), nil)
	require.NoError(t, err)
	require.Len(t, list.Payload, 3)
	m := list.Payload[0]
	assert.Equal(t, "mach-1", *m.ID)
	assert.Equal(t, "c1-small", *m.Size.ID)
	assert.Equal(t, "p1", *m.Partition.ID)
	assert.Equal(t, "rack01", m.Rackid)
	assert.Equal(t, "Alive", *m.Liveliness)
	assert.EqualValues(t, 4, *m.Hardware.CPUCores)
	require.Len(t, m.Hardware.Nics, 2)
	assert.Equal(t, "r1-leaf-a-Ethernet0", *m.Hardware.Nics[0].Neighbors[0].Identifier)
	assert.Equal(t, "v0.13.0", *m.State.MetalHammerVersion)
	assert.Equal(t, "LED-OFF", *m.Ledstate.Value)
	assert.Nil(t, m.Allocation)
	assert.Empty(t, m.Tags)

	// Capacity before any allocation: rv1 holds one of the two free
	// machines for pr2.
	c := capacityOf(t, l, nil)
	assert.Equal(t, "c1-small", *c.Size)
	assert.EqualValues(t, 3, c.Total)
	assert.EqualValues(t, 2, c.Allocatable)
	assert.EqualValues(t, 1, c.Free, "one machine is reserved for pr2")
	assert.EqualValues(t, 1, c.Unavailable, "mach-3 does not wait")
	assert.EqualValues(t, 1, c.Reservations)
	assert.EqualValues(t, 1, c.Remainingreservations)
	assert.EqualValues(t, 3, c.Other, "no machine phoned home or waits by its events")
	assert.EqualValues(t, 2, capacityOf(t, l, ptr("pr2")).Free, "pr2's own reservation is free for it")

	allocated, err := edit.Machine().AllocateMachine(mclient.NewAllocateMachineParams().WithBody(l.allocation("web1")), nil)
	require.NoError(t, err)
	m = allocated.Payload
	a := m.Allocation
	require.NotNil(t, a)
	web := *m.ID
	assert.Contains(t, []string{"mach-1", "mach-2"}, web)
	assert.Equal(t, "pr1", *a.Project)
	assert.Equal(t, "metal-edit@metal-stack.io", *a.Creator, "the signing user is the creator")
	assert.Equal(t, machineImage, *a.Image.ID, "the image id is resolved to the most recent version")
	assert.Equal(t, "web1", *a.Hostname)
	assert.Equal(t, "machine", *a.Role)
	assert.Equal(t, []string{testSSHKey}, a.SSHPubKeys)
	assert.NotEmpty(t, *a.Allocationuuid)
	require.Len(t, a.Networks, 2)
	private, internet := a.Networks[0], a.Networks[1]
	assert.Equal(t, l.child, *private.Networkid)
	assert.Equal(t, "privateprimaryunshared", *private.Networktype)
	assert.True(t, *private.Private)
	assert.Equal(t, []string{"10.64.0.1", "2001:db8:64::1"}, private.Ips, "one address per family")
	assert.Equal(t, "external", *internet.Networktype)
	assert.True(t, *internet.Nat)
	assert.Equal(t, []string{"185.9.0.1", "2a02:c00:99::1"}, internet.Ips)
	assert.Equal(t, []string{"0.0.0.0/0"}, internet.Destinationprefixes)
	assert.GreaterOrEqual(t, *private.Asn, int64(4210000001))
	assert.Equal(t, *private.Asn, *internet.Asn, "one ASN on every network")
	assert.Contains(t, m.Tags, "app=web")
	assert.Contains(t, m.Tags, "machine.metal-stack.io/chassis=chassis-"+web)

	got, err := view.Machine().FindMachine(mclient.NewFindMachineParams().WithID(web), nil)
	require.NoError(t, err)
	assert.Equal(t, *a.Allocationuuid, *got.Payload.Allocation.Allocationuuid)
	_, err = view.Machine().FindMachine(mclient.NewFindMachineParams().WithID("mach-9"), nil)
	requireHTTPError(t, err, http.StatusNotFound, `machine "mach-9" does not exist`)

	found, err := view.Machine().FindMachines(mclient.NewFindMachinesParams().WithBody(&models.V1MachineFindRequest{
		AllocationProject: "pr1", PartitionID: "p1", Tags: []string{"app=web"},
	}), nil)
	require.NoError(t, err)
	require.Len(t, found.Payload, 1)
	assert.Equal(t, web, *found.Payload[0].ID)
	found, err = view.Machine().FindMachines(mclient.NewFindMachinesParams().WithBody(&models.V1MachineFindRequest{
		Rackid: "rack01", StateValue: "",
	}), nil)
	require.NoError(t, err)
	assert.Len(t, found.Payload, 2, "mach-1 and mach-3 are in rack01")

	ipmi, err := view.Machine().FindIPMIMachine(mclient.NewFindIPMIMachineParams().WithID("mach-3"), nil)
	require.NoError(t, err)
	assert.Equal(t, "10.9.1.1:623", *ipmi.Payload.Ipmi.Address)
	assert.Equal(t, "lanplus", *ipmi.Payload.Ipmi.Interface)
	assert.Equal(t, "chassis-mach-3", ipmi.Payload.Ipmi.Fru.ChassisPartSerial)
	ipmis, err := view.Machine().FindIPMIMachines(mclient.NewFindIPMIMachinesParams().WithBody(&models.V1MachineFindRequest{ID: "mach-3"}), nil)
	require.NoError(t, err)
	require.Len(t, ipmis.Payload, 1)
	assert.Equal(t, "secret", *ipmis.Payload[0].Ipmi.Password)

	c = capacityOf(t, l, nil)
	assert.EqualValues(t, 1, c.Allocated)
	assert.EqualValues(t, 1, c.Allocatable)
	assert.EqualValues(t, 0, c.Free, "the last waiting machine is reserved for pr2")

	pr, err := view.Project().FindProject(project.NewFindProjectParams().WithID("pr1"), nil)
	require.NoError(t, err)
	assert.EqualValues(t, 1, pr.Payload.Quotas.Machine.Used, "the project's machine")
	assert.EqualValues(t, 4, pr.Payload.Quotas.IP.Used, "and its four addresses")
	_, err = admin.Project().DeleteProject(project.NewDeleteProjectParams().WithID("pr1"), nil)
	requireHTTPError(t, err, http.StatusConflict, `project "pr1" still has 1 machines allocated (`+web+`)`)
	_, err = admin.Project().DeleteProject(project.NewDeleteProjectParams().WithID("pr2"), nil)
	requireHTTPError(t, err, http.StatusConflict, `project "pr2" still has 1 size reservations`)

	imgs, err := view.Image().ListImages(image.NewListImagesParams().WithShowUsage(ptr(true)), nil)
	require.NoError(t, err)
	for _, img := range imgs.Payload {
		if *img.ID == machineImage {
			assert.Equal(t, []string{web}, img.Usedby)
		} else {
			assert.Empty(t, img.Usedby, *img.ID)
		}
	}
	fimgs, err := view.Image().FindImages(image.NewFindImagesParams().WithShowUsage(ptr(true)).WithBody(&models.V1ImageFindRequest{ID: machineImage}), nil)
	require.NoError(t, err)
	require.Len(t, fimgs.Payload, 1)
	assert.Equal(t, []string{web}, fimgs.Payload[0].Usedby)
	_, err = admin.Image().DeleteImage(image.NewDeleteImageParams().WithID(machineImage), nil)
	requireHTTPError(t, err, http.StatusConflict, `image "`+machineImage+`" is in use by 1 machines (`+web+`)`)

	issues, err := view.Machine().ListIssues(mclient.NewListIssuesParams(), nil)
	require.NoError(t, err)
	require.NotEmpty(t, issues.Payload)
	assert.Equal(t, "no-event-container", *issues.Payload[0].ID)
	assert.Equal(t, "https://docs.metal-stack.io/stable/installation/troubleshoot/#no-event-container", *issues.Payload[0].RefURL)
	evaluated, err := view.Machine().Issues(mclient.NewIssuesParams().WithBody(&models.V1MachineIssuesRequest{
		Severity: ptr("minor"), Only: []string{"liveliness-dead", "crashloop"}, Omit: []string{},
	}), nil)
	require.NoError(t, err)
	assert.Empty(t, evaluated.Payload, "every machine lives")

	state, err := edit.Machine().SetMachineState(mclient.NewSetMachineStateParams().WithID("mach-3").WithBody(&models.V1MachineState{
		Value: ptr("RESERVED"), Description: ptr("for tests"), MetalHammerVersion: ptr(""),
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "RESERVED", *state.Payload.State.Value)
	assert.Equal(t, "metal-edit@metal-stack.io", state.Payload.State.Issuer)
	assert.Equal(t, "v0.13.0", *state.Payload.State.MetalHammerVersion, "setting the state keeps the version")
	state, err = edit.Machine().SetMachineState(mclient.NewSetMachineStateParams().WithID("mach-3").WithBody(&models.V1MachineState{
		Value: ptr(""), Description: ptr(""), MetalHammerVersion: ptr(""),
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "", *state.Payload.State.Value)

	on, err := edit.Machine().ChassisIdentifyLEDOn(mclient.NewChassisIdentifyLEDOnParams().WithID("mach-3").WithDescription(ptr("find me")), nil)
	require.NoError(t, err)
	assert.Equal(t, "LED-ON", *on.Payload.Ledstate.Value)
	assert.Equal(t, "find me", *on.Payload.Ledstate.Description)
	off, err := edit.Machine().ChassisIdentifyLEDOff(mclient.NewChassisIdentifyLEDOffParams().WithID("mach-3"), nil)
	require.NoError(t, err)
	assert.Equal(t, "LED-OFF", *off.Payload.Ledstate.Value)

	for name, call := range map[string]func() error{
		"power on": func() error {
			_, err := edit.Machine().MachineOn(mclient.NewMachineOnParams().WithID("mach-3"), nil)
			return err
		},
		"power off": func() error {
			_, err := edit.Machine().MachineOff(mclient.NewMachineOffParams().WithID("mach-3"), nil)
			return err
		},
		"reset": func() error {
			_, err := edit.Machine().MachineReset(mclient.NewMachineResetParams().WithID("mach-3"), nil)
			return err
		},
		"power cycle": func() error {
			_, err := edit.Machine().MachineCycle(mclient.NewMachineCycleParams().WithID("mach-3"), nil)
			return err
		},
		"booting into the BIOS": func() error {
			_, err := edit.Machine().MachineBios(mclient.NewMachineBiosParams().WithID("mach-3"), nil)
			return err
		},
		"booting from disk": func() error {
			_, err := edit.Machine().MachineDisk(mclient.NewMachineDiskParams().WithID("mach-3"), nil)
			return err
		},
		"booting from PXE": func() error {
			_, err := edit.Machine().MachinePxe(mclient.NewMachinePxeParams().WithID("mach-3"), nil)
			return err
		},
	} {
		requireHTTPError(t, call(), http.StatusNotImplemented, name+` of machine "mach-3" is not supported by this server`)
	}

	reinstalled, err := edit.Machine().ReinstallMachine(mclient.NewReinstallMachineParams().WithID(web).WithBody(&models.V1MachineReinstallRequest{
		ID: ptr(web), Imageid: ptr("lab-ubuntu-24.04"),
	}), nil)
	require.NoError(t, err)
	assert.True(t, *reinstalled.Payload.Allocation.Reinstall)
	assert.Equal(t, machineImage, *reinstalled.Payload.Allocation.Image.ID)

	updated, err := admin.Machine().UpdateMachine(mclient.NewUpdateMachineParams().WithBody(&models.V1MachineUpdateRequest{
		ID: ptr(web), Description: ptr("the web server"), Tags: []string{"app=www"},
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "the web server", updated.Payload.Allocation.Description)
	assert.Contains(t, updated.Payload.Tags, "app=www")
	assert.NotContains(t, updated.Payload.Tags, "app=web")

	pw, err := edit.Machine().GetMachineConsolePassword(mclient.NewGetMachineConsolePasswordParams().WithBody(&models.V1MachineConsolePasswordRequest{
		ID: ptr(web), Reason: ptr("incident 42: the console hangs"),
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, web, *pw.Payload.ID)
	assert.Equal(t, "", *pw.Payload.ConsolePassword, "no installation reported one yet")

	// The firewall takes the other waiting machine by id; pr2's
	// reservation does not apply to an allocation by id.
	other := "mach-2"
	if web == "mach-2" {
		other = "mach-1"
	}
	fw, err := edit.Firewall().AllocateFirewall(fwclient.NewAllocateFirewallParams().WithBody(&models.V1FirewallCreateRequest{
		UUID: other, Name: "fw1", Projectid: ptr("pr1"), Partitionid: ptr("p1"), Sizeid: ptr("c1-small"), Imageid: ptr("lab-firewall-3.0"),
		Networks: []*models.V1MachineAllocationNetwork{{Networkid: ptr(l.child)}, {Networkid: ptr("lab-internet")}},
		FirewallRules: &models.V1FirewallRules{
			Egress:  []*models.V1FirewallEgressRule{{Protocol: "TCP", Ports: []int32{443}, To: []string{"0.0.0.0/0"}, Comment: "allow https"}},
			Ingress: []*models.V1FirewallIngressRule{{Ports: []int32{22}, From: []string{"10.0.0.0/8"}}},
		},
	}), nil)
	require.NoError(t, err)
	f := fw.Payload
	assert.Equal(t, other, *f.ID)
	assert.Equal(t, "firewall", *f.Allocation.Role)
	assert.Equal(t, firewallImage, *f.Allocation.Image.ID)
	require.Len(t, f.Allocation.Networks, 3, "a firewall joins the underlay")
	assert.Equal(t, "underlay", *f.Allocation.Networks[2].Networktype)
	assert.True(t, *f.Allocation.Networks[2].Underlay)
	require.NotNil(t, f.Allocation.FirewallRules)
	assert.Equal(t, "tcp", f.Allocation.FirewallRules.Egress[0].Protocol, "protocols answered in lower case")
	assert.Equal(t, "tcp", f.Allocation.FirewallRules.Ingress[0].Protocol, "tcp is the default")

	fws, err := view.Firewall().ListFirewalls(fwclient.NewListFirewallsParams(), nil)
	require.NoError(t, err)
	require.Len(t, fws.Payload, 1)
	assert.Equal(t, other, *fws.Payload[0].ID)
	gotFw, err := view.Firewall().FindFirewall(fwclient.NewFindFirewallParams().WithID(other), nil)
	require.NoError(t, err)
	assert.Equal(t, "fw1", *gotFw.Payload.Allocation.Name)
	_, err = view.Firewall().FindFirewall(fwclient.NewFindFirewallParams().WithID(web), nil)
	requireHTTPError(t, err, http.StatusNotFound, "is not a firewall")
	foundFws, err := view.Firewall().FindFirewalls(fwclient.NewFindFirewallsParams().WithBody(&models.V1FirewallFindRequest{
		AllocationProject: "pr1", AllocationRole: "machine",
	}), nil)
	require.NoError(t, err)
	require.Len(t, foundFws.Payload, 1, "the role of a firewall find is always firewall")

	freed, err := edit.Machine().FreeMachine(mclient.NewFreeMachineParams().WithID(web), nil)
	require.NoError(t, err)
	assert.Nil(t, freed.Payload.Allocation)
	assert.Empty(t, freed.Payload.Tags)
	require.NotEmpty(t, freed.Payload.Events.Log)
	assert.Equal(t, "Machine Reclaim", *freed.Payload.Events.Log[0].Event)
	_, err = edit.Machine().FreeMachine(mclient.NewFreeMachineParams().WithID(other), nil)
	require.NoError(t, err)
	ips, err := view.IP().FindIPs(ipclient.NewFindIPsParams().WithBody(&models.V1IPFindRequest{Projectid: "pr1"}), nil)
	require.NoError(t, err)
	assert.Empty(t, ips.Payload, "freeing released the machines' addresses")

	_, err = admin.Machine().DeleteMachine(mclient.NewDeleteMachineParams().WithID("mach-3"), nil)
	requireHTTPError(t, err, http.StatusConflict, "can only delete dead machines")
	l.kill("mach-3")
	deleted, err := admin.Machine().DeleteMachine(mclient.NewDeleteMachineParams().WithID("mach-3"), nil)
	require.NoError(t, err)
	assert.Equal(t, "mach-3", *deleted.Payload.ID)
	_, err = view.Machine().FindMachine(mclient.NewFindMachineParams().WithID("mach-3"), nil)
	requireHTTPError(t, err, http.StatusNotFound, `"mach-3"`)

	code, body := l.h.raw(http.MethodGet, "/metrics", nil, "", "", time.Now())
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), `metalkit_apiserver_allocations_total{kind="machine",result="ok"} 1`)
	assert.Contains(t, string(body), `metalkit_apiserver_allocations_total{kind="firewall",result="ok"} 1`)
}
