package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	goipam "github.com/metal-stack/go-ipam"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
)

// exportFrom runs ExportGoIPAM in one View.
func exportFrom(t testing.TB, st backends.Store) []byte {
	t.Helper()
	var out []byte
	require.NoError(t, st.View(ctx, func(tx backends.Tx) (err error) {
		out, err = ExportGoIPAM(tx)
		return err
	}))
	return out
}

// leafIPs lists the taken addresses of p that are not reserved, from an
// export.
func leafIPs(e goipamPrefix) []netip.Addr {
	sp := newSpan(netip.MustParsePrefix(e.Cidr))
	var out []netip.Addr
	for s := range e.IPs {
		if a := netip.MustParseAddr(s); !sp.isReserved(addrToU(a)) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// buildState makes a seeded random state with this package alone: two
// families, children of several lengths, grandchildren, released children
// and IPs, specific children and IPs. It returns the prefixes that give
// children and those that give IPs.
func buildState(t *testing.T, st backends.Store, r *rand.Rand) (parents, leaves []netip.Prefix) {
	update(t, st, func(tx backends.Tx) error {
		for _, s := range []string{"10.0.0.0/16", "2001:db8::/48", "172.16.0.0/24", "2001:db8:ffff::/120"} {
			require.NoError(t, CreatePrefix(tx, pfx(s)))
		}
		parents = []netip.Prefix{pfx("10.0.0.0/16"), pfx("2001:db8::/48")}
		leaves = []netip.Prefix{pfx("172.16.0.0/24"), pfx("2001:db8:ffff::/120")}
		require.NoError(t, AcquireSpecificChild(tx, pfx("10.0.0.0/16"), pfx("10.0.200.0/21")))
		require.NoError(t, AcquireSpecificChild(tx, pfx("2001:db8::/48"), pfx("2001:db8:0:ab00::/56")))
		parents = append(parents, pfx("10.0.200.0/21"), pfx("2001:db8:0:ab00::/56"))
		for _, p := range slices.Clone(parents) {
			var got []netip.Prefix
			for range 8 + r.IntN(8) {
				c, err := AcquireChild(tx, p, p.Bits()+4+r.IntN(6))
				require.NoError(t, err)
				got = append(got, c)
			}
			for range 3 {
				j := r.IntN(len(got))
				require.NoError(t, ReleaseChild(tx, p, got[j]))
				got = slices.Delete(got, j, j+1)
			}
			leaves = append(leaves, got...)
		}
		for _, l := range leaves {
			var got []netip.Addr
			for range r.IntN(12) {
				a, err := AcquireIP(tx, l)
				if errors.Is(err, ErrExhausted) {
					break
				}
				require.NoError(t, err)
				got = append(got, a)
			}
			for _, a := range got {
				if r.IntN(3) == 0 {
					require.NoError(t, ReleaseIP(tx, l, a))
				}
			}
			if a := newSpan(l).addr(newSpan(l).start.add(u64(20 + r.Uint64N(30)))); l.Contains(a) && r.IntN(2) == 0 {
				if err := AcquireSpecificIP(tx, l, a); !errors.Is(err, ErrAlreadyAllocated) {
					require.NoError(t, err)
				}
			}
		}
		return nil
	})
	return parents, leaves
}

// TestExportGoIPAMLoadsIntoGoIPAM: go-ipam's Load of an export, then the
// same random operations on both sides give the same placements, taken
// addresses, children and usage.
func TestExportGoIPAMLoadsIntoGoIPAM(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			d := newPair(t)
			r := rand.New(rand.NewPCG(seed, 23))
			parents, leaves := buildState(t, d.st, r)
			js := exportFrom(t, d.st)
			require.NotContains(t, string(js), "null", "go-ipam writes into every map")
			require.NoError(t, d.gi.Load(ctx, string(js)))

			d.compareState("loaded")
			held := map[netip.Prefix][]netip.Addr{}
			for p, e := range d.goipamDump() {
				d.compareUsage(p, "loaded")
				held[p] = leafIPs(e)
			}
			var children, ips, released int
			for i := range 400 {
				step := fmt.Sprintf("step %d", i)
				switch op := r.IntN(10); {
				case op < 3:
					p := parents[r.IntN(len(parents))]
					bits := p.Bits() + 1 + r.IntN(10)
					if c, ok := d.acquireChild(p, bits, fmt.Sprintf("%s: /%d of %s", step, bits, p)); ok {
						leaves = append(leaves, c)
						children++
					}
				case op < 6:
					l := leaves[r.IntN(len(leaves))]
					if a, ok := d.acquireIP(l, fmt.Sprintf("%s: IP of %s", step, l)); ok {
						held[l] = append(held[l], a)
						ips++
					}
				case op < 7:
					l := leaves[r.IntN(len(leaves))]
					sp := newSpan(l)
					a := sp.addr(sp.start.add(u64(r.Uint64N(min(256, uint64(1)<<min(63, sp.w-sp.bits))))))
					if d.acquireSpecificIP(l, a, fmt.Sprintf("%s: %s in %s", step, a, l)) {
						held[l] = append(held[l], a)
					}
				case op < 9:
					l := leaves[r.IntN(len(leaves))]
					if len(held[l]) > 0 {
						j := r.IntN(len(held[l]))
						d.releaseIP(l, held[l][j], fmt.Sprintf("%s: release %s", step, held[l][j]))
						held[l] = slices.Delete(held[l], j, j+1)
					}
				default:
					j := r.IntN(len(leaves))
					l := leaves[j]
					info, err := getPrefix(d.st, l)
					require.NoError(t, err)
					if info.Parent.IsValid() && len(held[l]) == 0 {
						d.releaseChild(info.Parent, l, fmt.Sprintf("%s: release child %s", step, l))
						leaves = slices.Delete(leaves, j, j+1)
						released++
					}
				}
			}
			t.Logf("%d children and %d IPs placed, %d children released, %d exhausted", children, ips, released, d.exhausted)
			require.Positive(t, children)
			require.Positive(t, ips)
			require.Positive(t, released)
			d.compareState("after the operations")
			for p := range d.goipamDump() {
				d.compareUsage(p, "after the operations")
			}
		})
	}
}

