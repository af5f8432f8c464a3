package machine_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/machine"
)

func ev(t machine.EventType, at time.Time) machine.ProvisioningEvent {
	return machine.ProvisioningEvent{Time: at, Event: t}
}

// container returns a container whose events are given newest first and
// whose last_event_time is the newest event's time.
func container(events ...machine.ProvisioningEvent) machine.EventContainer {
	c := machine.EventContainer{ID: "m1", Liveliness: machine.Alive, Events: events}
	if len(events) > 0 {
		c.LastEventTime = events[0].Time
	}
	return c
}

func transition(t *testing.T, c machine.EventContainer, e machine.EventType, msg string) machine.EventContainer {
	t.Helper()
	out, err := machine.Transition(c, machine.ProvisioningEvent{Event: e, Message: msg}, now)
	require.NoError(t, err)
	return out
}

func eventTypes(c machine.EventContainer) []machine.EventType {
	var out []machine.EventType
	for _, e := range c.Events {
		out = append(out, e.Event)
	}
	return out
}

// Scenario 1.
func TestTransitionFirstEvents(t *testing.T) {
	c := transition(t, machine.EventContainer{ID: "m1"}, machine.EventPXEBooting, "")
	assert.Equal(t, machine.EventContainer{
		ID: "m1", Liveliness: machine.Alive, LastEventTime: now,
		Events: []machine.ProvisioningEvent{ev(machine.EventPXEBooting, now)},
	}, c)

	c = transition(t, machine.EventContainer{ID: "m1"}, machine.EventAlive, "")
	assert.Empty(t, c.Events)
	assert.Equal(t, now, c.LastEventTime)
	assert.Equal(t, machine.Alive, c.Liveliness)

	c = transition(t, container(ev(machine.EventPXEBooting, ago(time.Hour))), machine.EventPXEBooting, "")
	assert.Equal(t, []machine.ProvisioningEvent{ev(machine.EventPXEBooting, ago(time.Hour))}, c.Events, "still one event")
	assert.Equal(t, now, c.LastEventTime)
}

// Scenario 2.
func TestTransitionInstallAndCrash(t *testing.T) {
	c := transition(t, container(ev(machine.EventRegistering, ago(time.Minute))), machine.EventInstalling, "")
	assert.Equal(t, []machine.EventType{machine.EventInstalling, machine.EventRegistering}, eventTypes(c))

	c = transition(t, container(ev(machine.EventInstalling, ago(time.Minute))), machine.EventCrashed, "kernel panic")
	assert.True(t, c.CrashLoop)
	require.NotNil(t, c.LastErrorEvent)
	assert.Equal(t, machine.ProvisioningEvent{Time: now, Event: machine.EventCrashed, Message: "kernel panic"}, *c.LastErrorEvent)
	assert.Equal(t, machine.ProvisioningCrashing, c.State())

	c = transition(t, c, machine.EventPXEBooting, "")
	assert.Equal(t, []machine.EventType{machine.EventPXEBooting, machine.EventCrashed, machine.EventInstalling}, eventTypes(c))
	assert.True(t, c.CrashLoop, "crash_loop stays")
}

// Scenario 3.
func TestTransitionUnexpected(t *testing.T) {
	c := transition(t, container(ev(machine.EventRegistering, ago(time.Minute))), machine.EventPreparing, "")
	assert.Equal(t, []machine.EventType{machine.EventPreparing, machine.EventRegistering}, eventTypes(c))
	assert.Equal(t, "[unexpectedly received in state registering]", c.Events[0].Message)
	assert.True(t, c.CrashLoop)
	require.NotNil(t, c.LastErrorEvent)
	assert.Equal(t, c.Events[0], *c.LastErrorEvent)

	c = transition(t, container(ev(machine.EventPhonedHome, ago(time.Minute))), machine.EventAlive, "sending alive")
	assert.Equal(t, []machine.EventType{machine.EventPhonedHome}, eventTypes(c), "Alive is not appended")
	require.NotNil(t, c.LastErrorEvent)
	assert.Equal(t, "[unexpectedly received in state phoned home]: sending alive", c.LastErrorEvent.Message)
	assert.Equal(t, machine.EventAlive, c.LastErrorEvent.Event)
	assert.Equal(t, now, c.LastEventTime)
	assert.False(t, c.CrashLoop)
}

