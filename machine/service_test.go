package machine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/switchstate"
)

func connectionsOf(t *testing.T, l *lab, switchID string) map[string]string {
	t.Helper()
	sw, err := l.sws.Get(l.ctx, switchID)
	require.NoError(t, err)
	out := map[string]string{}
	for _, c := range sw.Connections {
		out[c.Nic.Name] = c.MachineID
	}
	return out
}

// Registration, events and delete on every store.
func TestRegisterEventDeleteOnEveryStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		l := newLab(t, s, nil)
		l.size("small", 1, 4)
		m, created, err := l.svc.Register(l.ctx, machine.RegisterRequest{ID: "m1", PartitionID: partition,
			Hardware: hardware(1, 0, 4), BIOS: &machine.BIOS{Version: "1"}, MetalHammerVersion: "v1", Tags: []string{"a"},
			IPMI: &machine.IPMI{Address: "10.1.1.1", MacAddress: "bb:00:00:00:00:01"}})
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, "rack01", m.RackID)
		assert.Equal(t, "small", m.SizeID)
		assert.Equal(t, machine.LEDState{Value: machine.LEDOff, Description: "Machine registered"}, m.LEDState)
		assert.Equal(t, "v1", m.State.MetalHammerVersion)
		assert.Equal(t, map[string]string{"Ethernet0": "m1"}, connectionsOf(t, l, "r1-leaf-a"))
		c, err := l.svc.GetEvents(l.ctx, "m1")
		require.NoError(t, err)
		assert.Equal(t, machine.Alive, c.Liveliness)

		// Again, with other tags and no ipmi: tags and ipmi stay.
		_, _, err = l.svc.Register(l.ctx, machine.RegisterRequest{ID: "m1", PartitionID: partition,
			Hardware: hardware(1, 0, 4), BIOS: &machine.BIOS{Version: "2"}, MetalHammerVersion: "v2", Tags: []string{"b"}})
		require.NoError(t, err)
		m, err = l.svc.Get(l.ctx, "m1")
		require.NoError(t, err)
		assert.Equal(t, []string{"a"}, m.Tags)
		assert.Equal(t, "10.1.1.1", m.IPMI.Address, "ipmi only when sent (fix)")
		assert.Equal(t, "2", m.BIOS.Version)
		assert.Equal(t, "v2", m.State.MetalHammerVersion)

		for _, ev := range []string{"PXE Booting", "Preparing", "Registering", "Waiting"} {
			_, err := l.svc.Event(l.ctx, "m1", ev, "")
			require.NoError(t, err)
		}
		res, err := l.svc.SendEvents(l.ctx, []machine.Event{{MachineID: "m1", Event: "Installing"}, {MachineID: "m2", Event: "PXE Booting"},
			{MachineID: "m3", Event: "Crashd"}})
		require.NoError(t, err)
		assert.Equal(t, 2, res.Events)
		require.Len(t, res.Failed, 1)
		assert.Equal(t, "m3", res.Failed[0].MachineID)
		assert.ErrorIs(t, res.Failed[0].Err, machine.ErrInvalidArgument)
		c, err = l.svc.GetEvents(l.ctx, "m1")
		require.NoError(t, err)
		require.Len(t, c.Events, 5)
		assert.Equal(t, machine.EventInstalling, c.Events[0].Event)
		stub, err := l.svc.Get(l.ctx, "m2")
		require.NoError(t, err, "an event for an unknown machine creates a stub")
		assert.Equal(t, machine.Machine{ID: "m2", Created: now, Changed: now}, *stub)
		_, err = l.svc.Get(l.ctx, "m3")
		assert.ErrorIs(t, err, machine.ErrNotFound, "a failed event stores nothing")

		// Scenario 7: an Alive container refuses the delete; Dead deletes.
		_, err = l.svc.Delete(l.ctx, "m1")
		assert.ErrorIs(t, err, machine.ErrConflict)
		l.clock.Set(now.Add(10 * time.Minute))
		_, err = l.svc.Liveliness(l.ctx)
		require.NoError(t, err)
		deleted, err := l.svc.Delete(l.ctx, "m1")
		require.NoError(t, err)
		assert.Equal(t, "m1", deleted.ID)
		_, err = l.svc.Get(l.ctx, "m1")
		assert.ErrorIs(t, err, machine.ErrNotFound)
		_, err = l.svc.GetEvents(l.ctx, "m1")
		assert.ErrorIs(t, err, machine.ErrNotFound, "the container goes with the machine (fix)")
		assert.Empty(t, connectionsOf(t, l, "r1-leaf-a"))
		assert.Empty(t, connectionsOf(t, l, "r1-leaf-b"))
	})
}

