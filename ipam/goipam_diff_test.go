package ipam

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// phaseOf cycles through a filling, a draining and a balanced phase of
// length n and returns the chance of an acquisition in step i.
func phaseOf(i, n int) float64 {
	return [...]float64{0.95, 0.2, 0.5}[(i/n)%3]
}

// TestDifferentialGoIPAMChildren runs seeded random sequences of child
// acquisitions (best fit and specific) and releases on go-ipam and on
// metalkit side by side: the same placements, the same exhaustion, the
// same children and usage. Every run ends by taking children of the
// shortest length until both report exhaustion.
func TestDifferentialGoIPAMChildren(t *testing.T) {
	cases := []struct {
		name     string
		parent   string
		min, max int // child lengths
		phase    int // steps per phase
		steps    int
		// scatter first takes one specific /max child in every /min
		// block, so that /min requests meet exhaustion.
		scatter bool
	}{
		{"IPv4/one length", "10.0.0.0/16", 22, 22, 100, 600, false},
		{"IPv4/mixed lengths", "10.0.0.0/16", 17, 28, 100, 600, false},
		{"IPv6 /64/one length", "2001:db8:0:100::/64", 70, 70, 100, 600, false},
		{"IPv6 /64/mixed lengths", "2001:db8:0:100::/64", 65, 72, 100, 600, false},
		{"IPv6 /48/one length", "2001:db8:1::/48", 56, 56, 330, 1000, false},
		{"IPv6 /48/mixed lengths", "2001:db8:1::/48", 56, 64, 100, 600, true},
	}
	for _, c := range cases {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", c.name, seed), func(t *testing.T) {
				t.Parallel()
				d := newPair(t)
				parent := pfx(c.parent)
				d.createPrefix(parent)
				r := rand.New(rand.NewPCG(seed, 13))
				var held []netip.Prefix
				length := func() int { return c.min + r.IntN(c.max-c.min+1) }
				if c.scatter {
					per := uint64(1) << (c.max - c.min)
					for k := range uint64(1) << (c.min - parent.Bits()) {
						child := blockAt(parent, k*per+r.Uint64N(per), c.max)
						require.True(t, d.acquireSpecificChild(parent, child, "scatter "+child.String()))
						held = append(held, child)
					}
				}
				for i := range c.steps {
					switch {
					case len(held) > 0 && r.Float64() >= phaseOf(i, c.phase):
						j := r.IntN(len(held))
						d.releaseChild(parent, held[j], fmt.Sprintf("step %d: release %s", i, held[j]))
						held[j] = held[len(held)-1]
						held = held[:len(held)-1]
					case r.IntN(10) == 0:
						bits := length()
						off := r.Uint64N(1 << (bits - parent.Bits()))
						child := blockAt(parent, off, bits)
						if d.acquireSpecificChild(parent, child, fmt.Sprintf("step %d: specific %s", i, child)) {
							held = append(held, child)
						}
					default:
						bits := length()
						if ch, ok := d.acquireChild(parent, bits, fmt.Sprintf("step %d: acquire /%d", i, bits)); ok {
							held = append(held, ch)
						}
					}
					if i%40 == 0 {
						d.compareUsage(parent, fmt.Sprintf("step %d", i))
					}
				}
				d.compareState("after the sequence")
				require.Positive(t, d.exhausted, "the sequence reaches exhaustion")
				for n := 0; ; n++ {
					if _, ok := d.acquireChild(parent, c.min, fmt.Sprintf("closing acquire %d: /%d", n, c.min)); !ok {
						break
					}
				}
				d.compareState("exhausted")
				d.compareUsage(parent, "exhausted")
				t.Logf("%d exhausted, %d held at the end, departures %v", d.exhausted, len(held), d.departures)
				require.Positive(t, d.exhausted)
				if parent.Addr().Is6() && parent.Bits() == 48 {
					require.Positive(t, d.departures[departCappedPrefixes], "a /48 always meets go-ipam's overflow")
				}
			})
		}
	}
}

