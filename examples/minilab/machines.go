package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	mclient "github.com/metal-stack/metal-go/api/client/machine"
	"github.com/metal-stack/metal-go/api/models"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/metalkit/metalkit/machine"
)

// labMachine is one of the lab's machines, as its metal-hammer knows it.
type labMachine struct {
	// n numbers the machines from 1.
	n  int
	id string
	// port is the machine's port on both leaves.
	port string

	// waited receives the end of the machine's Wait stream: nil once it
	// ended with OK (the machine is allocated).
	waited chan error
	// stop ends the Wait stream, as a metal-hammer that goes away does.
	stop context.CancelFunc
}

// newMachines returns the lab's two machines, wired to the first two
// ports of the leaves, with UUIDs from newID.
func newMachines(newID func() string) []*labMachine {
	ms := make([]*labMachine, 2)
	for i := range ms {
		ms[i] = &labMachine{n: i + 1, id: newID(), port: machinePorts[i].name}
	}
	return ms
}

// The messages metal-hammer sends with its events.
const (
	msgPXE         = "machine sent extended dhcp request"
	msgPreparing   = "starting metal-hammer"
	msgRegistering = "start registering"
	msgWaiting     = "waiting for allocation"
	msgInstalling  = "start installation"
	msgBooting     = "boot into new kernel"
	msgPhonedHome  = "phoned home"
)

// bootToWaiting plays m's metal-hammer up to waiting for an allocation:
// the boot configuration pixiecore asks for, the events PXE Booting,
// Preparing and Registering, the registration with the machine's hardware
// and LLDP neighbours, the event Waiting and a Wait stream, which runs on
// until the machine is allocated or stopWaiting is called.
func (l *lab) bootToWaiting(ctx context.Context, m *labMachine) error {
	boot, err := l.boot.Boot(ctx, &v1.BootServiceBootRequest{Mac: nicMAC(m, 0), PartitionId: partitionID})
	if err != nil {
		return fmt.Errorf("machine %d: boot: %w", m.n, err)
	}
	l.log.Info("lab: machine boots metal-hammer", "machine", m.id, "kernel", boot.GetKernel())
	if err := l.send(ctx, m, hammerEvent{machine.EventPXEBooting, msgPXE}, hammerEvent{machine.EventPreparing, msgPreparing},
		hammerEvent{machine.EventRegistering, msgRegistering}); err != nil {
		return err
	}
	reg, err := l.boot.Register(ctx, registration(m))
	if err != nil {
		return fmt.Errorf("machine %d: register: %w", m.n, err)
	}
	if reg.GetSize() != sizeID {
		return fmt.Errorf("machine %d: registered with size %q, want %q", m.n, reg.GetSize(), sizeID)
	}
	if err := l.send(ctx, m, hammerEvent{machine.EventWaiting, msgWaiting}); err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	stream, err := l.boot.Wait(wctx, &v1.BootServiceWaitRequest{MachineId: m.id})
	if err != nil {
		stop()
		return fmt.Errorf("machine %d: wait: %w", m.n, err)
	}
	m.stop, m.waited = stop, make(chan error, 1)
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				m.waited <- err
				return
			}
		}
	}()
	l.log.Info("lab: machine waits for an allocation", "machine", m.id, "size", reg.GetSize())
	return nil
}

// stopWaiting ends m's Wait stream, if it still runs, and waits for its
// end.
func (m *labMachine) stopWaiting() {
	if m.stop == nil {
		return
	}
	m.stop()
	<-m.waited
	m.stop = nil
}

// allocate allocates m as the project's user (metalctl machine create --id
// <id> --hostname test ...): into the child network networkID, which gives
// it one IP per address family.
func (l *lab) allocate(ctx context.Context, m *labMachine, projectID, networkID string) error {
	resp, err := l.edit.Machine().AllocateMachine(mclient.NewAllocateMachineParamsWithContext(ctx).WithBody(&models.V1MachineAllocateRequest{
		UUID: m.id, Name: hostname, Description: "the test machine", Hostname: hostname,
		Projectid: ptr(projectID), Partitionid: ptr(partitionID), Sizeid: ptr(sizeID), Imageid: ptr(imageID),
		Networks: []*models.V1MachineAllocationNetwork{{Networkid: ptr(networkID)}},
	}), nil)
	if err != nil {
		return fmt.Errorf("allocating machine %s: %w", m.id, err)
	}
	var ips []string
	if a := resp.Payload.Allocation; a != nil {
		for _, n := range a.Networks {
			ips = append(ips, n.Ips...)
		}
	}
	l.log.Info("lab: machine allocated", "machine", m.id, "hostname", hostname, "ips", ips)
	return nil
}

