package machine

import (
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/metalkit/metalkit/errdefs"
)

// Placement is what rack spreading knows of a machine: its id, its rack
// and, for the project's allocated machines, its tags.
type Placement struct {
	ID     string
	RackID string
	Tags   []string
}

// SpreadAcrossRacks narrows the candidates of an allocation so that the
// project's machines spread over the racks. project are the project's
// allocated machines of the same partition, size and role; placementTags
// are the request's. In input order, it returns the candidates in the racks
// that are in both of
//
//   - the project set: the candidate racks holding the fewest of project
//     (a candidate rack without any counts zero);
//   - the tag set: the same, counting only project machines with a
//     placement tag, each once per distinct placement tag it carries (as
//     metal-api, so that a machine sharing two tags weighs twice);
//
// and, if no candidate is in both, the candidates in the racks of the tag
// set. Without placement tags the tag set holds every candidate rack, so
// the project set decides. No candidates give none.
func SpreadAcrossRacks(candidates, project []Placement, placementTags []string) []Placement {
	racks := map[string]bool{}
	for _, c := range candidates {
		racks[c.RackID] = true
	}
	byProject := map[string]int{}
	byTags := map[string]int{}
	for _, m := range project {
		if !racks[m.RackID] {
			continue
		}
		byProject[m.RackID]++
		var seen []string
		for _, t := range m.Tags {
			if slices.Contains(placementTags, t) && !slices.Contains(seen, t) {
				seen = append(seen, t)
				byTags[m.RackID]++
			}
		}
	}
	projectSet, tagSet := leastOccupied(racks, byProject), leastOccupied(racks, byTags)
	in := func(set map[string]bool) []Placement {
		var out []Placement
		for _, c := range candidates {
			if set[c.RackID] {
				out = append(out, c)
			}
		}
		return out
	}
	both := map[string]bool{}
	for r := range tagSet {
		if projectSet[r] {
			both[r] = true
		}
	}
	if out := in(both); len(out) > 0 {
		return out
	}
	return in(tagSet)
}

// leastOccupied returns the racks with the lowest count.
func leastOccupied(racks map[string]bool, count map[string]int) map[string]bool {
	low := -1
	for r := range racks {
		if n := count[r]; low < 0 || n < low {
			low = n
		}
	}
	out := map[string]bool{}
	for r := range racks {
		if count[r] == low {
			out[r] = true
		}
	}
	return out
}

// Pick picks one of ids with r: the ids are sorted first, so that the same
// candidates and the same seed give the same machine whatever order a
// store listed them in. ids is not modified. A nil r uses the global
// source of math/rand/v2. No ids is an error matching
// ErrNoMachineAvailable.
func Pick(ids []string, r *rand.Rand) (string, error) {
	if len(ids) == 0 {
		return "", errdefs.Errorf(ErrNoMachineAvailable, "machine: no candidate is left to pick from")
	}
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, strings.Compare)
	var i int
	if r == nil {
		i = rand.IntN(len(sorted))
	} else {
		i = r.IntN(len(sorted))
	}
	return sorted[i], nil
}