func getPrefix(st backends.Store, p netip.Prefix) (Prefix, error) {
	var out Prefix
	err := st.View(ctx, func(tx backends.Tx) (err error) {
		out, err = GetPrefix(tx, p)
		return err
	})
	return out, err
}

// TestExportGoIPAMRoundTrip: importing an export and exporting again gives
// the same bytes, and the export holds what go-ipam writes for the same
// state.
func TestExportGoIPAMRoundTrip(t *testing.T) {
	st := newMem(t)
	buildState(t, st, rand.New(rand.NewPCG(7, 7)))
	js := exportFrom(t, st)
	st2 := newMem(t)
	_, err := importInto(t, st2, js)
	require.NoError(t, err)
	require.Equal(t, string(js), string(exportFrom(t, st2)))

	// go-ipam's Load and Dump keep everything the export wrote.
	gi := goipam.New(ctx)
	require.NoError(t, gi.Load(ctx, string(js)))
	var want, got []goipamPrefix
	require.NoError(t, json.Unmarshal(js, &want))
	require.NoError(t, json.Unmarshal(dumpOf(t, gi), &got))
	byCidr := func(a, b goipamPrefix) int { return comparePrefixes(pfx(a.Cidr), pfx(b.Cidr)) }
	slices.SortFunc(got, byCidr)
	require.Equal(t, want, got)
}

// TestExportGoIPAMEmptyAndShape: an empty store exports an empty array; a
// prefix exports its reserved addresses, its children and IsParent as
// go-ipam writes them.
func TestExportGoIPAMEmptyAndShape(t *testing.T) {
	st := newMem(t)
	require.JSONEq(t, `[]`, string(exportFrom(t, st)))
	update(t, st, func(tx backends.Tx) error {
		if err := CreatePrefix(tx, pfx("10.0.0.0/24")); err != nil {
			return err
		}
		if _, err := AcquireChild(tx, pfx("10.0.0.0/24"), 30); err != nil {
			return err
		}
		if err := CreatePrefix(tx, pfx("2001:db8::/126")); err != nil {
			return err
		}
		return AcquireSpecificIP(tx, pfx("2001:db8::/126"), addr("2001:db8::3"))
	})
	require.JSONEq(t, `[
	  {"Cidr":"10.0.0.0/24","ParentCidr":"","Namespace":"","IsParent":true,"ChildPrefixLength":0,"Version":0,
	   "IPs":{"10.0.0.0":true,"10.0.0.255":true},"AvailableChildPrefixes":{"10.0.0.0/30":false}},
	  {"Cidr":"10.0.0.0/30","ParentCidr":"10.0.0.0/24","Namespace":"","IsParent":false,"ChildPrefixLength":0,"Version":0,
	   "IPs":{"10.0.0.0":true,"10.0.0.3":true},"AvailableChildPrefixes":{}},
	  {"Cidr":"2001:db8::/126","ParentCidr":"","Namespace":"","IsParent":false,"ChildPrefixLength":0,"Version":0,
	   "IPs":{"2001:db8::":true,"2001:db8::3":true},"AvailableChildPrefixes":{}}
	]`, string(exportFrom(t, st)))
}
