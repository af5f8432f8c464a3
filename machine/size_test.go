package machine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/machine"
)

const gib = 1 << 30

func cores(min, max uint64, id string) machine.Constraint {
	return machine.Constraint{Type: machine.CoreConstraint, Min: min, Max: max, Identifier: id}
}

func size(id string, cs ...machine.Constraint) machine.Size {
	return machine.Size{ID: id, Constraints: cs}
}

// hw returns hardware with one CPU per model of n cores each (model
// "Intel Xeon" when none is given), 16 GiB of memory and one disk.
func hw(n uint32, models ...string) machine.Hardware {
	if len(models) == 0 {
		models = []string{"Intel Xeon"}
	}
	h := machine.Hardware{Memory: 16 * gib, Disks: []machine.BlockDevice{{Name: "/dev/sda", Size: 500 * gib}}}
	for _, m := range models {
		h.CPUs = append(h.CPUs, machine.CPU{Vendor: "GenuineIntel", Model: m, Cores: n, Threads: 2 * n})
	}
	return h
}

func TestValidateSize(t *testing.T) {
	ok := machine.Size{ID: "c1-large-x86", Name: "c1", Constraints: []machine.Constraint{
		cores(8, 8, ""),
		{Type: machine.MemoryConstraint, Min: 32 * gib, Max: 64 * gib},
		{Type: machine.StorageConstraint, Min: 100 * gib, Max: 2000 * gib, Identifier: "/dev/sd*"},
		{Type: machine.StorageConstraint, Min: 100 * gib, Max: 2000 * gib, Identifier: "/dev/nvme*"},
		{Type: machine.GPUConstraint, Min: 1, Max: 1, Identifier: "AD102GL*"},
		cores(0, 8, "AMD*"),
	}, Labels: map[string]string{"cpu": "intel"}}
	require.NoError(t, machine.ValidateSize(ok))

	for _, tc := range []struct {
		name string
		s    machine.Size
		want []string
	}{
		{"id missing", size("", cores(1, 2, "")), []string{"machine: id is required"}},
		{"id unknown reserved", size("unknown", cores(1, 2, "")), []string{`id "unknown" is reserved`}},
		{"id too long", size(strings.Repeat("s", 129), cores(1, 2, "")), []string{"machine: id"}},
		{"min above max", size("s", cores(5, 4, "")), []string{"constraints[0]: min 5 is greater than max 4"}},
		{"two memory constraints", size("s", machine.Constraint{Type: machine.MemoryConstraint, Max: 1}, machine.Constraint{Type: machine.MemoryConstraint, Min: 2, Max: 3}),
			[]string{"constraints[1]: a second memory constraint beside constraints[0]"}},
		{"memory with identifier", size("s", machine.Constraint{Type: machine.MemoryConstraint, Max: 1, Identifier: "ddr*"}), []string{`constraints[0].identifier "ddr*": a memory constraint has no identifier`}},
		{"gpu without identifier", size("s", machine.Constraint{Type: machine.GPUConstraint, Min: 1, Max: 1}), []string{"constraints[0].identifier is required for a gpu constraint"}},
		{"duplicate type and identifier", size("s", cores(1, 2, "Intel*"), cores(3, 4, "Intel*")), []string{`constraints[1]: type "cores" with identifier "Intel*" is already constrained by constraints[0]`}},
		{"malformed glob", size("s", cores(1, 2, "Intel[")), []string{`constraints[0].identifier "Intel[" is not a valid glob`}},
		{"unknown type", size("s", machine.Constraint{Type: "ram", Max: 1}), []string{`constraints[0].type "ram" is unknown`}},
		{"all at once", machine.Size{ID: "unknown", Name: "a\x00", Constraints: []machine.Constraint{cores(3, 1, "["), cores(3, 1, "[")}},
			[]string{`id "unknown" is reserved`, "machine: name", "constraints[0]: min 3", "constraints[0].identifier", "constraints[1]: min 3", "constraints[1].identifier", "constraints[1]: type"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireProblems(t, machine.ValidateSize(tc.s), machine.ErrInvalidArgument, tc.want...)
		})
	}
}

// Scenario 9: identification and overlap.
func TestIdentifyAndOverlap(t *testing.T) {
	s1, s2 := size("s1", cores(1, 4, "")), size("s2", cores(5, 8, ""))
	sizes := []machine.Size{s1, s2}

	id, matches := machine.Identify(sizes, hw(3))
	assert.Equal(t, "s1", id)
	assert.Equal(t, []string{"s1"}, matches)
	id, matches = machine.Identify(sizes, hw(9))
	assert.Equal(t, machine.UnknownSize, id)
	assert.Empty(t, matches)

	s3 := size("s3", cores(2, 6, ""))
	err := machine.CheckSizeOverlap(s3, sizes)
	requireProblems(t, err, machine.ErrConflict, `size "s3" overlaps size "s1"`, `size "s3" overlaps size "s2"`)
	assert.NoError(t, machine.CheckSizeOverlap(s1, sizes), "a size does not overlap itself (update)")

	s4, s5 := size("s4", cores(1, 8, "Intel*")), size("s5", cores(1, 8, "*Xeon*"))
	id, matches = machine.Identify([]machine.Size{s4, s5}, hw(4, "Intel Xeon"))
	assert.Equal(t, machine.UnknownSize, id, "several matches")
	assert.Equal(t, []string{"s4", "s5"}, matches)
	id, _ = machine.Identify([]machine.Size{s4, s5}, hw(4, "Intel Core"))
	assert.Equal(t, "s4", id)
}

