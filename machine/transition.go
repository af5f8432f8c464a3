package machine

import (
	"slices"
	"time"
)

// The durations of the event rules.
const (
	// DeadAfter: a machine silent for longer is Dead (free) or Unknown
	// (allocated).
	DeadAfter = 5 * time.Minute
	// ResurrectAfter: a free Dead machine silent for longer is freed again.
	ResurrectAfter = time.Hour
	// FailedReclaimAfter: a Phoned Home arriving later than this after the
	// last event, in state machine reclaim, means the reclaim failed.
	FailedReclaimAfter = 5 * time.Minute
	// LatePhoneHomeWithin: a Phoned Home within this of the last event, in
	// state pxe booting, preparing, registering or waiting, comes from the
	// image that is being replaced and is ignored.
	LatePhoneHomeWithin = 5 * time.Minute
)

// effect is what the table does to the container besides the flags.
type effect int

const (
	unchanged effect = iota // no change at all
	touch                   // last_event_time and liveliness only
	appendEv                // store as newest, then touch
)

// Transition applies one incoming event, received at now, to the container
// c and returns the container to store. c is not modified (the result
// shares no memory with it); the zero EventContainer is a machine's
// container before its first event.
//
// ev.Time is replaced by now and ev.Event must be one of EventTypes
// (ParseEventType turns a name into one), otherwise the error matches
// ErrInvalidArgument. The state is c.State(). "append" stores the event as
// the newest, sets LastEventTime to now and Liveliness to Alive; "touch"
// does the same without storing the event:
//
//	incoming            in state                               effect
//	PXE Booting         initial, planned reboot,               append; clear failed_machine_reclaim
//	                    machine reclaim, crashing
//	PXE Booting         pxe booting                            touch; clear failed_machine_reclaim
//	Preparing           initial, pxe booting, planned reboot,  append; clear failed_machine_reclaim
//	                    machine reclaim, crashing
//	Registering         initial, preparing                     append
//	Waiting             initial, registering                   append
//	Installing          initial, registering, waiting          append
//	Booting New Kernel  initial, installing                    append
//	Phoned Home         initial, booting new kernel,           append; crash_loop false
//	                    planned reboot
//	Phoned Home         phoned home                            touch
//	Phoned Home         machine reclaim                        more than FailedReclaimAfter after
//	                                                           LastEventTime: set failed_machine_reclaim,
//	                                                           touch; otherwise no change
//	Phoned Home         pxe booting, preparing,                LastEventTime set and less than
//	                    registering, waiting                   LatePhoneHomeWithin earlier: no change;
//	                                                           otherwise pxe booting: touch, clear
//	                                                           failed_machine_reclaim; preparing: append,
//	                                                           clear it; registering, waiting: append
//	Planned Reboot,     any                                    append; crash_loop false
//	Machine Reclaim
//	Alive               initial, pxe booting, preparing,       touch
//	                    registering, waiting, installing,
//	                    booting new kernel
//	Crashed             the same seven                         append; crash_loop true;
//	                                                           last_error_event = the event
//
// Any other pair is unexpected, never an error: the message becomes
// "[unexpectedly received in state <state>]", followed by ": <message>"
// when one was sent; the event becomes LastErrorEvent; the container is
// touched; PXE Booting and Preparing set CrashLoop and are appended, Alive
// is not appended, every other type is appended. Alive is never stored.
//
// The result keeps at most MaxEvents events (the oldest fall off). Before
// it is returned it must pass CheckEventOrder; if not (the stored container
// was out of order, or now lies before its newest event) the error is of
// class errdefs.ErrCorrupt and nothing should be stored.
func Transition(c EventContainer, ev ProvisioningEvent, now time.Time) (EventContainer, error) {
	if !ev.Event.known() {
		return c, invalid("event %s is not a provisioning event type", q(string(ev.Event)))
	}
	ev.Time = now
	out := c
	out.Events = nil
	if c.LastErrorEvent != nil {
		e := *c.LastErrorEvent
		out.LastErrorEvent = &e
	}

	state := c.State()
	eff := unchanged
	in := func(states ...ProvisioningState) bool { return slices.Contains(states, state) }
	sinceLast := now.Sub(c.LastEventTime)
	lastSet := !c.LastEventTime.IsZero()

	switch ev.Event {
	case EventPXEBooting:
		switch {
		case in(ProvisioningInitial, ProvisioningPlannedReboot, ProvisioningMachineReclaim, ProvisioningCrashing):
			eff = appendEv
			out.FailedMachineReclaim = false
		case in(ProvisioningPXEBooting):
			eff = touch
			out.FailedMachineReclaim = false
		default:
			eff = unexpected(&out, &ev, state)
		}
	case EventPreparing:
		if in(ProvisioningInitial, ProvisioningPXEBooting, ProvisioningPlannedReboot, ProvisioningMachineReclaim, ProvisioningCrashing) {
			eff = appendEv
			out.FailedMachineReclaim = false
		} else {
			eff = unexpected(&out, &ev, state)
		}
	case EventRegistering:
		eff = expectIn(&out, &ev, state, ProvisioningInitial, ProvisioningPreparing)
	case EventWaiting:
		eff = expectIn(&out, &ev, state, ProvisioningInitial, ProvisioningRegistering)
	case EventInstalling:
		eff = expectIn(&out, &ev, state, ProvisioningInitial, ProvisioningRegistering, ProvisioningWaiting)
	case EventBootingNewKernel:
		eff = expectIn(&out, &ev, state, ProvisioningInitial, ProvisioningInstalling)
	case EventPhonedHome:
		switch {
		case in(ProvisioningInitial, ProvisioningBootingNewKernel, ProvisioningPlannedReboot):
			eff = appendEv
			out.CrashLoop = false
		case in(ProvisioningPhonedHome):
			eff = touch
		case in(ProvisioningMachineReclaim):
			if lastSet && sinceLast > FailedReclaimAfter {
				eff = touch
				out.FailedMachineReclaim = true
			}
		case in(ProvisioningPXEBooting, ProvisioningPreparing, ProvisioningRegistering, ProvisioningWaiting):
			switch {
			case lastSet && sinceLast < LatePhoneHomeWithin:
				// a late phone-home of the image being replaced
			case state == ProvisioningPXEBooting:
				eff = touch
				out.FailedMachineReclaim = false
			case state == ProvisioningPreparing:
				eff = appendEv
				out.FailedMachineReclaim = false
			default:
				eff = appendEv
			}
		default:
			eff = unexpected(&out, &ev, state)
		}
	case EventPlannedReboot, EventMachineReclaim:
		eff = appendEv
		out.CrashLoop = false
	case EventAlive:
		if in(aliveStates...) {
			eff = touch
		} else {
			eff = unexpected(&out, &ev, state)
		}
	case EventCrashed:
		if in(aliveStates...) {
			eff = appendEv
			out.CrashLoop = true
			e := ev
			out.LastErrorEvent = &e
		} else {
			eff = unexpected(&out, &ev, state)
		}
	}

	n := min(len(c.Events), MaxEvents)
	if eff == appendEv && ev.Event != EventAlive {
		out.Events = make([]ProvisioningEvent, 0, min(n+1, MaxEvents))
		out.Events = append(out.Events, ev)
		out.Events = append(out.Events, c.Events[:min(n, MaxEvents-1)]...)
	} else if c.Events != nil {
		out.Events = slices.Clone(c.Events[:n])
	}
	if eff != unchanged {
		out.LastEventTime = now
		out.Liveliness = Alive
	}
	if err := CheckEventOrder(&out); err != nil {
		return c, err
	}
	return out, nil
}

// aliveStates are the states in which Alive and Crashed are expected.
var aliveStates = []ProvisioningState{
	ProvisioningInitial, ProvisioningPXEBooting, ProvisioningPreparing, ProvisioningRegistering,
	ProvisioningWaiting, ProvisioningInstalling, ProvisioningBootingNewKernel,
}

// expectIn appends ev when state is one of states and treats it as
// unexpected otherwise.
func expectIn(out *EventContainer, ev *ProvisioningEvent, state ProvisioningState, states ...ProvisioningState) effect {
	if slices.Contains(states, state) {
		return appendEv
	}
	return unexpected(out, ev, state)
}

// unexpected applies the rule for an event the table does not expect in
// state: it rewrites the message, records the event as the last error and
// tells whether it is appended.
func unexpected(out *EventContainer, ev *ProvisioningEvent, state ProvisioningState) effect {
	msg := "[unexpectedly received in state " + string(state) + "]"
	if ev.Message != "" {
		msg += ": " + ev.Message
	}
	ev.Message = msg
	e := *ev
	out.LastErrorEvent = &e
	switch ev.Event {
	case EventPXEBooting, EventPreparing:
		out.CrashLoop = true
		return appendEv
	case EventAlive:
		return touch
	}
	return appendEv
}
