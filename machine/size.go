package machine

import (
	"errors"
	"path"
	"time"

	"github.com/metalkit/metalkit/limits"
)

// UnknownSize is the size id of a machine whose hardware matches no size or
// several sizes. No size may have this id.
const UnknownSize = "unknown"

// ConstraintType is what a size constraint measures.
type ConstraintType string

// The constraint types.
const (
	// CoreConstraint: the cores summed over the CPUs whose model matches
	// the identifier.
	CoreConstraint ConstraintType = "cores"
	// MemoryConstraint: the total memory in bytes; no identifier.
	MemoryConstraint ConstraintType = "memory"
	// StorageConstraint: the bytes summed over the disks whose name
	// matches the identifier.
	StorageConstraint ConstraintType = "storage"
	// GPUConstraint: the number of GPUs whose model matches the
	// identifier, which is required.
	GPUConstraint ConstraintType = "gpu"
)

// ConstraintTypes lists the constraint types.
var ConstraintTypes = []ConstraintType{CoreConstraint, MemoryConstraint, StorageConstraint, GPUConstraint}

// Constraint is one hardware condition of a size.
type Constraint struct {
	Type ConstraintType `json:"type"`
	// Min and Max bound the measured value, both inclusive: cores, bytes
	// of memory, bytes of storage, or a count of GPUs.
	Min uint64 `json:"min,omitempty"`
	Max uint64 `json:"max,omitempty"`
	// Identifier is a path.Match glob over the CPU model, disk name or GPU
	// model; empty matches everything.
	Identifier string `json:"identifier,omitempty"`
}

// Size is a class of machines defined by hardware constraints. JSON names
// are metal-api's.
type Size struct {
	ID          string            `json:"id"`
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	Constraints []Constraint      `json:"constraints"`
	Labels      map[string]string `json:"labels,omitempty"`
	// Created and Changed are set by the service.
	Created time.Time `json:"created,omitzero"`
	Changed time.Time `json:"changed,omitzero"`
}

// ValidateSize checks a size as create and update do, without looking at
// other sizes (see CheckSizeOverlap). It returns every problem together,
// each matching ErrInvalidArgument: the id (required, within limits, not
// UnknownSize), name, description and labels within limits; for every
// constraint a known type, min <= max, a well-formed glob, an identifier
// for gpu and none for memory; at most one memory constraint; no two
// constraints with the same type and identifier.
func ValidateSize(s Size) error {
	errs := []error{
		limit(limits.ID("id", s.ID)),
		limit(limits.Name("name", s.Name)),
		limit(limits.Description("description", s.Description)),
		limit(limits.Labels("labels", s.Labels)),
		limit(limits.Count("constraints", len(s.Constraints))),
	}
	if s.ID == UnknownSize {
		errs = append(errs, invalid("id %s is reserved for machines that match no size", q(s.ID)))
	}
	type key struct {
		t  ConstraintType
		id string
	}
	seen := make(map[key]int, len(s.Constraints))
	memory := -1
	for i, c := range s.Constraints {
		f := field("constraints", i)
		switch c.Type {
		case CoreConstraint, StorageConstraint:
		case MemoryConstraint:
			if c.Identifier != "" {
				errs = append(errs, invalid("%s.identifier %s: a memory constraint has no identifier", f, q(c.Identifier)))
			}
			if memory >= 0 {
				errs = append(errs, invalid("%s: a second memory constraint beside constraints[%d]; at most one is allowed", f, memory))
			} else {
				memory = i
			}
		case GPUConstraint:
			if c.Identifier == "" {
				errs = append(errs, invalid("%s.identifier is required for a gpu constraint", f))
			}
		default:
			errs = append(errs, invalid("%s.type %s is unknown; use cores, memory, storage or gpu", f, q(string(c.Type))))
		}
		if c.Min > c.Max {
			errs = append(errs, invalid("%s: min %d is greater than max %d", f, c.Min, c.Max))
		}
		if err := limits.Name(f+".identifier", c.Identifier); err != nil {
			errs = append(errs, limit(err))
		} else if _, err := path.Match(c.Identifier, ""); err != nil {
			errs = append(errs, invalid("%s.identifier %s is not a valid glob: %v", f, q(c.Identifier), err))
		}
		k := key{c.Type, c.Identifier}
		if j, dup := seen[k]; dup && c.Type != MemoryConstraint {
			errs = append(errs, invalid("%s: type %s with identifier %s is already constrained by constraints[%d]", f, q(string(c.Type)), q(c.Identifier), j))
		} else if !dup {
			seen[k] = i
		}
	}
	return errors.Join(errs...)
}

