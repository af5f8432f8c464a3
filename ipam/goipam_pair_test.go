package ipam

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"net/netip"
	"slices"
	"testing"

	goipam "github.com/metal-stack/go-ipam"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
)

// Departures: outcomes where this package differs from go-ipam on purpose,
// each named after the rule of spec/networks-and-ips.md that decides it.
const (
	// "Reserved addresses": a reserved address can never be released.
	// go-ipam releases it and would hand it out next.
	departReservedRelease = "reserved addresses: a reserved address can never be released"
	// "Consumption": every figure is capped at 2^31-1, every value at or
	// above the cap reports the cap. go-ipam reports 2^31 available IPs
	// for exactly 31 host bits.
	departCappedIPs = "consumption: available_ips capped at 2^31-1 (go-ipam reports 2^31)"
	// "Consumption", same rule: go-ipam sums the free /126 blocks in
	// uint64 and its shifts and sum overflow (0 for an empty /48).
	departCappedPrefixes = "consumption: available_prefixes capped at 2^31-1 (go-ipam's uint64 sum overflows)"
)

// errRollback aborts a transaction that only probes the state.
var errRollback = errors.New("roll back")

// pair runs each operation on go-ipam (memory storage) and on this
// package's transaction functions over memstore, one step at a time, and
// requires the same outcome, or the named departure.
type pair struct {
	t  *testing.T
	gi goipam.Ipamer
	st backends.Store
	// departures counts the steps that met each departure.
	departures map[string]int
	// exhausted counts the acquisitions that both reported exhausted.
	exhausted int
}

func newPair(t *testing.T) *pair {
	return &pair{t: t, gi: goipam.New(ctx), st: newMem(t), departures: map[string]int{}}
}

func (d *pair) createPrefix(p netip.Prefix) {
	d.t.Helper()
	_, err := d.gi.NewPrefix(ctx, p.String())
	require.NoError(d.t, err)
	update(d.t, d.st, func(tx backends.Tx) error { return CreatePrefix(tx, p) })
}

// acquireChild takes a /bits child of parent on both sides. go-ipam fails
// where this package reports ErrExhausted.
func (d *pair) acquireChild(parent netip.Prefix, bits int, step string) (netip.Prefix, bool) {
	d.t.Helper()
	gc, gerr := d.gi.AcquireChildPrefix(ctx, parent.String(), uint8(bits))
	var mc netip.Prefix
	merr := d.st.Update(ctx, func(tx backends.Tx) (err error) {
		mc, err = AcquireChild(tx, parent, bits)
		return err
	})
	if gerr != nil {
		require.ErrorIs(d.t, merr, ErrExhausted, "%s: go-ipam failed (%v), metalkit gave %s", step, gerr, mc)
		d.exhausted++
		return netip.Prefix{}, false
	}
	require.NoError(d.t, merr, "%s: go-ipam gave %s", step, gc.Cidr)
	require.Equal(d.t, gc.Cidr, mc.String(), "%s: placement", step)
	return mc, true
}

// acquireSpecificChild takes child from parent on both sides. go-ipam
// fails where this package reports ErrAlreadyAllocated.
func (d *pair) acquireSpecificChild(parent, child netip.Prefix, step string) bool {
	d.t.Helper()
	_, gerr := d.gi.AcquireSpecificChildPrefix(ctx, parent.String(), child.String())
	merr := d.st.Update(ctx, func(tx backends.Tx) error { return AcquireSpecificChild(tx, parent, child) })
	if gerr != nil {
		require.ErrorIs(d.t, merr, ErrAlreadyAllocated, "%s: go-ipam failed (%v)", step, gerr)
		return false
	}
	require.NoError(d.t, merr, "%s: go-ipam took it", step)
	return true
}

// releaseChild returns a taken, empty child on both sides.
func (d *pair) releaseChild(parent, child netip.Prefix, step string) {
	d.t.Helper()
	gc, err := d.gi.PrefixFrom(ctx, child.String())
	require.NoError(d.t, err, step)
	require.NoError(d.t, d.gi.ReleaseChildPrefix(ctx, gc), step)
	require.NoError(d.t, d.st.Update(ctx, func(tx backends.Tx) error { return ReleaseChild(tx, parent, child) }), step)
}