// Scenario 8, and a failure at the switch step on every store: nothing is
// written, not even the machine.
func TestRegisterFailingAtTheSwitchWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		l := newLab(t, s, nil)
		hw := hardware(1, 0, 4)
		hw.NICs = hw.NICs[:1] // one switch only
		before := backendtest.Dump(t, s)
		_, _, err := l.svc.Register(l.ctx, machine.RegisterRequest{ID: "m1", PartitionID: partition, Hardware: hw, BIOS: &machine.BIOS{}})
		require.Error(t, err)
		assert.ErrorIs(t, err, switchstate.ErrInvalidArgument)
		assert.Contains(t, err.Error(), "found connections to 1 switches")
		backendtest.Unchanged(t, before, s)
	})
}

func TestRegisterValidation(t *testing.T) {
	l := newLab(t, nil, nil)
	before := backendtest.Dump(t, l.store)
	_, _, err := l.svc.Register(l.ctx, machine.RegisterRequest{})
	requireProblems(t, err, machine.ErrInvalidArgument, "uuid", "hardware", "bios")
	_, _, err = l.svc.Register(l.ctx, machine.RegisterRequest{ID: "m\x00", Hardware: &machine.Hardware{}, BIOS: &machine.BIOS{}})
	requireProblems(t, err, machine.ErrInvalidArgument, "uuid")
	backendtest.Unchanged(t, before, l.store)
}

// Scenario 9 through the service: identification at registration and the
// overlap rule.
func TestSizesIdentifiedAtRegistration(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("s1", 1, 4)
	l.size("s2", 5, 8)
	assert.Equal(t, "s1", l.register("m3", 1, 0, 3).SizeID)
	assert.Equal(t, machine.UnknownSize, l.register("m9", 1, 1, 9).SizeID)
	_, err := l.svc.CreateSize(l.ctx, machine.Size{ID: "s3", Constraints: []machine.Constraint{{Type: machine.CoreConstraint, Min: 2, Max: 6}}})
	assert.ErrorIs(t, err, machine.ErrConflict)
	_, err = l.svc.CreateSize(l.ctx, machine.Size{ID: "s1", Constraints: []machine.Constraint{{Type: machine.CoreConstraint, Min: 20, Max: 30}}})
	assert.ErrorIs(t, err, machine.ErrConflict, "the id is taken")

	_, err = l.svc.UpdateSize(l.ctx, machine.Size{ID: "s2", Constraints: []machine.Constraint{{Type: machine.CoreConstraint, Min: 5, Max: 9}}})
	require.NoError(t, err)
	assert.Equal(t, "s2", l.register("m9", 1, 1, 9).SizeID, "identified again at every registration")

	_, err = l.svc.CreateReservation(l.ctx, machine.SizeReservation{SizeID: "s1", PartitionIDs: []string{partition}, ProjectID: "p1", Amount: 1})
	require.NoError(t, err)
	_, err = l.svc.DeleteSize(l.ctx, "s1")
	assert.ErrorIs(t, err, machine.ErrConflict, "a size named by a reservation cannot be deleted")
	_, err = l.svc.DeleteSize(l.ctx, "s2")
	require.NoError(t, err)
	sizes, err := l.svc.ListSizes(l.ctx)
	require.NoError(t, err)
	require.Len(t, sizes, 1)
	assert.Equal(t, "s1", sizes[0].ID)
}