// Scenario 4.
func TestTransitionPhonedHomeAfterReclaim(t *testing.T) {
	recent := container(ev(machine.EventMachineReclaim, ago(4*time.Minute)))
	c := transition(t, recent, machine.EventPhonedHome, "")
	assert.Equal(t, recent, c, "container unchanged, last_event_time too")

	old := container(ev(machine.EventMachineReclaim, ago(10*time.Minute)))
	c = transition(t, old, machine.EventPhonedHome, "")
	assert.True(t, c.FailedMachineReclaim)
	assert.Equal(t, now, c.LastEventTime)
	assert.Equal(t, []machine.EventType{machine.EventMachineReclaim}, eventTypes(c), "not appended")

	c = transition(t, c, machine.EventPreparing, "")
	assert.False(t, c.FailedMachineReclaim, "flag cleared")
	assert.Equal(t, []machine.EventType{machine.EventPreparing, machine.EventMachineReclaim}, eventTypes(c))
}

// Scenario 5 (the 11 x 11 pairs are TestTransitionTable).
func TestTransitionLatePhoneHome(t *testing.T) {
	waiting := container(ev(machine.EventWaiting, ago(4*time.Minute)))
	assert.Equal(t, waiting, transition(t, waiting, machine.EventPhonedHome, ""), "ignored")

	booting := container(ev(machine.EventBootingNewKernel, ago(time.Minute)))
	booting.CrashLoop = true
	c := transition(t, booting, machine.EventPhonedHome, "")
	assert.False(t, c.CrashLoop)
	assert.Equal(t, []machine.EventType{machine.EventPhonedHome, machine.EventBootingNewKernel}, eventTypes(c))
}

// The edges of the two five-minute windows: exactly five minutes is neither
// "more than" (reclaim) nor "less than" (late phone-home).
func TestTransitionPhonedHomeWindows(t *testing.T) {
	reclaim := container(ev(machine.EventMachineReclaim, ago(5*time.Minute)))
	assert.Equal(t, reclaim, transition(t, reclaim, machine.EventPhonedHome, ""))
	reclaim = container(ev(machine.EventMachineReclaim, ago(5*time.Minute+time.Nanosecond)))
	assert.True(t, transition(t, reclaim, machine.EventPhonedHome, "").FailedMachineReclaim)

	for _, tc := range []struct {
		state    machine.EventType
		appended bool
	}{
		{machine.EventPXEBooting, false},
		{machine.EventPreparing, true},
		{machine.EventRegistering, true},
		{machine.EventWaiting, true},
	} {
		late := container(ev(tc.state, ago(5*time.Minute-time.Nanosecond)))
		late.FailedMachineReclaim = true
		assert.Equal(t, late, transition(t, late, machine.EventPhonedHome, ""), "%s: late phone-home", tc.state)

		c := container(ev(tc.state, ago(5*time.Minute)))
		c.FailedMachineReclaim = true
		out := transition(t, c, machine.EventPhonedHome, "")
		assert.Equal(t, now, out.LastEventTime, "%s", tc.state)
		assert.Equal(t, tc.appended, len(out.Events) == 2, "%s", tc.state)
		wantFMR := tc.state == machine.EventRegistering || tc.state == machine.EventWaiting
		assert.Equal(t, wantFMR, out.FailedMachineReclaim, "%s: only pxe booting and preparing clear the flag", tc.state)
		assert.Nil(t, out.LastErrorEvent, "%s: not unexpected", tc.state)
	}
}

// outcome is what the spec's table says one (state, incoming) pair does.
type outcome struct {
	effect     string // "none", "touch" or "append"
	unexpected bool
	crashLoop  string // "", "set" or "clear"
	fmr        string // "", "set" or "clear"
	lastError  bool
}