func TestIdentifyGPUCoverage(t *testing.T) {
	withGPU := hw(4)
	withGPU.GPUs = []machine.GPU{{Vendor: "NVIDIA", Model: "AD102GL [L40S]"}}
	plain := size("plain", cores(1, 8, ""))
	gpu := size("gpu", cores(1, 8, ""), machine.Constraint{Type: machine.GPUConstraint, Min: 1, Max: 1, Identifier: "AD102GL*"})

	id, _ := machine.Identify([]machine.Size{plain}, withGPU)
	assert.Equal(t, machine.UnknownSize, id, "a machine with a GPU matches no size without a gpu constraint")
	id, _ = machine.Identify([]machine.Size{plain, gpu}, withGPU)
	assert.Equal(t, "gpu", id)
	id, _ = machine.Identify([]machine.Size{plain, gpu}, hw(4))
	assert.Equal(t, "plain", id, "no GPU: the gpu size wants one")

	two := withGPU
	two.GPUs = append(two.GPUs, machine.GPU{Vendor: "NVIDIA", Model: "GA100 [A100]"})
	id, _ = machine.Identify([]machine.Size{gpu}, two)
	assert.Equal(t, machine.UnknownSize, id, "the A100 is matched by no gpu constraint")
}

func TestSizeMatches(t *testing.T) {
	h := machine.Hardware{
		Memory: 64 * gib,
		CPUs:   []machine.CPU{{Model: "AMD EPYC 7402P", Cores: 24}, {Model: "AMD EPYC 7402P", Cores: 24}},
		Disks:  []machine.BlockDevice{{Name: "/dev/sda", Size: 100 * gib}, {Name: "/dev/nvme0n1", Size: 1000 * gib}},
	}
	mem := machine.Constraint{Type: machine.MemoryConstraint, Min: 64 * gib, Max: 64 * gib}
	for _, tc := range []struct {
		name string
		s    machine.Size
		want bool
	}{
		{"cores summed over CPUs", size("s", cores(48, 48, "")), true},
		{"cores by model", size("s", cores(48, 48, "AMD*")), true},
		{"cores of another model miss", size("s", cores(48, 48, "Intel*")), false},
		{"every CPU covered", size("s", cores(48, 48, "AMD*"), cores(0, 0, "Intel*")), true},
		{"memory inclusive", size("s", mem), true},
		{"memory out of range", size("s", machine.Constraint{Type: machine.MemoryConstraint, Max: 32 * gib}), false},
		{"storage summed", size("s", machine.Constraint{Type: machine.StorageConstraint, Min: 1100 * gib, Max: 1100 * gib}), true},
		{"storage per glob, every disk covered", size("s",
			machine.Constraint{Type: machine.StorageConstraint, Min: 100 * gib, Max: 100 * gib, Identifier: "/dev/sd*"},
			machine.Constraint{Type: machine.StorageConstraint, Min: 1000 * gib, Max: 1000 * gib, Identifier: "/dev/nvme*"}), true},
		{"a disk left uncovered", size("s", machine.Constraint{Type: machine.StorageConstraint, Min: 100 * gib, Max: 100 * gib, Identifier: "/dev/sd*"}), false},
		{"no storage constraint: disks unchecked", size("s", cores(48, 48, ""), mem), true},
		{"malformed glob never holds", size("s", cores(0, 100, "[")), false},
		{"unknown type never holds", size("s", machine.Constraint{Type: "ram", Max: 100}), false},
	} {
		assert.Equal(t, tc.want, machine.SizeMatches(tc.s, h), tc.name)
	}
}

func TestCheckSizeOverlap(t *testing.T) {
	mem := func(min, max uint64) machine.Constraint {
		return machine.Constraint{Type: machine.MemoryConstraint, Min: min, Max: max}
	}
	base := size("base", cores(4, 8, ""), mem(8, 16))
	for _, tc := range []struct {
		name    string
		other   machine.Size
		overlap bool
	}{
		{"same ranges", size("o", cores(4, 8, ""), mem(8, 16)), true},
		{"touching ranges", size("o", cores(8, 12, ""), mem(16, 32)), true},
		{"disjoint cores", size("o", cores(9, 12, ""), mem(8, 16)), false},
		{"fewer types", size("o", cores(4, 8, "")), false},
		{"more types", size("o", cores(4, 8, ""), mem(8, 16), machine.Constraint{Type: machine.StorageConstraint, Max: 10}), false},
		{"other identifier", size("o", cores(4, 8, "Intel*"), mem(8, 16)), false},
		{"two constraints of a type must all intersect", size("o", cores(4, 8, ""), cores(20, 30, "AMD*"), mem(8, 16)), false},
		{"no constraints", size("o"), false},
	} {
		err := machine.CheckSizeOverlap(base, []machine.Size{tc.other})
		if tc.overlap {
			assert.ErrorIs(t, err, machine.ErrConflict, tc.name)
		} else {
			assert.NoError(t, err, tc.name)
		}
	}
	assert.NoError(t, machine.CheckSizeOverlap(size("empty"), []machine.Size{base}))
}

// BenchmarkIdentify identifies a two-socket machine among 50 sizes.
func BenchmarkIdentify(b *testing.B) {
	var sizes []machine.Size
	for i := range 50 {
		sizes = append(sizes, size(fmt.Sprint("s", i), cores(uint64(2*i+1), uint64(2*i+2), "*Xeon*"),
			machine.Constraint{Type: machine.MemoryConstraint, Min: 8 * gib, Max: 64 * gib},
			machine.Constraint{Type: machine.StorageConstraint, Min: 0, Max: 1 << 50, Identifier: "/dev/sd*"}))
	}
	h := hw(20, "Intel Xeon", "Intel Xeon")
	for b.Loop() {
		if id, _ := machine.Identify(sizes, h); id != "s19" {
			b.Fatal(id)
		}
	}
}
