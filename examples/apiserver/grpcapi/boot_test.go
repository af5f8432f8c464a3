package grpcapi_test

import (
	"context"
	"testing"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/metalkit/metalkit/examples/apiserver/grpcapi"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/switchstate"
)

// TestRegister: a registration creates the machine with its size, rack and
// partition from the switches, every inventoried field, the event
// container, and the wiring on both leaves.
func TestRegister(t *testing.T) {
	l := newLab(t, nil)
	ctx := context.Background()
	resp, err := l.boot.Register(ctx, registration("m1", 2))
	require.NoError(t, err)
	assert.Equal(t, "m1", resp.GetUuid())
	assert.Equal(t, "small", resp.GetSize())
	assert.Equal(t, partition, resp.GetPartitionId())

	m := l.machine("m1")
	assert.Equal(t, "small", m.SizeID)
	assert.Equal(t, rack, m.RackID)
	assert.Equal(t, partition, m.PartitionID)
	assert.Equal(t, uint64(32<<30), m.Hardware.Memory)
	assert.Equal(t, []machine.CPU{{Vendor: "AMD", Model: "EPYC 7402P", Cores: 4, Threads: 8}}, m.Hardware.CPUs)
	assert.Equal(t, []machine.BlockDevice{{Name: "/dev/nvme0n1", Size: 960 << 30}}, m.Hardware.Disks)
	require.Len(t, m.Hardware.NICs, 2)
	assert.Equal(t, machine.NIC{Name: "lan0", MacAddress: "aa:00:00:00:02:00",
		Neighbors: []machine.Neighbor{{Hostname: leafA, Name: "Ethernet8", Identifier: leafA + "-Ethernet8"}}}, m.Hardware.NICs[0])
	assert.Equal(t, machine.BIOS{Version: "2.1", Vendor: "AMI", Date: "05/10/2024"}, m.BIOS)
	assert.Equal(t, "10.1.0.12:623", m.IPMI.Address)
	assert.Equal(t, "bb:00:00:00:02:00", m.IPMI.MacAddress)
	assert.Equal(t, "lanplus", m.IPMI.Interface)
	assert.Equal(t, "1.7", m.IPMI.BMCVersion)
	assert.Equal(t, "ON", m.IPMI.PowerState)
	assert.Equal(t, machine.FRU{ChassisPartSerial: "chassis-m1"}, m.IPMI.FRU)
	assert.False(t, m.IPMI.LastUpdated.IsZero(), "the IPMI data's last_updated is set")
	assert.Equal(t, []string{"hammer=yes"}, m.Tags)
	assert.Equal(t, "v0.13.0", m.State.MetalHammerVersion)
	assert.Equal(t, machine.LEDState{Value: machine.LEDOff, Description: "Machine registered"}, m.LEDState)

	c, err := l.kit.Machines.GetEvents(l.ctx, "m1")
	require.NoError(t, err)
	assert.Equal(t, machine.Alive, c.Liveliness)
	for _, leaf := range []string{leafA, leafB} {
		sw, err := l.kit.Switches.Get(l.ctx, leaf)
		require.NoError(t, err)
		require.Len(t, sw.Connections, 1, "switch %s", leaf)
		conn := sw.Connections[0]
		assert.Equal(t, []string{"m1", "Ethernet8", leaf + "-Ethernet8"}, []string{conn.MachineID, conn.Nic.Name, conn.Nic.Identifier}, "switch %s", leaf)
	}

	// A registration without IPMI data keeps the stored data.
	again := registration("m1", 2)
	again.Ipmi = nil
	again.MetalHammerVersion = "v0.14.0"
	_, err = l.boot.Register(ctx, again)
	require.NoError(t, err)
	m = l.machine("m1")
	assert.Equal(t, "v0.14.0", m.State.MetalHammerVersion)
	assert.Equal(t, "10.1.0.12:623", m.IPMI.Address)
}

// TestRegisterOnOneSwitchWritesNothing: neighbours on one leaf fail the
// registration, which leaves the whole store (the audit trail included,
// but for the call's own entries) as it was.
func TestRegisterOnOneSwitchWritesNothing(t *testing.T) {
	l := newLab(t, nil)
	req := registration("m1", 3)
	req.Hardware.Nics[1].Neighbors = []*v1.MachineNic{neighbour(leafA, 4)}
	before := l.dump()
	_, err := l.boot.Register(context.Background(), req)
	requireCode(t, err, codes.InvalidArgument, `"m1"`, "found connections to 1 switches")
	assert.Equal(t, before, l.dump())
	_, err = l.kit.Machines.Get(l.ctx, "m1")
	assert.ErrorIs(t, err, machine.ErrNotFound)
}