// specTable restates the spec's table for fixtures whose last event was
// ten minutes ago (so that no phone-home is late and a reclaim has failed).
// Pairs it does not list are unexpected.
func specTable(state machine.ProvisioningState, e machine.EventType) outcome {
	const (
		initial  = machine.ProvisioningInitial
		pxe      = machine.ProvisioningPXEBooting
		reboot   = machine.ProvisioningPlannedReboot
		prep     = machine.ProvisioningPreparing
		reg      = machine.ProvisioningRegistering
		wait     = machine.ProvisioningWaiting
		install  = machine.ProvisioningInstalling
		kernel   = machine.ProvisioningBootingNewKernel
		phoned   = machine.ProvisioningPhonedHome
		crashing = machine.ProvisioningCrashing
		reclaim  = machine.ProvisioningMachineReclaim
	)
	in := func(states ...machine.ProvisioningState) bool { return slices.Contains(states, state) }
	seven := []machine.ProvisioningState{initial, pxe, prep, reg, wait, install, kernel}
	switch {
	case e == machine.EventPXEBooting && in(initial, reboot, reclaim, crashing):
		return outcome{effect: "append", fmr: "clear"}
	case e == machine.EventPXEBooting && in(pxe):
		return outcome{effect: "touch", fmr: "clear"}
	case e == machine.EventPreparing && in(initial, pxe, reboot, reclaim, crashing):
		return outcome{effect: "append", fmr: "clear"}
	case e == machine.EventRegistering && in(initial, prep),
		e == machine.EventWaiting && in(initial, reg),
		e == machine.EventInstalling && in(initial, reg, wait),
		e == machine.EventBootingNewKernel && in(initial, install):
		return outcome{effect: "append"}
	case e == machine.EventPhonedHome && in(initial, kernel, reboot):
		return outcome{effect: "append", crashLoop: "clear"}
	case e == machine.EventPhonedHome && in(phoned):
		return outcome{effect: "touch"}
	case e == machine.EventPhonedHome && in(reclaim):
		return outcome{effect: "touch", fmr: "set"}
	case e == machine.EventPhonedHome && in(pxe):
		return outcome{effect: "touch", fmr: "clear"}
	case e == machine.EventPhonedHome && in(prep):
		return outcome{effect: "append", fmr: "clear"}
	case e == machine.EventPhonedHome && in(reg, wait):
		return outcome{effect: "append"}
	case e == machine.EventPlannedReboot, e == machine.EventMachineReclaim:
		return outcome{effect: "append", crashLoop: "clear"}
	case e == machine.EventAlive && in(seven...):
		return outcome{effect: "touch"}
	case e == machine.EventCrashed && in(seven...):
		return outcome{effect: "append", crashLoop: "set", lastError: true}
	}
	o := outcome{effect: "append", unexpected: true, lastError: true}
	switch e {
	case machine.EventPXEBooting, machine.EventPreparing:
		o.crashLoop = "set"
	case machine.EventAlive:
		o.effect = "touch"
	}
	return o
}

// stateFixture returns a container in state s: no events for initial,
// otherwise machine.MaxEvents events whose newest gives s, the newest ten
// minutes ago. flags sets crash_loop, failed_machine_reclaim and a last
// error event. Its liveliness is Dead, so that a touch shows.
func stateFixture(s machine.ProvisioningState, flags bool) machine.EventContainer {
	c := machine.EventContainer{ID: "m1", Liveliness: machine.Dead}
	if s != machine.ProvisioningInitial {
		newest := map[machine.ProvisioningState]machine.EventType{
			machine.ProvisioningPXEBooting:       machine.EventPXEBooting,
			machine.ProvisioningPlannedReboot:    machine.EventPlannedReboot,
			machine.ProvisioningPreparing:        machine.EventPreparing,
			machine.ProvisioningRegistering:      machine.EventRegistering,
			machine.ProvisioningWaiting:          machine.EventWaiting,
			machine.ProvisioningInstalling:       machine.EventInstalling,
			machine.ProvisioningBootingNewKernel: machine.EventBootingNewKernel,
			machine.ProvisioningPhonedHome:       machine.EventPhonedHome,
			machine.ProvisioningCrashing:         machine.EventCrashed,
			machine.ProvisioningMachineReclaim:   machine.EventMachineReclaim,
		}[s]
		for i := range machine.MaxEvents {
			t := machine.EventTypes[i%10]
			if i == 0 {
				t = newest
			}
			c.Events = append(c.Events, machine.ProvisioningEvent{Time: ago(10*time.Minute + time.Duration(i)*time.Minute), Event: t, Message: fmt.Sprint(i)})
		}
		c.LastEventTime = c.Events[0].Time
	}
	if flags {
		c.CrashLoop, c.FailedMachineReclaim = true, true
		c.LastErrorEvent = &machine.ProvisioningEvent{Time: ago(time.Hour), Event: machine.EventCrashed, Message: "before"}
		if c.LastEventTime.IsZero() {
			c.LastEventTime = ago(10 * time.Minute)
		}
	}
	return c
}