// CheckSizeOverlap reports whether s overlaps any of others, as metal-api
// decides it: two sizes overlap when both have constraints, they constrain
// the same set of types, and for each type every constraint of one and
// every constraint of the other have the same identifier and intersecting
// ranges. A size in others with s's id (s itself, on update) is skipped.
// The error names every overlapping size and matches ErrConflict.
func CheckSizeOverlap(s Size, others []Size) error {
	var errs []error
	for _, o := range others {
		if o.ID != s.ID && sizesOverlap(s, o) {
			errs = append(errs, conflict("size %s overlaps size %s: both constrain the same types with the same identifiers and intersecting ranges", q(s.ID), q(o.ID)))
		}
	}
	return errors.Join(errs...)
}

func sizesOverlap(a, b Size) bool {
	if len(a.Constraints) == 0 || len(b.Constraints) == 0 {
		return false
	}
	byType := func(s Size) map[ConstraintType][]Constraint {
		m := map[ConstraintType][]Constraint{}
		for _, c := range s.Constraints {
			m[c.Type] = append(m[c.Type], c)
		}
		return m
	}
	at, bt := byType(a), byType(b)
	if len(at) != len(bt) {
		return false
	}
	for t, as := range at {
		bs, ok := bt[t]
		if !ok {
			return false
		}
		for _, x := range as {
			for _, y := range bs {
				if x.Identifier != y.Identifier || x.Min > y.Max || x.Max < y.Min {
					return false
				}
			}
		}
	}
	return true
}

// Identify returns the id of the one size that hw matches, and the ids of
// every matching size in the order of sizes. None or several matches give
// UnknownSize as the id; that is not an error.
//
// hw matches a size when every constraint holds and, for each of cores,
// storage and gpu that the size constrains, every CPU, disk or GPU is
// matched by the identifier of some constraint of its type. A machine with
// GPUs never matches a size without a gpu constraint (metal-api leaves GPU
// coverage unchecked). A constraint of unknown type or with a malformed
// glob (which ValidateSize refuses) never holds.
func Identify(sizes []Size, hw Hardware) (id string, matches []string) {
	for _, s := range sizes {
		if SizeMatches(s, hw) {
			matches = append(matches, s.ID)
		}
	}
	if len(matches) == 1 {
		return matches[0], matches
	}
	return UnknownSize, matches
}

// SizeMatches reports whether hw matches s, with Identify's rules.
func SizeMatches(s Size, hw Hardware) bool {
	constrained := map[ConstraintType]bool{}
	for _, c := range s.Constraints {
		v, ok := measure(c, hw)
		if !ok || v < c.Min || v > c.Max {
			return false
		}
		constrained[c.Type] = true
	}
	if len(hw.GPUs) > 0 && !constrained[GPUConstraint] {
		return false
	}
	covered := func(t ConstraintType, name string) bool {
		for _, c := range s.Constraints {
			if c.Type == t && globMatch(c.Identifier, name) {
				return true
			}
		}
		return false
	}
	if constrained[CoreConstraint] {
		for _, cpu := range hw.CPUs {
			if !covered(CoreConstraint, cpu.Model) {
				return false
			}
		}
	}
	if constrained[StorageConstraint] {
		for _, d := range hw.Disks {
			if !covered(StorageConstraint, d.Name) {
				return false
			}
		}
	}
	if constrained[GPUConstraint] {
		for _, g := range hw.GPUs {
			if !covered(GPUConstraint, g.Model) {
				return false
			}
		}
	}
	return true
}

// measure returns the value constraint c measures on hw; ok is false for
// an unknown type or a malformed glob.
func measure(c Constraint, hw Hardware) (v uint64, ok bool) {
	if _, err := path.Match(c.Identifier, ""); err != nil {
		return 0, false
	}
	switch c.Type {
	case CoreConstraint:
		for _, cpu := range hw.CPUs {
			if globMatch(c.Identifier, cpu.Model) {
				v += uint64(cpu.Cores)
			}
		}
	case MemoryConstraint:
		v = hw.Memory
	case StorageConstraint:
		for _, d := range hw.Disks {
			if globMatch(c.Identifier, d.Name) {
				v += d.Size
			}
		}
	case GPUConstraint:
		for _, g := range hw.GPUs {
			if globMatch(c.Identifier, g.Model) {
				v++
			}
		}
	default:
		return 0, false
	}
	return v, true
}

// globMatch matches name against an identifier glob; empty matches all, a
// malformed glob nothing.
func globMatch(glob, name string) bool {
	if glob == "" {
		return true
	}
	ok, err := path.Match(glob, name)
	return err == nil && ok
}
