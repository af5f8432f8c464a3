package machine

import (
	"slices"
	"strconv"
	"strings"
)

// The system labels of an allocated machine, shown among its tags as
// key=value. They overlay user tags of the same key.
const (
	// TagPrimaryASN carries the ASN of the machine's first private
	// network.
	TagPrimaryASN = "machine.metal-stack.io/network.primary.asn"
	// TagRack carries the machine's rack.
	TagRack = "machine.metal-stack.io/rack"
	// TagChassis carries the chassis serial from the machine's FRU data.
	TagChassis = "machine.metal-stack.io/chassis"
)

// SystemLabels are the values of the system labels; a zero field is not
// known and gives no label.
type SystemLabels struct {
	ASN     uint32
	Rack    string
	Chassis string
}

// SystemLabelsOf returns the system labels of m: the ASN of the first
// private network of its allocation that has one, its rack and its FRU
// chassis serial.
func SystemLabelsOf(m *Machine) SystemLabels {
	l := SystemLabels{Rack: m.RackID, Chassis: m.IPMI.FRU.ChassisPartSerial}
	if m.Allocation != nil {
		for _, n := range m.Allocation.Networks {
			if n.Private && n.ASN != 0 {
				l.ASN = n.ASN
				break
			}
		}
	}
	return l
}

// MachineTags computes an allocated machine's tags from the user's: tags
// without '=' are kept once each; of key=value tags, the last value of a
// key wins; then the known system labels replace any user value of their
// key. The result is sorted and has no duplicates; it is empty (not nil)
// when there is nothing to tag.
func MachineTags(user []string, sys SystemLabels) []string {
	plain := map[string]bool{}
	labels := map[string]string{}
	for _, t := range user {
		if t == "" {
			continue
		}
		if k, v, ok := strings.Cut(t, "="); ok {
			labels[k] = v
		} else {
			plain[t] = true
		}
	}
	if sys.ASN != 0 {
		labels[TagPrimaryASN] = strconv.FormatUint(uint64(sys.ASN), 10)
	}
	if sys.Rack != "" {
		labels[TagRack] = sys.Rack
	}
	if sys.Chassis != "" {
		labels[TagChassis] = sys.Chassis
	}
	out := make([]string, 0, len(plain)+len(labels))
	for t := range plain {
		out = append(out, t)
	}
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