// All 11 x 11 (state, incoming) pairs: never an error, the container the
// table says, never more than MaxEvents events.
func TestTransitionTable(t *testing.T) {
	require.Len(t, machine.ProvisioningStates, 11)
	require.Len(t, machine.EventTypes, 11)
	for _, s := range machine.ProvisioningStates {
		for _, e := range machine.EventTypes {
			for _, flags := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/flags=%t", s, e, flags), func(t *testing.T) {
					c := stateFixture(s, flags)
					require.Equal(t, s, c.State())
					before := stateFixture(s, flags)

					got, err := machine.Transition(c, machine.ProvisioningEvent{Event: e, Message: "msg", Time: ago(time.Hour)}, now)
					require.NoError(t, err)
					assert.Equal(t, before, c, "the input is not modified")

					o := specTable(s, e)
					want := stateFixture(s, flags)
					sent := machine.ProvisioningEvent{Time: now, Event: e, Message: "msg"}
					if o.unexpected {
						sent.Message = fmt.Sprintf("[unexpectedly received in state %s]: msg", s)
					}
					if o.effect != "none" {
						want.LastEventTime, want.Liveliness = now, machine.Alive
					}
					if o.effect == "append" {
						want.Events = append([]machine.ProvisioningEvent{sent}, want.Events...)
						if len(want.Events) > machine.MaxEvents {
							want.Events = want.Events[:machine.MaxEvents]
						}
					}
					switch o.crashLoop {
					case "set":
						want.CrashLoop = true
					case "clear":
						want.CrashLoop = false
					}
					switch o.fmr {
					case "set":
						want.FailedMachineReclaim = true
					case "clear":
						want.FailedMachineReclaim = false
					}
					if o.lastError {
						want.LastErrorEvent = &sent
					}
					assert.Equal(t, want, got)
					assert.LessOrEqual(t, len(got.Events), machine.MaxEvents)
					assert.NotContains(t, eventTypes(got), machine.EventAlive)
				})
			}
		}
	}
}

func TestTransitionKeepsMaxEvents(t *testing.T) {
	c := machine.EventContainer{ID: "m1"}
	start := now.Add(-time.Hour)
	for i := range machine.MaxEvents + 1 {
		var err error
		c, err = machine.Transition(c, machine.ProvisioningEvent{Event: machine.EventPlannedReboot, Message: fmt.Sprint(i)}, start.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
	}
	require.Len(t, c.Events, machine.MaxEvents)
	assert.Equal(t, "100", c.Events[0].Message, "newest first")
	assert.Equal(t, "1", c.Events[machine.MaxEvents-1].Message, "the oldest fell off")
}

func TestTransitionRejectsUnknownType(t *testing.T) {
	c := container(ev(machine.EventWaiting, ago(time.Minute)))
	out, err := machine.Transition(c, machine.ProvisioningEvent{Event: "Rebooting"}, now)
	require.ErrorIs(t, err, machine.ErrInvalidArgument)
	assert.ErrorIs(t, err, errdefs.ErrInvalidArgument)
	assert.Contains(t, err.Error(), `"Rebooting"`)
	assert.Equal(t, c, out)
}

func TestTransitionChecksOrder(t *testing.T) {
	unordered := container(ev(machine.EventRegistering, ago(2*time.Minute)), ev(machine.EventPreparing, ago(time.Minute)))
	noLast := container(ev(machine.EventMachineReclaim, ago(time.Minute)))
	noLast.LastEventTime = time.Time{}
	stale := container(ev(machine.EventMachineReclaim, ago(time.Minute)))
	stale.LastEventTime = ago(2 * time.Minute)
	future := container(ev(machine.EventRegistering, now.Add(time.Minute)))
	for name, tc := range map[string]struct {
		c machine.EventContainer
		e machine.EventType
	}{
		"events not newest first": {unordered, machine.EventPlannedReboot},
		// Phoned Home after a reclaim with no or a recent last_event_time
		// changes nothing, so the broken container would be stored as it is.
		"events but no last_event_time":         {noLast, machine.EventPhonedHome},
		"last_event_time older than the newest": {stale, machine.EventPhonedHome},
		"clock behind the newest event":         {future, machine.EventWaiting},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := machine.Transition(tc.c, machine.ProvisioningEvent{Event: tc.e}, now)
			require.ErrorIs(t, err, errdefs.ErrCorrupt)
			assert.Contains(t, err.Error(), `machine: event container "m1"`)
			assert.Equal(t, tc.c, out)
		})
	}
	// An event that touches mends a last_event_time that lagged behind.
	out, err := machine.Transition(stale, machine.ProvisioningEvent{Event: machine.EventPlannedReboot}, now)
	require.NoError(t, err)
	assert.Equal(t, now, out.LastEventTime)
}

