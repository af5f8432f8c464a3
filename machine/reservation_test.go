package machine_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/machine"
)

func TestValidateReservation(t *testing.T) {
	ok := machine.SizeReservation{SizeID: "c1", PartitionIDs: []string{"p1", "p2"}, ProjectID: "a", Amount: 2}
	require.NoError(t, machine.ValidateReservation(ok))

	err := machine.ValidateReservation(machine.SizeReservation{})
	requireProblems(t, err, machine.ErrInvalidArgument, "sizeid is required", "projectid is required", "amount 0: must be at least 1", "partitionids: at least one partition is required")

	err = machine.ValidateReservation(machine.SizeReservation{SizeID: "c1", PartitionIDs: []string{"p1", "p2", "p1", ""}, ProjectID: "a", Amount: -1})
	requireProblems(t, err, machine.ErrInvalidArgument, "amount -1", `partitionids[2] "p1" is already listed as partitionids[0]`, "partitionids[3] is required")
}

// Scenario 12: reservations {p1: 1, p2: 2} over five candidates, each
// allocation taking one.
func TestCheckReservations(t *testing.T) {
	reservations := []machine.SizeReservation{
		{ID: "r1", SizeID: "c1", PartitionIDs: []string{"part"}, ProjectID: "p1", Amount: 1},
		{ID: "r2", SizeID: "c1", PartitionIDs: []string{"other", "part"}, ProjectID: "p2", Amount: 2},
		{ID: "r3", SizeID: "c2", PartitionIDs: []string{"part"}, ProjectID: "p0", Amount: 50},  // another size
		{ID: "r4", SizeID: "c1", PartitionIDs: []string{"other"}, ProjectID: "p0", Amount: 50}, // another partition
	}
	candidates := 5
	allocated := map[string]int{}
	for i, step := range []struct {
		project string
		ok      bool
	}{
		{"p0", true}, {"p2", true}, {"p0", true}, {"p0", false}, {"p2", true}, {"p0", false}, {"p2", false}, {"p1", true},
	} {
		err := machine.CheckReservations(reservations, "c1", "part", step.project, candidates, allocated)
		if !step.ok {
			require.ErrorIs(t, err, machine.ErrNoMachineAvailable, "step %d (%s)", i, step.project)
			assert.Contains(t, err.Error(), "are reserved for other projects")
			continue
		}
		require.NoError(t, err, "step %d (%s)", i, step.project)
		candidates--
		allocated[step.project]++
	}
	assert.Equal(t, 0, candidates)

	assert.NoError(t, machine.CheckReservations(nil, "c1", "part", "p0", 1, nil), "no reservations allow")
	assert.NoError(t, machine.CheckReservations(reservations, "c2", "other", "p9", 1, nil), "none for this size and partition")
	err := machine.CheckReservations(reservations, "c1", "part", "p0", 3, nil)
	require.ErrorIs(t, err, machine.ErrNoMachineAvailable)
	assert.Contains(t, err.Error(), `machine: no machine of size "c1" is available in partition "part" for project "p0": 3 of the 3 candidates are reserved for other projects`)
}
