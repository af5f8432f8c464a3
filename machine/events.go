package machine

import (
	"strings"
	"time"
)

// EventType is the type of a provisioning event that a machine (through
// metal-hammer or the installed image) or the library sends.
type EventType string

// The provisioning event types, spelled as they are sent and stored.
const (
	EventPXEBooting       EventType = "PXE Booting"
	EventPlannedReboot    EventType = "Planned Reboot"
	EventPreparing        EventType = "Preparing"
	EventRegistering      EventType = "Registering"
	EventWaiting          EventType = "Waiting"
	EventInstalling       EventType = "Installing"
	EventBootingNewKernel EventType = "Booting New Kernel"
	EventPhonedHome       EventType = "Phoned Home"
	EventCrashed          EventType = "Crashed"
	EventMachineReclaim   EventType = "Machine Reclaim"
	// EventAlive says the machine lives; it is never stored.
	EventAlive EventType = "Alive"
)

// EventTypes lists every event type.
var EventTypes = []EventType{
	EventPXEBooting, EventPlannedReboot, EventPreparing, EventRegistering, EventWaiting, EventInstalling,
	EventBootingNewKernel, EventPhonedHome, EventCrashed, EventMachineReclaim, EventAlive,
}

// ParseEventType parses an event type name, ignoring case ("pxe booting"
// gives EventPXEBooting). Anything else is an error matching
// ErrInvalidArgument.
func ParseEventType(s string) (EventType, error) {
	for _, t := range EventTypes {
		if strings.EqualFold(s, string(t)) {
			return t, nil
		}
	}
	return "", invalid("event %s is not a provisioning event type", q(s))
}

func (t EventType) known() bool {
	for _, k := range EventTypes {
		if t == k {
			return true
		}
	}
	return false
}

// ProvisioningEvent is one event of a machine's provisioning.
type ProvisioningEvent struct {
	// Time is the service's clock at reception, never the sender's.
	Time    time.Time `json:"time"`
	Event   EventType `json:"event"`
	Message string    `json:"message"`
}

// Liveliness says whether a machine is known to live.
type Liveliness string

// The liveliness values.
const (
	// Alive: the machine sent an event within DeadAfter.
	Alive Liveliness = "Alive"
	// Dead: a free machine sent no event for more than DeadAfter.
	Dead Liveliness = "Dead"
	// Unknown: no event container, or an allocated machine silent for more
	// than DeadAfter (its image may not phone home).
	Unknown Liveliness = "Unknown"
)

// MaxEvents is how many events a container keeps; older ones fall off.
const MaxEvents = 100

// EventContainer holds a machine's provisioning events and what the
// library derived from them. JSON names are metal-api's.
type EventContainer struct {
	// ID is the machine's id.
	ID         string     `json:"id"`
	Liveliness Liveliness `json:"liveliness"`
	// Events are newest first, at most MaxEvents.
	Events []ProvisioningEvent `json:"events"`
	// LastEventTime is when the last event was received, also one that
	// was not stored; never older than Events[0].Time. Zero until the
	// first event.
	LastEventTime time.Time `json:"last_event_time,omitzero"`
	// LastErrorEvent is the last Crashed or unexpected event, nil if none.
	LastErrorEvent *ProvisioningEvent `json:"last_error_event,omitempty"`
	// CrashLoop is set by Crashed and unexpected PXE Booting or Preparing
	// events, and cleared by Phoned Home, Planned Reboot and Machine
	// Reclaim.
	CrashLoop bool `json:"crash_loop"`
	// FailedMachineReclaim is set when a machine phones home more than
	// FailedReclaimAfter after a Machine Reclaim, that is, its reinstall
	// did not start; PXE Booting and Preparing clear it.
	FailedMachineReclaim bool `json:"failed_machine_reclaim"`
}

// ProvisioningState is the state of a machine's provisioning, named after
// its newest stored event.
type ProvisioningState string

// The provisioning states. A newest event of a type that has no state here
// (Alive, from data written elsewhere) gives its name in lower case.
const (
	ProvisioningInitial          ProvisioningState = "initial" // no events
	ProvisioningPXEBooting       ProvisioningState = "pxe booting"
	ProvisioningPlannedReboot    ProvisioningState = "planned reboot"
	ProvisioningPreparing        ProvisioningState = "preparing"
	ProvisioningRegistering      ProvisioningState = "registering"
	ProvisioningWaiting          ProvisioningState = "waiting"
	ProvisioningInstalling       ProvisioningState = "installing"
	ProvisioningBootingNewKernel ProvisioningState = "booting new kernel"
	ProvisioningPhonedHome       ProvisioningState = "phoned home"
	ProvisioningCrashing         ProvisioningState = "crashing" // after Crashed
	ProvisioningMachineReclaim   ProvisioningState = "machine reclaim"
)

// ProvisioningStates lists the states, initial first.
var ProvisioningStates = []ProvisioningState{
	ProvisioningInitial, ProvisioningPXEBooting, ProvisioningPlannedReboot, ProvisioningPreparing,
	ProvisioningRegistering, ProvisioningWaiting, ProvisioningInstalling, ProvisioningBootingNewKernel,
	ProvisioningPhonedHome, ProvisioningCrashing, ProvisioningMachineReclaim,
}

// State returns the provisioning state: initial without events, crashing
// after Crashed, otherwise the newest event's name in lower case.
func (c *EventContainer) State() ProvisioningState {
	if len(c.Events) == 0 {
		return ProvisioningInitial
	}
	if c.Events[0].Event == EventCrashed {
		return ProvisioningCrashing
	}
	return ProvisioningState(strings.ToLower(string(c.Events[0].Event)))
}

// Newest returns the newest stored event, or false when there is none.
func (c *EventContainer) Newest() (ProvisioningEvent, bool) {
	if len(c.Events) == 0 {
		return ProvisioningEvent{}, false
	}
	return c.Events[0], true
}

// CheckEventOrder checks what Transition requires of a container before it
// may be stored: events newest first and, when there are events,
// LastEventTime set and not older than the newest. A violation is an error
// of class errdefs.ErrCorrupt.
func CheckEventOrder(c *EventContainer) error {
	if len(c.Events) == 0 {
		return nil
	}
	newest := c.Events[0].Time
	if c.LastEventTime.Before(newest) {
		return corrupt("event container %s: last_event_time %s is older than the newest event at %s",
			q(c.ID), c.LastEventTime.Format(time.RFC3339Nano), newest.Format(time.RFC3339Nano))
	}
	for i := 1; i < len(c.Events); i++ {
		if c.Events[i].Time.After(c.Events[i-1].Time) {
			return corrupt("event container %s: events[%d] at %s is newer than events[%d] at %s; events must be newest first",
				q(c.ID), i, c.Events[i].Time.Format(time.RFC3339Nano), i-1, c.Events[i-1].Time.Format(time.RFC3339Nano))
		}
	}
	return nil
}