// TestRegisterRefusesIncompleteInventories: every missing part is named.
func TestRegisterRefusesIncompleteInventories(t *testing.T) {
	l := newLab(t, nil)
	before := l.dump()
	_, err := l.boot.Register(context.Background(), &v1.BootServiceRegisterRequest{})
	requireCode(t, err, codes.InvalidArgument, "uuid is required")
	_, err = l.boot.Register(context.Background(), &v1.BootServiceRegisterRequest{Uuid: "m1", PartitionId: partition})
	requireCode(t, err, codes.InvalidArgument, "hardware is required", "bios is required")
	assert.Equal(t, before, l.dump())
}

// TestReport: a successful report of an allocated machine stores the boot
// information with the allocation's image, marks the allocation
// succeeded and puts both switch ports into the tenant VRF.
func TestReport(t *testing.T) {
	l := newLab(t, nil)
	ctx := context.Background()
	l.register("m1", 1)
	_, err := l.boot.Report(ctx, &v1.BootServiceReportRequest{Uuid: "m1", Success: true, BootInfo: &v1.BootInfo{Kernel: "/boot/vmlinuz"}})
	requireCode(t, err, codes.FailedPrecondition, `"m1" is not allocated`)

	a := l.allocate("m1")
	vrf := a.Allocation.Networks[0].VRF
	require.NotZero(t, vrf)
	_, err = l.boot.Report(ctx, &v1.BootServiceReportRequest{Uuid: "m1", Success: true})
	requireCode(t, err, codes.InvalidArgument, "boot_info is required")

	_, err = l.boot.Report(ctx, &v1.BootServiceReportRequest{Uuid: "m1", Success: true, ConsolePassword: "console-secret",
		BootInfo: &v1.BootInfo{PrimaryDisk: "/dev/nvme0n1", OsPartition: "/dev/nvme0n1p3", Initrd: "/boot/initrd.img",
			Cmdline: "console=ttyS1", Kernel: "/boot/vmlinuz", BootloaderId: "ubuntu"}})
	require.NoError(t, err)
	m := l.machine("m1")
	assert.True(t, m.Allocation.Succeeded)
	assert.False(t, m.Allocation.Reinstall)
	assert.Equal(t, "console-secret", m.Allocation.ConsolePassword)
	assert.Equal(t, &machine.BootInfo{ImageID: image, PrimaryDisk: "/dev/nvme0n1", OSPartition: "/dev/nvme0n1p3", Initrd: "/boot/initrd.img",
		Cmdline: "console=ttyS1", Kernel: "/boot/vmlinuz", BootloaderID: "ubuntu"}, m.Allocation.BootInfo)
	for _, leaf := range []string{leafA, leafB} {
		sw, err := l.kit.Switches.Get(l.ctx, leaf)
		require.NoError(t, err)
		for _, n := range sw.Nics {
			want := switchstate.VRFNone
			if n.Name == port(1) {
				want = switchstate.TenantVRF(vrf)
			}
			assert.Equal(t, want, n.Vrf, "switch %s port %s", leaf, n.Name)
		}
	}

	_, err = l.boot.Report(ctx, &v1.BootServiceReportRequest{Uuid: "nope", Success: true, BootInfo: &v1.BootInfo{}})
	requireCode(t, err, codes.NotFound, `"nope"`)
}

// TestReportFailure: a failed installation changes no allocation and is
// recorded as a Crashed event with its message.
func TestReportFailure(t *testing.T) {
	l := newLab(t, nil)
	l.register("m1", 1)
	l.allocate("m1")
	before := l.machine("m1")
	_, err := l.boot.Report(context.Background(), &v1.BootServiceReportRequest{Uuid: "m1", Success: false, Message: "no disk found",
		BootInfo: &v1.BootInfo{}})
	require.NoError(t, err)
	assert.Equal(t, before, l.machine("m1"))
	c, err := l.kit.Machines.GetEvents(l.ctx, "m1")
	require.NoError(t, err)
	newest, ok := c.Newest()
	require.True(t, ok)
	assert.Equal(t, machine.EventCrashed, newest.Event)
	assert.Equal(t, "installation failed: no disk found", newest.Message)
	assert.True(t, c.CrashLoop)
}

