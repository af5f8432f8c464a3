package machine_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/switchstate"
)

// fleetPorts is the number of ports of a fleet's leaves, so the number of
// machines per rack.
const fleetPorts = 50

// fleet is a lab whose partition holds many machines that wait for an
// allocation, each wired to the two leaves of its rack, of sizes
// fleetSize(0) .. fleetSize(sizes-1) in turn.
//
// Registering them would read every switch of the partition for every
// machine (registration derives the wiring from all of them), so that
// 10,000 machines would take many minutes. A fleet stores each machine and
// its event container as registration and its provisioning events leave
// them (TestFleetMachinesAreRegisteredMachines shows they are the same),
// through the package's storage path, which keeps the indexes in step. The
// leaves of each rack sit in a wiring partition of their own, so that
// wiring a machine reads its two leaves only; the machines are in the lab's
// partition.
type fleet struct {
	*lab
	machines, sizes int
}

func fleetSize(i int) string { return fmt.Sprintf("size-%02d", i) }

func fleetMachineID(i int) string { return fmt.Sprintf("m%05d", i) }

// wiringPartition is the partition of rack r's leaves.
func wiringPartition(r int) string { return fmt.Sprintf("%s-wiring-%03d", partition, r) }

// newFleet returns a fleet of machines machines of sizes sizes over
// store.
func newFleet(tb testing.TB, store backends.Store, machines, sizes int) *fleet {
	tb.Helper()
	f := &fleet{lab: newLab(tb, store, &labOptions{switchless: true}), machines: machines, sizes: sizes}
	for s := range sizes {
		f.size(fleetSize(s), uint64(s+1), uint64(s+1))
	}
	for r := 1; (r-1)*fleetPorts < machines; r++ {
		f.rack(r, fleetPorts, wiringPartition(r))
		require.NoError(tb, f.store.Update(f.ctx, func(tx backends.Tx) error {
			for p := range fleetPorts {
				i := (r-1)*fleetPorts + p
				if i >= machines {
					break
				}
				if err := f.put(tx, i); err != nil {
					return err
				}
				m := f.machine(i)
				if _, _, err := switchstate.ConnectMachine(tx, m.ID, wiringPartition(r), machine.SwitchNics(m.Hardware.NICs)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	return f
}

// machine returns the fleet's machine i as it waits for an allocation.
func (f *fleet) machine(i int) *machine.Machine {
	r, p := i/fleetPorts+1, i%fleetPorts
	return &machine.Machine{
		ID: fleetMachineID(i), PartitionID: partition, RackID: rackID(r), SizeID: fleetSize(i % f.sizes), Waiting: true,
		Hardware: *hardware(r, p, uint32(i%f.sizes+1)), BIOS: machine.BIOS{Vendor: "AMI", Version: "2.1"},
		State:    machine.State{Value: machine.StateAvailable, MetalHammerVersion: "v0.13.0"},
		LEDState: machine.LEDState{Value: machine.LEDOff, Description: "Machine registered"},
		Created:  now, Changed: now,
	}
}

// provisioning are the events of a machine from its first boot until it
// waits.
var provisioning = []machine.EventType{machine.EventPXEBooting, machine.EventPreparing, machine.EventRegistering, machine.EventWaiting}

// container returns the event container of the fleet's machine i as it
// waits for an allocation.
func (f *fleet) container(tb testing.TB, i int) *machine.EventContainer {
	c := machine.EventContainer{ID: fleetMachineID(i), Liveliness: machine.Alive}
	for _, e := range provisioning {
		var err error
		c, err = machine.Transition(c, machine.ProvisioningEvent{Event: e}, now)
		require.NoError(tb, err)
	}
	return &c
}

// put stores the fleet's machine i and its container as they wait for an
// allocation.
func (f *fleet) put(tx backends.Tx, i int) error {
	return machine.StoreMachine(tx, f.machine(i), f.container(f.t, i))
}

// rewait stores machine id as it waits again after its reclaim, with the
// events it had before.
func (f *fleet) rewait(tb testing.TB, id string) {
	var i int
	_, err := fmt.Sscanf(id, "m%05d", &i)
	require.NoError(tb, err)
	require.NoError(tb, f.store.Update(f.ctx, func(tx backends.Tx) error { return f.put(tx, i) }))
}

// A fleet's machines, containers and indexes are what registration, the
// provisioning events and Wait leave behind.
func TestFleetMachinesAreRegisteredMachines(t *testing.T) {
	f := newFleet(t, memstore.New(), 3, 2)
	l := newLab(t, nil, nil)
	for s := range 2 {
		l.size(fleetSize(s), uint64(s+1), uint64(s+1))
	}
	for i := range 3 {
		id := fleetMachineID(i)
		l.register(id, 1, i, uint32(i%2+1))
		for _, e := range provisioning {
			_, err := l.svc.Event(l.ctx, id, string(e), "")
			require.NoError(t, err)
		}
		l.wait(id)
		want, err := l.svc.Get(l.ctx, id)
		require.NoError(t, err)
		got, err := f.svc.Get(f.ctx, id)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		wantEvents, err := l.svc.GetEvents(l.ctx, id)
		require.NoError(t, err)
		gotEvents, err := f.svc.GetEvents(f.ctx, id)
		require.NoError(t, err)
		assert.Equal(t, wantEvents, gotEvents)
	}
	for s := range 2 {
		for _, x := range []*lab{l, f.lab} {
			require.NoError(t, x.store.View(x.ctx, func(tx backends.Tx) error {
				cand, counts, err := machine.CandidateIndex(tx, partition, fleetSize(s))
				assert.Len(t, cand, 2-s, "candidates of %s", fleetSize(s))
				assert.Equal(t, map[string]int{rackID(1): 2 - s}, counts)
				return err
			}))
		}
	}
	sw, err := f.sws.Get(f.ctx, leafID(1, "a"))
	require.NoError(t, err)
	assert.Len(t, sw.Connections, 3, "the fleet's machines are wired")
}