// install plays m's metal-hammer once its Wait stream has ended: the event
// Installing, the install report (the server puts the machine's switch
// ports into its network's VRF), the event Booting New Kernel, and the
// installed system's Phoned Home.
func (l *lab) install(ctx context.Context, m *labMachine) error {
	select {
	case err := <-m.waited:
		m.stop()
		m.stop = nil
		if err != nil {
			return fmt.Errorf("machine %d: the wait ended with %w", m.n, err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := l.send(ctx, m, hammerEvent{machine.EventInstalling, msgInstalling}); err != nil {
		return err
	}
	_, err := l.boot.Report(ctx, &v1.BootServiceReportRequest{
		Uuid: m.id, Success: true, ConsolePassword: newKey()[:16],
		BootInfo: &v1.BootInfo{
			ImageId: imageID, PrimaryDisk: "/dev/sda", OsPartition: "/dev/sda1",
			Initrd: "/boot/initrd.img", Kernel: "/boot/vmlinuz", BootloaderId: "metal-ubuntu",
			Cmdline: "console=ttyS0,115200n8 root=/dev/sda1 net.ifnames=0",
		},
	})
	if err != nil {
		return fmt.Errorf("machine %d: install report: %w", m.n, err)
	}
	if err := l.send(ctx, m, hammerEvent{machine.EventBootingNewKernel, msgBooting}, hammerEvent{machine.EventPhonedHome, msgPhonedHome}); err != nil {
		return err
	}
	l.log.Info("lab: machine installed and phoned home", "machine", m.id)
	return nil
}

// hammerEvent is a provisioning event metal-hammer sends, with its
// message.
type hammerEvent struct {
	typ machine.EventType
	msg string
}

// send sends m's events through the event service, one call each, in
// order, as metal-hammer does.
func (l *lab) send(ctx context.Context, m *labMachine, evs ...hammerEvent) error {
	for _, ev := range evs {
		resp, err := l.events.Send(ctx, &v1.EventServiceSendRequest{Events: map[string]*v1.MachineProvisioningEvent{
			m.id: {Time: timestamppb.New(l.now()), Event: string(ev.typ), Message: ev.msg},
		}})
		if err == nil && len(resp.GetFailed()) > 0 {
			err = errors.New("the server did not store it")
		}
		if err != nil {
			return fmt.Errorf("machine %d: event %s: %w", m.n, ev.typ, err)
		}
	}
	return nil
}

// registration is m's inventory as metal-hammer sends it: 2 cores, 2 GiB
// of memory and a 20 GiB disk (size v1-small-x86), two NICs whose LLDP
// neighbours are m's port on leaf01 and on leaf02, BIOS and BMC data.
func registration(m *labMachine) *v1.BootServiceRegisterRequest {
	product, chassis := fmt.Sprintf("PS-MINI-LAB-%02d", m.n), fmt.Sprintf("CS-MINI-LAB-%02d", m.n)
	nics := make([]*v1.MachineNic, len(leaves))
	for i, leaf := range leaves {
		p := machinePorts[m.n-1]
		nics[i] = &v1.MachineNic{
			Name: fmt.Sprintf("lan%d", i), Mac: nicMAC(m, i),
			Neighbors: []*v1.MachineNic{{Hostname: leaf.id, Name: p.name, Identifier: p.identifier, Mac: portMAC(leaf, p)}},
		}
	}
	return &v1.BootServiceRegisterRequest{
		Uuid:        m.id,
		PartitionId: partitionID,
		Hardware: &v1.MachineHardware{
			Memory: 2 << 30,
			Cpus:   []*v1.MachineCPU{{Vendor: "GenuineIntel", Model: "Intel Xeon Processor (Cascadelake)", Cores: 2, Threads: 2}},
			Disks:  []*v1.MachineBlockDevice{{Name: "/dev/sda", Size: 20 << 30}},
			Nics:   nics,
		},
		Bios: &v1.MachineBIOS{Version: "1.16.3", Vendor: "SeaBIOS", Date: "04/01/2014"},
		Ipmi: &v1.MachineIPMI{
			Address: fmt.Sprintf("10.255.1.%d:623", m.n), Mac: fmt.Sprintf("aa:c1:ab:00:%02x:ff", m.n),
			User: "ADMIN", Password: "ADMIN", Interface: "lanplus", BmcVersion: "1.0", PowerState: "ON",
			Fru: &v1.MachineFRU{ProductSerial: &product, ChassisPartSerial: &chassis},
		},
		MetalHammerVersion: "v0.13.9",
	}
}

// nicMAC is the MAC of m's NIC i (lan<i>).
func nicMAC(m *labMachine, i int) string { return fmt.Sprintf("aa:c1:ab:00:%02x:%02x", m.n, i) }