func TestParseEventType(t *testing.T) {
	for _, e := range machine.EventTypes {
		got, err := machine.ParseEventType(string(e))
		require.NoError(t, err)
		assert.Equal(t, e, got)
	}
	got, err := machine.ParseEventType("booting new KERNEL")
	require.NoError(t, err)
	assert.Equal(t, machine.EventBootingNewKernel, got)
	for _, bad := range []string{"", "PXE-Booting", "Alive "} {
		_, err := machine.ParseEventType(bad)
		assert.ErrorIs(t, err, machine.ErrInvalidArgument, "%q", bad)
	}
}

func TestStateNames(t *testing.T) {
	assert.Equal(t, machine.ProvisioningInitial, (&machine.EventContainer{}).State())
	for _, tc := range []struct {
		e    machine.EventType
		want machine.ProvisioningState
	}{
		{machine.EventCrashed, machine.ProvisioningCrashing},
		{machine.EventBootingNewKernel, machine.ProvisioningBootingNewKernel},
		{machine.EventPXEBooting, machine.ProvisioningPXEBooting},
		{machine.EventAlive, "alive"},
	} {
		c := container(ev(tc.e, now))
		assert.Equal(t, tc.want, c.State())
	}
}

// FuzzTransition applies random event sequences at random steps of the
// clock: no panic; the container stays newest first, last_event_time is
// never older than the newest event, Alive is never stored, at most
// MaxEvents are kept; a refused event changes nothing.
func FuzzTransition(f *testing.F) {
	f.Add([]byte{0, 20, 2, 20, 3, 20, 4, 20, 5, 20, 6, 20, 7, 20})
	f.Add([]byte{8, 20, 0, 9, 2, 9, 1, 40, 7, 200, 10, 9})
	f.Add([]byte{9, 30, 7, 30, 7, 12, 7, 200, 0, 3, 2, 30})
	f.Add([]byte{4, 30, 7, 9, 5, 2, 7, 255, 8, 30, 10, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2*(machine.MaxEvents+50) {
			data = data[:2*(machine.MaxEvents+50)] // enough to overflow the cap
		}
		c := machine.EventContainer{ID: "m1"}
		clock := now
		for i := 0; i+1 < len(data); i += 2 {
			e := machine.EventTypes[int(data[i])%len(machine.EventTypes)]
			step := data[i+1]
			if step < 4 {
				clock = clock.Add(-time.Duration(step+1) * time.Minute) // the clock steps back
			} else {
				clock = clock.Add(time.Duration(step-4) * 15 * time.Second)
			}
			before := c
			next, err := machine.Transition(c, machine.ProvisioningEvent{Event: e, Message: "m"}, clock)
			if err != nil {
				if !errors.Is(err, errdefs.ErrCorrupt) || !reflect.DeepEqual(before, next) {
					t.Fatalf("event %d (%s): %v; returned %+v", i/2, e, err, next)
				}
				continue
			}
			c = next
			if err := machine.CheckEventOrder(&c); err != nil {
				t.Fatalf("event %d (%s): %v", i/2, e, err)
			}
			if len(c.Events) > machine.MaxEvents {
				t.Fatalf("event %d: %d events", i/2, len(c.Events))
			}
			for j, x := range c.Events {
				if x.Event == machine.EventAlive {
					t.Fatalf("event %d: Alive stored at %d", i/2, j)
				}
				if j > 0 && x.Time.After(c.Events[j-1].Time) {
					t.Fatalf("event %d: events[%d] newer than events[%d]", i/2, j, j-1)
				}
			}
			if len(c.Events) > 0 && c.LastEventTime.Before(c.Events[0].Time) {
				t.Fatalf("event %d: last_event_time %s older than the newest event %s", i/2, c.LastEventTime, c.Events[0].Time)
			}
		}
	})
}

func BenchmarkTransition(b *testing.B) {
	full := machine.EventContainer{ID: "m1"}
	for i := range machine.MaxEvents {
		full, _ = machine.Transition(full, machine.ProvisioningEvent{Event: machine.EventPlannedReboot}, now.Add(time.Duration(i)*time.Second))
	}
	at := now.Add(time.Hour)
	b.Run("append to full", func(b *testing.B) {
		for b.Loop() {
			if _, err := machine.Transition(full, machine.ProvisioningEvent{Event: machine.EventPXEBooting}, at); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("alive", func(b *testing.B) {
		c := container(ev(machine.EventWaiting, now))
		for b.Loop() {
			if _, err := machine.Transition(c, machine.ProvisioningEvent{Event: machine.EventAlive}, at); err != nil {
				b.Fatal(err)
			}
		}
	})
}