// TestAbortReinstall: an aborted reinstall of a machine whose disk was not
// wiped returns to the installed image and answers its boot information;
// a wiped disk answers none; a free machine none; an unknown one NotFound.
func TestAbortReinstall(t *testing.T) {
	l := newLab(t, nil)
	ctx := context.Background()
	l.register("m1", 1)
	l.register("m2", 2)
	resp, err := l.boot.AbortReinstall(ctx, &v1.BootServiceAbortReinstallRequest{Uuid: "m2"})
	require.NoError(t, err)
	assert.Nil(t, resp.GetBootInfo(), "a free machine")

	l.allocate("m1")
	_, err = l.boot.Report(ctx, &v1.BootServiceReportRequest{Uuid: "m1", Success: true,
		BootInfo: &v1.BootInfo{PrimaryDisk: "/dev/nvme0n1", Kernel: "/boot/vmlinuz", Initrd: "/boot/initrd.img", Cmdline: "ro", BootloaderId: "ubuntu"}})
	require.NoError(t, err)
	_, err = l.kit.Machines.Reinstall(l.ctx, "m1", "debian-12")
	require.NoError(t, err)

	resp, err = l.boot.AbortReinstall(ctx, &v1.BootServiceAbortReinstallRequest{Uuid: "m1", PrimaryDiskWiped: true})
	require.NoError(t, err)
	assert.Nil(t, resp.GetBootInfo(), "nothing to boot on a wiped disk")
	assert.True(t, l.machine("m1").Allocation.Reinstall)

	resp, err = l.boot.AbortReinstall(ctx, &v1.BootServiceAbortReinstallRequest{Uuid: "m1"})
	require.NoError(t, err)
	want := &v1.BootInfo{ImageId: image, PrimaryDisk: "/dev/nvme0n1", Kernel: "/boot/vmlinuz", Initrd: "/boot/initrd.img",
		Cmdline: "ro", BootloaderId: "ubuntu"}
	assert.True(t, proto.Equal(want, resp.GetBootInfo()), "boot info %v", resp.GetBootInfo())
	m := l.machine("m1")
	assert.False(t, m.Allocation.Reinstall)
	assert.Equal(t, image, m.Allocation.ImageID, "back to the installed image")

	_, err = l.boot.AbortReinstall(ctx, &v1.BootServiceAbortReinstallRequest{Uuid: "nope"})
	requireCode(t, err, codes.NotFound, `"nope"`)
	_, err = l.boot.AbortReinstall(ctx, &v1.BootServiceAbortReinstallRequest{})
	requireCode(t, err, codes.InvalidArgument, "uuid is required")
}

// TestDhcp: the first DHCP request records PXE Booting, for an unknown
// machine on a stub.
func TestDhcp(t *testing.T) {
	l := newLab(t, nil)
	_, err := l.boot.Dhcp(context.Background(), &v1.BootServiceDhcpRequest{Uuid: "m9"})
	require.NoError(t, err)
	c, err := l.kit.Machines.GetEvents(l.ctx, "m9")
	require.NoError(t, err)
	require.Len(t, c.Events, 1)
	assert.Equal(t, machine.EventPXEBooting, c.Events[0].Event)
	assert.Equal(t, "machine sent extended dhcp request", c.Events[0].Message)
	assert.Equal(t, "m9", l.machine("m9").ID)

	_, err = l.boot.Dhcp(context.Background(), &v1.BootServiceDhcpRequest{})
	requireCode(t, err, codes.InvalidArgument, "uuid is required")
}

// TestBoot: the partition's boot configuration; an unknown partition is
// NotFound, one without a kernel FailedPrecondition.
func TestBoot(t *testing.T) {
	l := newLab(t, nil)
	ctx := context.Background()
	resp, err := l.boot.Boot(ctx, &v1.BootServiceBootRequest{Mac: "aa:00:00:00:01:00", PartitionId: partition})
	require.NoError(t, err)
	assert.Equal(t, kernelURL, resp.GetKernel())
	assert.Equal(t, []string{initrdURL}, resp.GetInitRamDisks())
	require.NotNil(t, resp.Cmdline)
	assert.Equal(t, cmdline, resp.GetCmdline())

	_, err = l.boot.Boot(ctx, &v1.BootServiceBootRequest{PartitionId: "nowhere"})
	requireCode(t, err, codes.NotFound, `"nowhere"`)
	_, err = l.boot.Boot(ctx, &v1.BootServiceBootRequest{PartitionId: "empty"})
	requireCode(t, err, codes.FailedPrecondition, `partition "empty"`, "bootconfig.kernelurl is empty")
	_, err = l.boot.Boot(ctx, &v1.BootServiceBootRequest{Mac: "aa:00:00:00:01:00"})
	requireCode(t, err, codes.InvalidArgument, "partition_id is required")
}

// TestSuperUserPassword: the configured password, or the feature
// disabled.
func TestSuperUserPassword(t *testing.T) {
	l := newLab(t, nil)
	resp, err := l.boot.SuperUserPassword(context.Background(), &v1.BootServiceSuperUserPasswordRequest{})
	require.NoError(t, err)
	assert.True(t, resp.GetFeatureDisabled())
	assert.Empty(t, resp.GetSuperUserPassword())

	l = newLab(t, &grpcapi.Options{SuperUserPassword: "bmc-secret"})
	resp, err = l.boot.SuperUserPassword(context.Background(), &v1.BootServiceSuperUserPasswordRequest{})
	require.NoError(t, err)
	assert.False(t, resp.GetFeatureDisabled())
	assert.Equal(t, "bmc-secret", resp.GetSuperUserPassword())
}
