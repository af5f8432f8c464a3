package grpcapi

import (
	"slices"
	"strings"
	"time"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"

	"github.com/metalkit/metalkit/machine"
)

// registerRequest converts metal-hammer's registration into the library's.
// A missing hardware or bios stays nil, for the library to refuse with the
// field's name; a missing ipmi stays nil, which keeps a registered
// machine's IPMI data. The IPMI data's last_updated is now.
func registerRequest(req *v1.BootServiceRegisterRequest, now time.Time) machine.RegisterRequest {
	r := machine.RegisterRequest{
		ID:                 req.GetUuid(),
		PartitionID:        req.GetPartitionId(),
		Tags:               slices.Clone(req.GetTags()),
		MetalHammerVersion: req.GetMetalHammerVersion(),
	}
	if h := req.GetHardware(); h != nil {
		r.Hardware = hardware(h)
	}
	if b := req.GetBios(); b != nil {
		r.BIOS = &machine.BIOS{Version: b.GetVersion(), Vendor: b.GetVendor(), Date: b.GetDate()}
	}
	if i := req.GetIpmi(); i != nil {
		r.IPMI = ipmi(i, now)
	}
	return r
}

// hardware converts metal-hammer's inventory; lists are never nil.
func hardware(h *v1.MachineHardware) *machine.Hardware {
	out := &machine.Hardware{
		Memory: h.GetMemory(),
		CPUs:   make([]machine.CPU, 0, len(h.GetCpus())),
		Disks:  make([]machine.BlockDevice, 0, len(h.GetDisks())),
		NICs:   make([]machine.NIC, 0, len(h.GetNics())),
		GPUs:   make([]machine.GPU, 0, len(h.GetGpus())),
	}
	for _, c := range h.GetCpus() {
		out.CPUs = append(out.CPUs, machine.CPU{Vendor: c.GetVendor(), Model: c.GetModel(), Cores: c.GetCores(), Threads: c.GetThreads()})
	}
	for _, d := range h.GetDisks() {
		out.Disks = append(out.Disks, machine.BlockDevice{Name: d.GetName(), Size: d.GetSize()})
	}
	for _, g := range h.GetGpus() {
		out.GPUs = append(out.GPUs, machine.GPU{Vendor: g.GetVendor(), Model: g.GetModel()})
	}
	for _, n := range h.GetNics() {
		nic := machine.NIC{MacAddress: n.GetMac(), Name: n.GetName(), Identifier: n.GetIdentifier(),
			Neighbors: make([]machine.Neighbor, 0, len(n.GetNeighbors()))}
		for _, nb := range n.GetNeighbors() {
			nic.Neighbors = append(nic.Neighbors, machine.Neighbor{MacAddress: nb.GetMac(), Name: nb.GetName(),
				Identifier: nb.GetIdentifier(), Hostname: nb.GetHostname()})
		}
		out.NICs = append(out.NICs, nic)
	}
	return out
}

// ipmi converts the BMC's data; an absent FRU field is empty.
func ipmi(i *v1.MachineIPMI, now time.Time) *machine.IPMI {
	out := &machine.IPMI{
		Address:     i.GetAddress(),
		MacAddress:  i.GetMac(),
		User:        i.GetUser(),
		Password:    i.GetPassword(),
		Interface:   i.GetInterface(),
		BMCVersion:  i.GetBmcVersion(),
		PowerState:  i.GetPowerState(),
		LastUpdated: now,
	}
	if f := i.GetFru(); f != nil {
		out.FRU = machine.FRU{
			ChassisPartNumber:   f.GetChassisPartNumber(),
			ChassisPartSerial:   f.GetChassisPartSerial(),
			BoardMfg:            f.GetBoardMfg(),
			BoardMfgSerial:      f.GetBoardMfgSerial(),
			BoardPartNumber:     f.GetBoardPartNumber(),
			ProductManufacturer: f.GetProductManufacturer(),
			ProductPartNumber:   f.GetProductPartNumber(),
			ProductSerial:       f.GetProductSerial(),
		}
	}
	return out
}

// reportRequest converts an install report. The boot information's image
// is imageID, the allocation's: the server knows which image it had
// installed (metal-hammer sends none).
func reportRequest(req *v1.BootServiceReportRequest, imageID string) machine.ReportRequest {
	b := req.GetBootInfo()
	return machine.ReportRequest{
		ConsolePassword: req.GetConsolePassword(),
		BootInfo: machine.BootInfo{
			ImageID:      imageID,
			PrimaryDisk:  b.GetPrimaryDisk(),
			OSPartition:  b.GetOsPartition(),
			Initrd:       b.GetInitrd(),
			Cmdline:      b.GetCmdline(),
			Kernel:       b.GetKernel(),
			BootloaderID: b.GetBootloaderId(),
		},
	}
}

// bootInfo converts stored boot information; nil gives nil.
func bootInfo(b *machine.BootInfo) *v1.BootInfo {
	if b == nil {
		return nil
	}
	return &v1.BootInfo{
		ImageId:      b.ImageID,
		PrimaryDisk:  b.PrimaryDisk,
		OsPartition:  b.OSPartition,
		Initrd:       b.Initrd,
		Cmdline:      b.Cmdline,
		Kernel:       b.Kernel,
		BootloaderId: b.BootloaderID,
	}
}

// events converts a batch of events, ordered by machine id so that a batch
// is applied in the same order every time. A nil event has no type and
// fails.
func events(req *v1.EventServiceSendRequest) []machine.Event {
	out := make([]machine.Event, 0, len(req.GetEvents()))
	for id, ev := range req.GetEvents() {
		out = append(out, machine.Event{MachineID: id, Event: ev.GetEvent(), Message: ev.GetMessage()})
	}
	slices.SortFunc(out, func(a, b machine.Event) int { return strings.Compare(a.MachineID, b.MachineID) })
	return out
}
