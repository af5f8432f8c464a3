package machine

import (
	"errors"
	"strings"

	"github.com/metalkit/metalkit/limits"
)

// StateValue is the value of a machine's state.
type StateValue string

// The state values, in the spelling that is stored.
const (
	// StateAvailable: the machine may be picked by size and partition.
	StateAvailable StateValue = ""
	// StateReserved: the machine is never picked by size, but may still be
	// allocated by id. It is unrelated to size reservations.
	StateReserved StateValue = "RESERVED"
	// StateLocked: freeing and reinstalling the machine are refused
	// (ErrLocked).
	StateLocked StateValue = "LOCKED"
)

// ParseStateValue parses a state value case-insensitively: "" and
// "available" give StateAvailable, "reserved" and "tainted" (metal-api's
// later name for reserved) StateReserved, "locked" StateLocked. Anything
// else is an error matching ErrInvalidArgument.
func ParseStateValue(s string) (StateValue, error) {
	switch strings.ToUpper(s) {
	case "", "AVAILABLE":
		return StateAvailable, nil
	case "RESERVED", "TAINTED":
		return StateReserved, nil
	case "LOCKED":
		return StateLocked, nil
	}
	return "", invalid("state value %s is unknown; use AVAILABLE (or empty), RESERVED (or TAINTED) or LOCKED", q(s))
}

// UnmarshalText parses a state value with ParseStateValue, so JSON input
// accepts every spelling.
func (v *StateValue) UnmarshalText(b []byte) error {
	p, err := ParseStateValue(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// State is a machine's state.
type State struct {
	Value StateValue `json:"value"`
	// Description says why the machine is in this state; required for any
	// value other than available.
	Description string `json:"description"`
	// Issuer is the user who set the state; empty when available.
	Issuer string `json:"issuer,omitempty"`
	// MetalHammerVersion is the version of metal-hammer that registered
	// the machine; setting the state keeps it.
	MetalHammerVersion string `json:"metal_hammer_version"`
}

// SetState returns cur with a new value, description and issuer. value is
// parsed with ParseStateValue; any value other than available needs a
// description; the issuer is kept for reserved and locked and cleared for
// available; MetalHammerVersion is kept (metal-api blanks it). Every
// problem is returned together, matching ErrInvalidArgument, and cur is
// then returned unchanged.
func SetState(cur State, value, description, issuer string) (State, error) {
	var errs []error
	v, err := ParseStateValue(value)
	if err != nil {
		errs = append(errs, err)
	}
	if err == nil && v != StateAvailable && strings.TrimSpace(description) == "" {
		errs = append(errs, invalid("description is required for state %s", q(string(v))))
	}
	errs = append(errs, limit(limits.Description("description", description)), limit(limits.Name("issuer", issuer)))
	if err := errors.Join(errs...); err != nil {
		return cur, err
	}
	next := State{Value: v, Description: description, Issuer: issuer, MetalHammerVersion: cur.MetalHammerVersion}
	if v == StateAvailable {
		next.Issuer = ""
	}
	return next, nil
}

// ParseLEDValue parses an LED value case-insensitively ("led-on",
// "LED-OFF"); anything else is an error matching ErrInvalidArgument.
func ParseLEDValue(s string) (LEDValue, error) {
	switch strings.ToUpper(s) {
	case string(LEDOn):
		return LEDOn, nil
	case string(LEDOff):
		return LEDOff, nil
	}
	return "", invalid("ledstate value %s is unknown; use LED-ON or LED-OFF", q(s))
}