// acquireIP takes the lowest free address of p on both sides.
func (d *pair) acquireIP(p netip.Prefix, step string) (netip.Addr, bool) {
	d.t.Helper()
	ga, gerr := d.gi.AcquireIP(ctx, p.String())
	var ma netip.Addr
	merr := d.st.Update(ctx, func(tx backends.Tx) (err error) {
		ma, err = AcquireIP(tx, p)
		return err
	})
	if gerr != nil {
		require.ErrorIs(d.t, gerr, goipam.ErrNoIPAvailable, step)
		require.ErrorIs(d.t, merr, ErrExhausted, "%s: go-ipam has no free address, metalkit gave %s", step, ma)
		d.exhausted++
		return netip.Addr{}, false
	}
	require.NoError(d.t, merr, "%s: go-ipam gave %s", step, ga.IP)
	require.Equal(d.t, ga.IP, ma, "%s: placement", step)
	return ma, true
}

// acquireSpecificIP takes a of p on both sides; reserved and taken
// addresses are refused by both.
func (d *pair) acquireSpecificIP(p netip.Prefix, a netip.Addr, step string) bool {
	d.t.Helper()
	_, gerr := d.gi.AcquireSpecificIP(ctx, p.String(), a.String())
	merr := d.st.Update(ctx, func(tx backends.Tx) error { return AcquireSpecificIP(tx, p, a) })
	if gerr != nil {
		require.ErrorIs(d.t, gerr, goipam.ErrAlreadyAllocated, step)
		require.ErrorIs(d.t, merr, ErrAlreadyAllocated, step)
		return false
	}
	require.NoError(d.t, merr, step)
	return true
}

// releaseIP returns a to p on both sides. For a reserved address it
// asserts the departure: go-ipam releases it (and so would hand it out),
// metalkit refuses with ErrReserved; go-ipam's copy is then taken back by
// address, which succeeds only because go-ipam had freed it, so both sides
// agree again.
func (d *pair) releaseIP(p netip.Prefix, a netip.Addr, step string) {
	d.t.Helper()
	gerr := d.gi.ReleaseIPFromPrefix(ctx, p.String(), a.String())
	merr := d.st.Update(ctx, func(tx backends.Tx) error { return ReleaseIP(tx, p, a) })
	switch {
	case newSpan(p).isReserved(addrToU(a)):
		require.NoError(d.t, gerr, "%s: go-ipam releases a reserved address", step)
		require.ErrorIs(d.t, merr, ErrReserved, "%s: %s", step, departReservedRelease)
		_, err := d.gi.AcquireSpecificIP(ctx, p.String(), a.String())
		require.NoError(d.t, err, "%s: go-ipam had freed the reserved address", step)
		d.departures[departReservedRelease]++
	case gerr != nil:
		require.ErrorIs(d.t, gerr, goipam.ErrNotFound, step)
		require.ErrorIs(d.t, merr, ErrNotFound, step)
	default:
		require.NoError(d.t, merr, step)
	}
}

// compareUsage requires go-ipam's usage of p and metalkit's compatible
// figures to agree, or to differ only by a named departure.
func (d *pair) compareUsage(p netip.Prefix, step string) {
	d.t.Helper()
	gp, err := d.gi.PrefixFrom(ctx, p.String())
	require.NoError(d.t, err, step)
	gu := gp.Usage()
	var u Usage
	require.NoError(d.t, d.st.View(ctx, func(tx backends.Tx) (err error) {
		u, err = GetUsage(tx, p)
		return err
	}))
	c := u.Compatible()
	require.Equal(d.t, gu.AcquiredIPs, c.UsedIPs, "%s: used IPs of %s", step, p)
	require.Equal(d.t, gu.AcquiredPrefixes, c.UsedPrefixes, "%s: used prefixes of %s", step, p)

	w := p.Addr().BitLen()
	if w-p.Bits() == 31 {
		require.Equal(d.t, uint64(1)<<31, gu.AvailableIPs, "%s: go-ipam's available IPs of %s", step, p)
		require.Equal(d.t, uint64(ConsumptionCap), c.AvailableIPs, "%s: %s", step, departCappedIPs)
		d.departures[departCappedIPs]++
	} else {
		require.Equal(d.t, gu.AvailableIPs, c.AvailableIPs, "%s: available IPs of %s", step, p)
	}

	// go-ipam lists the free blocks it counts (those that hold a /W-2):
	// they are metalkit's free blocks, length by length.
	smallest := w - 2
	var lengths [129]uint64
	exact := new(big.Int)
	var wrapped uint64 // go-ipam's own arithmetic
	for _, s := range gu.AvailablePrefixes {
		b := netip.MustParsePrefix(s)
		lengths[b.Bits()]++
		exact.Add(exact, new(big.Int).Lsh(big.NewInt(1), uint(smallest-b.Bits())))
		wrapped += uint64(1) << (smallest - b.Bits())
	}
	for l := p.Bits(); l <= smallest; l++ {
		require.Equal(d.t, lengths[l], u.free[l], "%s: free /%d blocks of %s", step, l, p)
	}
	want := uint64(ConsumptionCap)
	if exact.Cmp(big.NewInt(ConsumptionCap)) < 0 {
		want = exact.Uint64()
	}
	require.Equal(d.t, want, c.AvailablePrefixes, "%s: available prefixes of %s", step, p)
	if gu.AvailableSmallestPrefixes != c.AvailablePrefixes {
		if wrapped > math.MaxInt32 {
			wrapped = math.MaxInt32
		}
		require.Equal(d.t, wrapped, gu.AvailableSmallestPrefixes, "%s: go-ipam's figure is its overflowing sum", step)
		require.GreaterOrEqual(d.t, exact.BitLen(), 65, "%s: go-ipam's sum differs only when it exceeds uint64", step)
		d.departures[departCappedPrefixes]++
	}
}

