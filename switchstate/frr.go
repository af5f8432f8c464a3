package switchstate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/metalkit/metalkit/errdefs"
)

// DefaultFRRMaxAge is the age above which ReadFRRFile refuses a dump.
const DefaultFRRMaxAge = time.Hour

// frrFamilies are the addressFamilyInfo members whose counters are summed:
// Cumulus' FRR spells them "IPv4 Unicast", SONiC's "ipv4Unicast". Other
// families (EVPN) are not counted.
var frrFamilies = []string{"IPv4 Unicast", "IPv6 Unicast", "ipv4Unicast", "ipv6Unicast"}

// ParseFRRNeighbors reads the output of FRR's `show bgp vrf all neighbors
// json` (SONiC's and Cumulus' spellings) into a map of neighbour name ->
// BGP port state. Neighbours are keyed by interface for BGP-unnumbered
// peers (swp31, Ethernet120) and by address otherwise.
//
// The top level has one object per VRF, with vrfId, vrfName (a string,
// required) and one member per neighbour. Per neighbour: hostname ->
// Neighbor, peerGroup -> PeerGroup, bgpState -> BgpState,
// bgpTimerUpEstablishedEpoch -> BgpTimerUpEstablished, the VRF's vrfName
// -> VrfName; the prefix counters are summed over the IPv4 and IPv6
// unicast families. Unknown members are ignored; empty input, null or {}
// give an empty map. Errors wrap ErrInvalidArgument and name VRF and key:
// invalid JSON, a VRF without a string vrfName, a neighbour that is no
// object, a known field of the wrong type, a negative or fractional
// counter, a neighbour key present in two VRFs.
func ParseFRRNeighbors(data []byte) (map[string]BGPPortState, error) {
	out := map[string]BGPPortState{}
	if len(bytes.TrimSpace(data)) == 0 {
		return out, nil
	}
	var vrfs map[string]json.RawMessage
	if err := json.Unmarshal(data, &vrfs); err != nil {
		return nil, errdefs.Errorf(ErrInvalidArgument, "switchstate: FRR neighbours: %v", err)
	}
	vrfKeys := make([]string, 0, len(vrfs))
	for k := range vrfs {
		vrfKeys = append(vrfKeys, k)
	}
	slices.Sort(vrfKeys)
	origin := map[string]string{}
	for _, vk := range vrfKeys {
		var members map[string]json.RawMessage
		if err := json.Unmarshal(vrfs[vk], &members); err != nil || members == nil {
			return nil, errdefs.Errorf(ErrInvalidArgument, "switchstate: FRR VRF %q is not an object", vk)
		}
		rawName, ok := members["vrfName"]
		if !ok {
			return nil, errdefs.Errorf(ErrInvalidArgument, "switchstate: FRR VRF %q has no vrfName", vk)
		}
		var vrfName string
		if err := unmarshalString(rawName, &vrfName); err != nil {
			return nil, errdefs.Errorf(ErrInvalidArgument, "switchstate: FRR VRF %q: vrfName is not a string", vk)
		}
		if raw, ok := members["vrfId"]; ok {
			if _, err := frrInt(raw, true); err != nil {
				return nil, errdefs.Errorf(ErrInvalidArgument, "switchstate: FRR VRF %q: vrfId: %v", vk, err)
			}
		}
		keys := make([]string, 0, len(members))
		for k := range members {
			if k != "vrfName" && k != "vrfId" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			st, err := parseFRRNeighbor(members[k])
			if err != nil {
				return nil, errdefs.Errorf(ErrInvalidArgument, "switchstate: FRR VRF %q neighbour %q: %v", vk, k, err)
			}
			if other, dup := origin[k]; dup {
				return nil, errdefs.Errorf(ErrInvalidArgument, "switchstate: FRR neighbour %q appears in VRF %q and VRF %q", k, other, vk)
			}
			origin[k] = vk
			st.VrfName = vrfName
			out[k] = st
		}
	}
	return out, nil
}

