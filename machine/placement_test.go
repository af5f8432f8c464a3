package machine_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/machine"
)

func racksOf(ps []machine.Placement) []string {
	var out []string
	for _, p := range ps {
		if !slices.Contains(out, p.RackID) {
			out = append(out, p.RackID)
		}
	}
	slices.Sort(out)
	return out
}

// candidates returns two candidates in each of the racks.
func candidates(racks ...string) []machine.Placement {
	var out []machine.Placement
	for _, r := range racks {
		out = append(out, machine.Placement{ID: "m-" + r + "-a", RackID: r}, machine.Placement{ID: "m-" + r + "-b", RackID: r})
	}
	return out
}

// Scenario 13.
func TestSpreadAcrossRacks(t *testing.T) {
	cands := candidates("r1", "r2", "r3")
	var project []machine.Placement
	for i, r := range []string{"r1", "r1", "r1", "r2", "r3", "r3", "r2"} {
		project = append(project, machine.Placement{ID: fmt.Sprint("p", i), RackID: r})
	}
	assert.Equal(t, []string{"r2", "r3"}, racksOf(machine.SpreadAcrossRacks(cands, project, nil)))

	tagged := []machine.Placement{
		{ID: "t1", RackID: "r1", Tags: []string{"cluster1"}},
		{ID: "t2", RackID: "r2", Tags: []string{"cluster1"}},
		{ID: "t3", RackID: "r3", Tags: []string{"cluster1", "postgres", "other"}},
	}
	assert.Equal(t, []string{"r1", "r2"}, racksOf(machine.SpreadAcrossRacks(cands, tagged, []string{"cluster1", "postgres"})),
		"a machine with both tags weighs twice")
}

func TestSpreadAcrossRacksRules(t *testing.T) {
	cands := candidates("r1", "r2", "r3")
	got := machine.SpreadAcrossRacks(cands, nil, nil)
	assert.Equal(t, cands, got, "no project machines: every candidate, in input order")

	// A rack without candidates does not count, and zero counts do.
	project := []machine.Placement{{RackID: "r9"}, {RackID: "r9"}, {RackID: "r1"}}
	assert.Equal(t, []string{"r2", "r3"}, racksOf(machine.SpreadAcrossRacks(cands, project, nil)))

	// Tags tie everywhere (a tag twice on one machine counts once), so the
	// project set decides: r3 holds fewest.
	project = []machine.Placement{
		{RackID: "r1", Tags: []string{"db"}}, {RackID: "r1"},
		{RackID: "r2", Tags: []string{"db"}}, {RackID: "r2"},
		{RackID: "r3", Tags: []string{"db", "db"}},
	}
	assert.Equal(t, []string{"r3"}, racksOf(machine.SpreadAcrossRacks(cands, project, []string{"db"})))

	// Project set {r1, r2}, tag set {r3}: no candidate in both, so the tag
	// set wins.
	project = []machine.Placement{
		{RackID: "r1", Tags: []string{"db"}},
		{RackID: "r2", Tags: []string{"db"}},
		{RackID: "r3"}, {RackID: "r3"}, {RackID: "r3"},
	}
	assert.Equal(t, []string{"r3"}, racksOf(machine.SpreadAcrossRacks(cands, project, []string{"db"})))
	assert.Equal(t, []string{"r1", "r2"}, racksOf(machine.SpreadAcrossRacks(cands, project, nil)), "without tags the project set decides")

	assert.Empty(t, machine.SpreadAcrossRacks(nil, project, nil))
}

// Scenario 14, the pure part: the same candidates and seed give the same
// machine, whatever order they come in.
func TestPick(t *testing.T) {
	ids := []string{"m3", "m1", "m4", "m2", "m5"}
	first, err := machine.Pick(ids, rand.New(rand.NewPCG(1, 0)))
	require.NoError(t, err)
	shuffled := []string{"m5", "m4", "m3", "m2", "m1"}
	for range 5 {
		again, err := machine.Pick(shuffled, rand.New(rand.NewPCG(1, 0)))
		require.NoError(t, err)
		assert.Equal(t, first, again)
	}
	assert.Equal(t, []string{"m3", "m1", "m4", "m2", "m5"}, ids, "input not modified")

	seen := map[string]bool{}
	r := rand.New(rand.NewPCG(7, 7))
	for range 200 {
		id, err := machine.Pick(ids, r)
		require.NoError(t, err)
		seen[id] = true
	}
	assert.Len(t, seen, 5, "every candidate can be picked")

	id, err := machine.Pick([]string{"only"}, nil)
	require.NoError(t, err)
	assert.Equal(t, "only", id)
	_, err = machine.Pick(nil, r)
	assert.ErrorIs(t, err, machine.ErrNoMachineAvailable)
}
