package machine_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/machine"
)

func TestErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		err, class error
	}{
		{machine.ErrNotFound, errdefs.ErrNotFound},
		{machine.ErrInvalidArgument, errdefs.ErrInvalidArgument},
		{machine.ErrConflict, errdefs.ErrConflict},
		{machine.ErrLocked, errdefs.ErrConflict},
		{machine.ErrNoMachineAvailable, errdefs.ErrExhausted},
		{machine.ErrQuota, errdefs.ErrExhausted},
	} {
		assert.Equal(t, tc.class, errdefs.Class(tc.err), "%v", tc.err)
	}
	assert.NotErrorIs(t, machine.ErrLocked, machine.ErrConflict, "a locked machine is told apart from other conflicts")
}

func TestParseStateValue(t *testing.T) {
	for in, want := range map[string]machine.StateValue{
		"": machine.StateAvailable, "available": machine.StateAvailable, "AVAILABLE": machine.StateAvailable,
		"reserved": machine.StateReserved, "RESERVED": machine.StateReserved, "Tainted": machine.StateReserved,
		"locked": machine.StateLocked, "LOCKED": machine.StateLocked,
	} {
		got, err := machine.ParseStateValue(in)
		require.NoError(t, err, "%q", in)
		assert.Equal(t, want, got, "%q", in)
	}
	_, err := machine.ParseStateValue("broken")
	require.ErrorIs(t, err, machine.ErrInvalidArgument)
	assert.Contains(t, err.Error(), `machine: state value "broken" is unknown`)

	var s machine.State
	require.NoError(t, json.Unmarshal([]byte(`{"value":"tainted","description":"x"}`), &s))
	assert.Equal(t, machine.StateReserved, s.Value)
	assert.Error(t, json.Unmarshal([]byte(`{"value":"gone"}`), &s))
}

func TestSetState(t *testing.T) {
	cur := machine.State{Value: machine.StateAvailable, MetalHammerVersion: "v0.13.0"}

	locked, err := machine.SetState(cur, "locked", "disk broken", "admin@example.com")
	require.NoError(t, err)
	assert.Equal(t, machine.State{Value: machine.StateLocked, Description: "disk broken", Issuer: "admin@example.com", MetalHammerVersion: "v0.13.0"}, locked)

	avail, err := machine.SetState(locked, "AVAILABLE", "", "admin@example.com")
	require.NoError(t, err)
	assert.Equal(t, machine.State{Value: machine.StateAvailable, MetalHammerVersion: "v0.13.0"}, avail, "issuer cleared, hammer version kept")

	same, err := machine.SetState(locked, "RESERVED", "  ", "admin@example.com")
	requireProblems(t, err, machine.ErrInvalidArgument, `description is required for state "RESERVED"`)
	assert.Equal(t, locked, same, "unchanged on error")

	_, err = machine.SetState(cur, "nope", "", "")
	requireProblems(t, err, machine.ErrInvalidArgument, `state value "nope"`)

	_, err = machine.SetState(cur, "reserved", strings.Repeat("d", 3000), "a\x00b")
	requireProblems(t, err, machine.ErrInvalidArgument, "machine: description", "machine: issuer")
}

func TestParseLEDValue(t *testing.T) {
	v, err := machine.ParseLEDValue("led-on")
	require.NoError(t, err)
	assert.Equal(t, machine.LEDOn, v)
	v, err = machine.ParseLEDValue("LED-OFF")
	require.NoError(t, err)
	assert.Equal(t, machine.LEDOff, v)
	_, err = machine.ParseLEDValue("blinking")
	assert.ErrorIs(t, err, machine.ErrInvalidArgument)
}

func TestNICEffectiveIdentifier(t *testing.T) {
	assert.Equal(t, "Eth1/1", machine.NIC{MacAddress: "aa:bb:cc:dd:ee:ff", Identifier: "Eth1/1"}.EffectiveIdentifier())
	assert.Equal(t, "aa:bb:cc:dd:ee:ff", machine.NIC{MacAddress: "aa:bb:cc:dd:ee:ff"}.EffectiveIdentifier())
	assert.Equal(t, "11:22:33:44:55:66", machine.Neighbor{MacAddress: "11:22:33:44:55:66"}.EffectiveIdentifier())
	assert.Equal(t, "swp1", machine.Neighbor{MacAddress: "11:22:33:44:55:66", Identifier: "swp1"}.EffectiveIdentifier())
}
