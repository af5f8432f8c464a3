package grpcapi

import (
	"context"
	"fmt"
	"unicode/utf8"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
	"github.com/metalkit/metalkit/machine"
)

// dhcpMessage is the message of the PXE Booting event that Dhcp records
// (metal-api's).
const dhcpMessage = "machine sent extended dhcp request"

// bootService implements v1.BootServiceServer.
type bootService struct {
	v1.UnimplementedBootServiceServer
	s *Server
}

// Dhcp records a PXE Booting event for machine uuid: the machine's first
// DHCP request (option 97) reached the boot server. An unknown machine gets
// a stub (the id only), so that its very first event is kept.
func (b *bootService) Dhcp(ctx context.Context, req *v1.BootServiceDhcpRequest) (*v1.BootServiceDhcpResponse, error) {
	if req.GetUuid() == "" {
		return nil, invalid("uuid is required")
	}
	ctx = b.s.callContext(ctx)
	if _, err := b.s.kit.Machines.Event(ctx, req.GetUuid(), string(machine.EventPXEBooting), dhcpMessage); err != nil {
		return nil, toStatus(err)
	}
	return &v1.BootServiceDhcpResponse{}, nil
}

// Boot answers what a machine of partition partition_id boots over PXE
// before it is installed: metal-hammer's kernel, its initrd and the kernel
// command line, from the partition's boot configuration in the catalog (as
// metal-api does; the mac is not used). An unknown partition is NotFound; a
// partition whose boot configuration lacks the kernel or the initrd URL is
// FailedPrecondition, naming the field.
func (b *bootService) Boot(ctx context.Context, req *v1.BootServiceBootRequest) (*v1.BootServiceBootResponse, error) {
	id := req.GetPartitionId()
	if id == "" {
		return nil, invalid("partition_id is required")
	}
	cfg, err := b.s.cat.PartitionBootConfig(ctx, id)
	if err != nil {
		return nil, toStatus(err)
	}
	for _, f := range []struct{ name, v string }{{"kernelurl", cfg.KernelURL}, {"imageurl", cfg.ImageURL}} {
		if f.v == "" {
			return nil, status.Errorf(codes.FailedPrecondition, "partition %s cannot boot machines: its bootconfig.%s is empty", errdefs.Quote(id), f.name)
		}
	}
	cmdline := cfg.CommandLine
	return &v1.BootServiceBootResponse{Kernel: cfg.KernelURL, InitRamDisks: []string{cfg.ImageURL}, Cmdline: &cmdline}, nil
}

// SuperUserPassword answers the BMC superuser password metal-hammer sets on
// the machine's BMC (Options.SuperUserPassword), or, when there is none,
// that the feature is disabled. (metal-api v0.40.3 answers the flag
// inverted, disabled exactly when a password is set.)
func (b *bootService) SuperUserPassword(context.Context, *v1.BootServiceSuperUserPasswordRequest) (*v1.BootServiceSuperUserPasswordResponse, error) {
	return &v1.BootServiceSuperUserPasswordResponse{FeatureDisabled: b.s.password == "", SuperUserPassword: b.s.password}, nil
}

// Register creates or updates machine uuid from metal-hammer's inventory
// (see machine.Service.Register): the size is identified, the machine wired
// to the two switches its NICs' LLDP neighbours name, rack and partition
// taken from them. It answers the machine's id, size and partition. Any
// failure (no hardware or bios, neighbours on one switch, switches in two
// racks) writes nothing.
func (b *bootService) Register(ctx context.Context, req *v1.BootServiceRegisterRequest) (*v1.BootServiceRegisterResponse, error) {
	if req.GetUuid() == "" {
		return nil, invalid("uuid is required")
	}
	ctx = b.s.callContext(ctx)
	m, _, err := b.s.kit.Machines.Register(ctx, registerRequest(req, b.s.clock()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.BootServiceRegisterResponse{Uuid: m.ID, Size: m.SizeID, PartitionId: m.PartitionID}, nil
}

// Report records machine uuid's install report. A successful one stores the
// console password and the boot information (its image is the
// allocation's), ends a pending reinstall, marks the allocation succeeded
// and sets the VRF of the machine's switch ports, in one transaction (see
// machine.Service.Report); the machine must be allocated
// (FailedPrecondition otherwise). A failed one (success false) changes no
// allocation and records a Crashed event with the report's message, so that
// the failure shows in the machine's events and issues; metal-api stores it
// as if it had succeeded.
func (b *bootService) Report(ctx context.Context, req *v1.BootServiceReportRequest) (*v1.BootServiceReportResponse, error) {
	id := req.GetUuid()
	if id == "" {
		return nil, invalid("uuid is required")
	}
	if req.GetSuccess() && req.GetBootInfo() == nil {
		return nil, invalid("boot_info is required in a successful report")
	}
	ctx = b.s.callContext(ctx)
	err := b.s.kit.Update(ctx, func(tx *metalkit.Tx) error {
		m, err := tx.Machines.Get(id)
		if err != nil {
			return err
		}
		if !req.GetSuccess() {
			_, err := tx.Machines.Event(id, string(machine.EventCrashed), failedInstall(req.GetMessage()))
			return err
		}
		var image string
		if m.Allocation != nil {
			image = m.Allocation.ImageID
		}
		_, err = tx.Machines.Report(id, reportRequest(req, image))
		return err
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.BootServiceReportResponse{}, nil
}

// failedInstall is the message of the Crashed event of a failed install
// report, cut to the limit of a message.
func failedInstall(msg string) string {
	out := "installation failed"
	if msg != "" {
		out = fmt.Sprintf("%s: %s", out, msg)
	}
	if len(out) <= limits.MaxDescription {
		return out
	}
	cut := limits.MaxDescription
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut]
}

// AbortReinstall ends a pending reinstall of machine uuid that failed (see
// machine.Service.AbortReinstall): when the primary disk was not wiped, the
// reinstall mark is removed and the image set back to the installed one,
// and the answer carries the installed system's boot information, which
// metal-hammer boots into. A wiped disk, a free machine, or one that never
// reported an installation, answer no boot information.
func (b *bootService) AbortReinstall(ctx context.Context, req *v1.BootServiceAbortReinstallRequest) (*v1.BootServiceAbortReinstallResponse, error) {
	if req.GetUuid() == "" {
		return nil, invalid("uuid is required")
	}
	ctx = b.s.callContext(ctx)
	old, err := b.s.kit.Machines.AbortReinstall(ctx, req.GetUuid(), req.GetPrimaryDiskWiped())
	if err != nil {
		return nil, toStatus(err)
	}
	if req.GetPrimaryDiskWiped() {
		return &v1.BootServiceAbortReinstallResponse{}, nil
	}
	return &v1.BootServiceAbortReinstallResponse{BootInfo: bootInfo(old)}, nil
}