// goipamDump returns go-ipam's state as its Dump writes it, by prefix.
func (d *pair) goipamDump() map[netip.Prefix]goipamPrefix {
	d.t.Helper()
	js, err := d.gi.Dump(ctx)
	require.NoError(d.t, err)
	var es []goipamPrefix
	require.NoError(d.t, json.Unmarshal([]byte(js), &es))
	out := map[netip.Prefix]goipamPrefix{}
	for _, e := range es {
		out[netip.MustParsePrefix(e.Cidr)] = e
	}
	return out
}

// goipamChildren lists the children go-ipam holds taken in e, masked and
// sorted: what its placement keeps out.
func goipamChildren(e goipamPrefix) []netip.Prefix {
	var out []netip.Prefix
	for s, avail := range e.AvailableChildPrefixes {
		if c := netip.MustParsePrefix(s).Masked(); !avail && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// compareState requires both sides to hold the same prefixes, each with
// the same parent, the same taken children and the same taken addresses.
// metalkit registers every taken child, so its prefixes are go-ipam's
// records and the children go-ipam holds taken without a record (a stale
// key of a specific child requested with host bits). The addresses are
// checked against metalkit one by one: each address go-ipam holds is
// refused by AcquireSpecificIP (in a transaction that is rolled back), and
// the counts are equal.
func (d *pair) compareState(step string) {
	d.t.Helper()
	dump := d.goipamDump()
	var want []netip.Prefix
	for p, e := range dump {
		want = append(want, p)
		for _, c := range goipamChildren(e) {
			if _, ok := dump[c]; !ok {
				want = append(want, c)
			}
		}
	}
	slices.SortFunc(want, comparePrefixes)
	err := d.st.Update(ctx, func(tx backends.Tx) error {
		got, err := Prefixes(tx)
		require.NoError(d.t, err)
		require.Equal(d.t, want, got, "%s: prefixes", step)
		for p, e := range dump {
			info, err := GetPrefix(tx, p)
			require.NoError(d.t, err)
			if e.ParentCidr == "" {
				require.False(d.t, info.Parent.IsValid(), "%s: %s is top-level", step, p)
			} else {
				require.Equal(d.t, e.ParentCidr, info.Parent.String(), "%s: parent of %s", step, p)
			}
			children, err := Children(tx, p)
			require.NoError(d.t, err)
			require.Equal(d.t, goipamChildren(e), children, "%s: children of %s", step, p)
			require.Equal(d.t, uint64(len(e.IPs)), info.Usage.UsedIPs.Uint64(), "%s: taken addresses of %s", step, p)
			for s := range e.IPs {
				require.ErrorIs(d.t, AcquireSpecificIP(tx, p, netip.MustParseAddr(s)), ErrAlreadyAllocated,
					"%s: %s is taken in %s", step, s, p)
			}
		}
		return errRollback
	})
	require.ErrorIs(d.t, err, errRollback)
}

func comparePrefixes(a, b netip.Prefix) int {
	if a.Addr().Is4() != b.Addr().Is4() {
		if a.Addr().Is4() {
			return -1
		}
		return 1
	}
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
