package main

// The steps of the lab that the API server cannot serve yet, because it
// has no size and no machine routes: they call the kit the lab holds, as
// the user the request would have been signed by. Each is one function,
// to be replaced by its metal-go call when the route exists.

import (
	"context"
	"fmt"
	"io"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/switchstate"
)

// createSize creates size v1-small-x86 as the operator (metalctl size
// create): 1 to 4 cores, 1 to 4 GiB of memory, 1 to 100 GiB of storage.
func (l *lab) createSize(ctx context.Context) error {
	ctx = audit.NewContext(ctx, audit.Actor{User: adminUser, Admin: true})
	_, err := l.kit.Machines.CreateSize(ctx, machine.Size{
		ID: sizeID, Name: sizeID, Description: "the machines of the mini-lab",
		Constraints: []machine.Constraint{
			{Type: machine.CoreConstraint, Min: 1, Max: 4},
			{Type: machine.MemoryConstraint, Min: 1 << 30, Max: 4 << 30},
			{Type: machine.StorageConstraint, Min: 1 << 30, Max: 100 << 30},
		},
	})
	return err
}

// allocateMachine allocates machine id as the project's user (metalctl
// machine create --id <id> --hostname test ...): into the child network
// networkID, which gives it one IP per address family.
func (l *lab) allocateMachine(ctx context.Context, id, projectID, networkID string) error {
	ctx = audit.NewContext(ctx, audit.Actor{User: editUser})
	m, err := l.kit.Machines.Allocate(ctx, machine.AllocateRequest{
		UUID: id, Name: hostname, Description: "the test machine", Hostname: hostname,
		ProjectID: projectID, ImageID: imageID,
		Networks: []machine.AllocationNetwork{{NetworkID: networkID}},
	})
	if err != nil {
		return fmt.Errorf("allocating machine %s: %w", id, err)
	}
	var ips []string
	for _, n := range m.Allocation.Networks {
		for _, ip := range n.IPs {
			ips = append(ips, ip.String())
		}
	}
	l.log.Info("lab: machine allocated", "machine", id, "hostname", hostname, "ips", ips)
	return nil
}

// connectedMachines prints the partition's switches with the machines
// connected to them as `metalctl switch connected-machines -o wide` does,
// from the switches and machines of one read of the store.
func (l *lab) connectedMachines(ctx context.Context, w io.Writer) error {
	var (
		switches []*switchstate.Switch
		infos    = map[string]switchstate.MachineInfo{}
	)
	err := l.kit.View(ctx, func(tx *metalkit.Tx) error {
		var err error
		if switches, err = tx.Switches.List(switchstate.ListFilter{PartitionID: partitionID}); err != nil {
			return err
		}
		ms, err := tx.Machines.List(machine.Filter{PartitionID: partitionID})
		if err != nil {
			return err
		}
		for _, m := range ms {
			info := switchstate.MachineInfo{Partition: m.PartitionID, Rack: m.RackID, Size: m.SizeID,
				ProductSerial: m.IPMI.FRU.ProductSerial, ChassisSerial: m.IPMI.FRU.ChassisPartSerial}
			if m.Allocation != nil {
				info.Hostname = m.Allocation.Hostname
			}
			infos[m.ID] = info
		}
		return nil
	})
	if err != nil {
		return err
	}
	rows, err := switchstate.ConnectedMachines(switches, infos, switchstate.ViewOptions{Wide: true, Now: l.now()})
	if err != nil {
		return err
	}
	return switchstate.RenderConnectedMachines(w, rows, true)
}