// TestDifferentialGoIPAMIPs runs seeded random sequences of IP
// acquisitions (lowest free and specific) and releases on go-ipam and on
// metalkit side by side on an IPv4 /22 and an IPv6 /120: the same
// addresses, the same exhaustion, the same taken addresses and usage.
// Releasing a reserved address is a departure (go-ipam frees it, metalkit
// refuses): every run meets it and asserts it. Every run ends by taking
// addresses until both report exhaustion.
func TestDifferentialGoIPAMIPs(t *testing.T) {
	cases := []struct {
		name   string
		prefix string
		phase  int
		steps  int
	}{
		{"IPv4", "10.0.4.0/22", 1600, 3200},
		{"IPv6", "2001:db8:ff::/120", 450, 1350},
	}
	for _, c := range cases {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", c.name, seed), func(t *testing.T) {
				t.Parallel()
				d := newPair(t)
				p := pfx(c.prefix)
				d.createPrefix(p)
				sp := newSpan(p)
				size := uint64(1) << (p.Addr().BitLen() - p.Bits())
				at := func(off uint64) netip.Addr { return sp.addr(sp.start.add(u64(off))) }
				r := rand.New(rand.NewPCG(seed, 17))
				var held []netip.Addr
				for i := range c.steps {
					switch roll := r.Float64(); {
					case roll < 0.04:
						a := sp.addr(sp.start)
						if p.Addr().Is4() && r.IntN(2) == 0 {
							a = sp.addr(sp.end)
						}
						d.releaseIP(p, a, fmt.Sprintf("step %d: release reserved %s", i, a))
					case roll < 0.07:
						a := at(r.Uint64N(size))
						d.releaseIP(p, a, fmt.Sprintf("step %d: release %s", i, a))
						if j := indexOf(held, a); j >= 0 {
							held = append(held[:j], held[j+1:]...)
						}
					case len(held) > 0 && r.Float64() >= phaseOf(i, c.phase):
						j := r.IntN(len(held))
						d.releaseIP(p, held[j], fmt.Sprintf("step %d: release %s", i, held[j]))
						held = append(held[:j], held[j+1:]...)
					case r.IntN(5) == 0:
						a := at(r.Uint64N(size))
						if d.acquireSpecificIP(p, a, fmt.Sprintf("step %d: specific %s", i, a)) {
							held = append(held, a)
						}
					default:
						if a, ok := d.acquireIP(p, fmt.Sprintf("step %d: acquire", i)); ok {
							held = append(held, a)
						}
					}
					if i%50 == 0 {
						d.compareUsage(p, fmt.Sprintf("step %d", i))
					}
					if i%150 == 0 {
						d.compareState(fmt.Sprintf("step %d", i))
					}
				}
				d.compareState("after the sequence")
				require.Positive(t, d.exhausted, "the sequence reaches exhaustion")
				for n := 0; ; n++ {
					if _, ok := d.acquireIP(p, fmt.Sprintf("closing acquire %d", n)); !ok {
						break
					}
				}
				d.compareState("exhausted")
				d.compareUsage(p, "exhausted")
				t.Logf("%d exhausted, %d held at the end, departures %v", d.exhausted, len(held), d.departures)
				require.Positive(t, d.exhausted)
				require.Positive(t, d.departures[departReservedRelease], "the departure is asserted, not skipped")
			})
		}
	}
}

// blockAt is the off-th aligned /bits block of parent.
func blockAt(parent netip.Prefix, off uint64, bits int) netip.Prefix {
	sp := newSpan(parent)
	n := sp.w - bits
	var o u128
	switch {
	case n >= 64:
		o = u128{hi: off << (n - 64)}
	case n == 0:
		o = u64(off)
	default:
		o = u128{hi: off >> (64 - n), lo: off << n}
	}
	return sp.prefixAt(sp.start.or(o), bits)
}

func indexOf(as []netip.Addr, a netip.Addr) int {
	for i, b := range as {
		if a == b {
			return i
		}
	}
	return -1
}

// TestUsageDeparturesFromGoIPAM shows the capped figures where go-ipam
// overflows, on prefixes of the sizes where it does: exactly 31 host bits
// (go-ipam reports 2^31 available IPs) and IPv6 prefixes whose free /126
// blocks exceed uint64 (go-ipam reports 0 for an empty /48). Figures that
// do not overflow agree.
func TestUsageDeparturesFromGoIPAM(t *testing.T) {
	cases := []struct {
		prefix string
		depart []string
	}{
		{"0.0.0.0/1", []string{departCappedIPs}},
		{"2001:db8::/97", []string{departCappedIPs}},
		{"2001:db8:1::/48", []string{departCappedPrefixes}},
		{"2001:db8:2::/62", []string{departCappedPrefixes}},
		{"2001:db8:3::/64", nil},
		{"2001:db8:4::/96", nil},
		{"10.0.0.0/8", nil},
	}
	for _, c := range cases {
		t.Run(c.prefix, func(t *testing.T) {
			d := newPair(t)
			d.createPrefix(pfx(c.prefix))
			d.compareUsage(pfx(c.prefix), "empty")
			require.Len(t, d.departures, len(c.depart))
			for _, name := range c.depart {
				require.Equal(t, 1, d.departures[name], name)
			}
		})
	}
}