func TestReservationsCRUD(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("s1", 1, 4)
	before := backendtest.Dump(t, l.store)
	_, err := l.svc.CreateReservation(l.ctx, machine.SizeReservation{SizeID: "nope", PartitionIDs: []string{partition}, ProjectID: "p1", Amount: 1})
	assert.ErrorIs(t, err, machine.ErrNotFound)
	_, err = l.svc.CreateReservation(l.ctx, machine.SizeReservation{SizeID: "s1", PartitionIDs: []string{partition, partition}, ProjectID: "", Amount: 0})
	requireProblems(t, err, machine.ErrInvalidArgument, "amount", "partitionids[1]", "projectid")
	backendtest.Unchanged(t, before, l.store)

	var ids []string
	for _, p := range []string{"p3", "p1", "p2"} {
		r, err := l.svc.CreateReservation(l.ctx, machine.SizeReservation{SizeID: "s1", PartitionIDs: []string{partition}, ProjectID: p, Amount: 2})
		require.NoError(t, err)
		ids = append(ids, r.ID)
	}
	list, err := l.svc.ListReservations(l.ctx, machine.ReservationFilter{})
	require.NoError(t, err)
	require.Len(t, list, 3)
	assert.Equal(t, []string{"p3", "p1", "p2"}, []string{list[0].ProjectID, list[1].ProjectID, list[2].ProjectID}, "creation order")
	upd, err := l.svc.UpdateReservation(l.ctx, machine.SizeReservation{ID: ids[0], SizeID: "s1", PartitionIDs: []string{partition}, ProjectID: "p3", Amount: 5})
	require.NoError(t, err)
	assert.Equal(t, 5, upd.Amount)
	list, err = l.svc.ListReservations(l.ctx, machine.ReservationFilter{ProjectID: "p3"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, 5, list[0].Amount, "an update keeps the place and the id")
	for _, id := range ids {
		_, err := l.svc.DeleteReservation(l.ctx, id)
		require.NoError(t, err)
	}
	_, err = l.svc.GetReservation(l.ctx, ids[0])
	assert.ErrorIs(t, err, machine.ErrNotFound)
	assert.Empty(t, state(t, l.store).Diff(stateOf(before), 0), "nothing of the reservations is left")
}

// Scenario 6: liveliness and resurrection.
func TestLivelinessAndResurrection(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("small", 1, 4)
	l.register("free", 1, 0, 4)
	l.candidate("busy", 1, 1)
	_, err := l.svc.Allocate(l.ctx, allocation("p1", l.childNetwork("p1").ID))
	require.NoError(t, err)
	for _, id := range []string{"free", "busy"} {
		_, err := l.svc.Event(l.ctx, id, "Alive", "")
		require.NoError(t, err)
	}

	l.clock.Set(now.Add(time.Minute))
	res, err := l.svc.Liveliness(l.ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Alive)
	assert.Equal(t, 0, res.Changed)

	l.clock.Set(now.Add(6 * time.Minute))
	res, err = l.svc.Liveliness(l.ctx)
	require.NoError(t, err)
	assert.Equal(t, machine.LivelinessResult{Dead: 1, Unknown: 1, Changed: 2}, *res)
	c, err := l.svc.GetEvents(l.ctx, "free")
	require.NoError(t, err)
	assert.Equal(t, machine.Dead, c.Liveliness)
	c, err = l.svc.GetEvents(l.ctx, "busy")
	require.NoError(t, err)
	assert.Equal(t, machine.Unknown, c.Liveliness, "an allocated machine may not phone home")

	ids, err := l.svc.Resurrect(l.ctx)
	require.NoError(t, err)
	assert.Empty(t, ids, "dead for less than an hour")
	l.clock.Set(now.Add(2 * time.Hour))
	ids, err = l.svc.Resurrect(l.ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"free"}, ids)
	c, err = l.svc.GetEvents(l.ctx, "free")
	require.NoError(t, err)
	assert.Equal(t, machine.EventMachineReclaim, c.Events[0].Event)
	assert.Equal(t, "free machine called", c.Events[0].Message)
}