func parseFRRNeighbor(raw json.RawMessage) (BGPPortState, error) {
	var st BGPPortState
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return st, fmt.Errorf("not an object")
	}
	var state string
	for _, f := range []struct {
		name string
		dst  *string
	}{{"hostname", &st.Neighbor}, {"peerGroup", &st.PeerGroup}, {"bgpState", &state}} {
		if v, ok := m[f.name]; ok {
			if err := unmarshalString(v, f.dst); err != nil {
				return st, fmt.Errorf("%s is not a string", f.name)
			}
		}
	}
	st.BgpState = BGPState(state)
	if v, ok := m["bgpTimerUpEstablishedEpoch"]; ok {
		n, err := frrInt(v, false)
		if err != nil {
			return st, fmt.Errorf("bgpTimerUpEstablishedEpoch: %v", err)
		}
		st.BgpTimerUpEstablished = n
	}
	v, ok := m["addressFamilyInfo"]
	if !ok {
		return st, nil
	}
	var afi map[string]json.RawMessage
	if err := json.Unmarshal(v, &afi); err != nil || afi == nil {
		return st, fmt.Errorf("addressFamilyInfo is not an object")
	}
	for _, fam := range frrFamilies {
		raw, ok := afi[fam]
		if !ok {
			continue
		}
		var counters map[string]json.RawMessage
		if err := json.Unmarshal(raw, &counters); err != nil || counters == nil {
			return st, fmt.Errorf("addressFamilyInfo %q is not an object", fam)
		}
		for _, f := range []struct {
			name string
			dst  *int64
		}{{"sentPrefixCounter", &st.SentPrefixCounter}, {"acceptedPrefixCounter", &st.AcceptedPrefixCounter}} {
			field, dst := f.name, f.dst
			c, ok := counters[field]
			if !ok {
				continue
			}
			n, err := frrInt(c, false)
			if err != nil {
				return st, fmt.Errorf("addressFamilyInfo %q %s: %v", fam, field, err)
			}
			if *dst > math.MaxInt64-n {
				return st, fmt.Errorf("addressFamilyInfo %q %s: the sum overflows", fam, field)
			}
			*dst += n
		}
	}
	return st, nil
}

func unmarshalString(raw json.RawMessage, dst *string) error {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '"' {
		return fmt.Errorf("not a string")
	}
	return json.Unmarshal(raw, dst)
}

// frrInt reads a JSON integer; negative values are errors unless allowed.
func frrInt(raw json.RawMessage, allowNegative bool) (int64, error) {
	var num json.Number
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) {
		return 0, fmt.Errorf("%s is not a number", t)
	}
	if err := json.Unmarshal(t, &num); err != nil {
		return 0, fmt.Errorf("%s is not a number", t)
	}
	n, err := strconv.ParseInt(num.String(), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer in range", num)
	}
	if n < 0 && !allowNegative {
		return 0, fmt.Errorf("%d is negative", n)
	}
	return n, nil
}

// ReadFRRFile reads a file written from FRR's `show bgp vrf all neighbors
// json` and parses it with ParseFRRNeighbors. A file modified more than
// maxAge before now (maxAge <= 0: DefaultFRRMaxAge) is refused with an
// error wrapping ErrStale, so that an agent whose dump stopped being
// refreshed sends no BGP map and the stored states age into Stale.
func ReadFRRFile(path string, maxAge time.Duration, now time.Time) (map[string]BGPPortState, error) {
	if maxAge <= 0 {
		maxAge = DefaultFRRMaxAge
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("switchstate: FRR file: %w", err)
	}
	if age := now.Sub(fi.ModTime()); age > maxAge {
		return nil, errdefs.Errorf(ErrStale, "switchstate: FRR file %s was modified %s ago, more than %s", path, age.Round(time.Second), maxAge)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("switchstate: FRR file: %w", err)
	}
	st, err := ParseFRRNeighbors(data)
	if err != nil {
		return nil, fmt.Errorf("FRR file %s: %w", path, err)
	}
	return st, nil
}