func TestStateLEDAndIPMI(t *testing.T) {
	l := newLab(t, nil, nil)
	l.register("m1", 1, 0, 4)
	m, err := l.svc.SetState(l.ctx, "m1", "reserved", "")
	requireProblems(t, err, machine.ErrInvalidArgument, "description")
	assert.Nil(t, m)
	m, err = l.svc.SetState(l.ctx, "m1", "tainted", "broken disk")
	require.NoError(t, err)
	assert.Equal(t, machine.State{Value: machine.StateReserved, Description: "broken disk", Issuer: "alice", MetalHammerVersion: "v0.13.0"}, m.State)
	m, err = l.svc.SetState(l.ctx, "m1", "", "")
	require.NoError(t, err)
	assert.Equal(t, machine.State{MetalHammerVersion: "v0.13.0"}, m.State, "the issuer is cleared on available, the hammer version kept (fix)")
	_, err = l.svc.SetState(l.ctx, "m1", "broken", "x")
	assert.ErrorIs(t, err, machine.ErrInvalidArgument)
	m, err = l.svc.SetLED(l.ctx, "m1", "led-on", "find me")
	require.NoError(t, err)
	assert.Equal(t, machine.LEDState{Value: machine.LEDOn, Description: "find me"}, m.LEDState)
	l.clock.Set(now.Add(time.Hour))
	m, err = l.svc.SetIPMI(l.ctx, "m1", machine.IPMI{Address: "10.0.0.9:623", User: "admin"})
	require.NoError(t, err)
	assert.Equal(t, now.Add(time.Hour), m.IPMI.LastUpdated)
	_, err = l.svc.SetState(l.ctx, "nope", "", "")
	assert.ErrorIs(t, err, machine.ErrNotFound)
}

func TestWaitClearsTheFlagOnCancel(t *testing.T) {
	l := newLab(t, nil, nil)
	l.register("m1", 1, 0, 4)
	ctx, cancel := contextWithCancel(l)
	done := make(chan error, 1)
	go func() { _, err := l.svc.Wait(ctx, "m1"); done <- err }()
	require.Eventually(t, func() bool { m, _ := l.svc.Get(l.ctx, "m1"); return m.Waiting }, 5*time.Second, time.Millisecond)
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	m, err := l.svc.Get(l.ctx, "m1")
	require.NoError(t, err)
	assert.False(t, m.Waiting, "the flag is cleared on cancellation (fix)")
	_, err = l.svc.Wait(l.ctx, "nope")
	assert.ErrorIs(t, err, machine.ErrNotFound)
}

func TestAuditEntries(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("small", 1, 4)
	l.candidate("m1", 1, 0)
	child := l.childNetwork("p1")
	m, err := l.svc.Allocate(l.ctx, allocation("p1", child.ID))
	require.NoError(t, err)
	_, err = l.svc.Free(l.ctx, m.ID)
	require.NoError(t, err)
	res, err := l.trail.Search(l.ctx, audit.Filter{Type: audit.TypeEvent, Path: "machine/"})
	require.NoError(t, err)
	var details []string
	for _, e := range res.Entries {
		details = append(details, e.Detail)
		assert.Equal(t, "alice", e.User)
	}
	assert.Equal(t, []string{"machine.free", "machine.allocate", "machine.register"}, details,
		"one entry per committed change; events and the waiting flag are telemetry")
}

func TestListFilters(t *testing.T) {
	l := newLab(t, nil, nil)
	l.size("small", 1, 4)
	l.candidate("m1", 1, 0)
	l.register("m2", 1, 1, 4)
	child := l.childNetwork("p1")
	m, err := l.svc.Allocate(l.ctx, allocation("p1", child.ID))
	require.NoError(t, err)
	ids := func(f machine.Filter) []string {
		ms, err := l.svc.List(l.ctx, f)
		require.NoError(t, err)
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	succeeded := false
	assert.Equal(t, []string{"m1"}, ids(machine.Filter{AllocationName: "web"}))
	assert.Equal(t, []string{"m1"}, ids(machine.Filter{NetworkIDs: []string{child.ID}, IPs: m.Allocation.Networks[0].IPs}))
	assert.Equal(t, []string{"m1"}, ids(machine.Filter{ImageID: "ubuntu-24.04", Succeeded: &succeeded}))
	assert.Equal(t, []string{"m2"}, ids(machine.Filter{NICMACs: []string{"aa:00:00:01:01:00"}}))
	assert.Equal(t, []string{"m1", "m2"}, ids(machine.Filter{DiskNames: []string{"/dev/nvme0n1"}, Memory: 32 << 30}))
	assert.Empty(t, ids(machine.Filter{Name: "nope"}))
}
