package ipam

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// goipamPrefix is one element of the JSON array that go-ipam's Dump
// writes, fields in go-ipam's order. AvailableChildPrefixes maps a child
// prefix to false while it is taken and to true once released; IPs maps
// each taken address (the reserved ones included) to true. go-ipam keys a
// child taken with AcquireSpecificChildPrefix by the text of the request,
// host bits included (2001:db8:2::1/124), while the child's own record is
// masked.
type goipamPrefix struct {
	Cidr                   string          `json:"Cidr"`
	ParentCidr             string          `json:"ParentCidr"`
	Namespace              string          `json:"Namespace"`
	AvailableChildPrefixes map[string]bool `json:"AvailableChildPrefixes"`
	ChildPrefixLength      int             `json:"ChildPrefixLength"`
	IsParent               bool            `json:"IsParent"`
	IPs                    map[string]bool `json:"IPs"`
	Version                int64           `json:"Version"`
}

// ImportStats counts what ImportGoIPAM created.
type ImportStats struct {
	// Prefixes counts the top-level prefixes.
	Prefixes int `json:"prefixes"`
	// Children counts the child prefixes.
	Children int `json:"children"`
	// IPs counts the addresses taken, reserved ones not included.
	IPs int `json:"ips"`
}

type importNode struct {
	p      netip.Prefix
	parent netip.Prefix
	ips    []netip.Addr
	nkids  int
}

// ImportGoIPAM recreates the state of a go-ipam JSON dump (the array its
// Dump method writes): every prefix, every taken child prefix (from
// ParentCidr and from the false entries of AvailableChildPrefixes; a taken
// child without a record of its own becomes an empty child) and every
// taken IP. Namespaces are not kept: prefixes of all namespaces must not
// overlap.
//
// A key of AvailableChildPrefixes with host bits set, as go-ipam writes for
// a specific child requested that way, stands for its masked prefix; when
// several keys name the same prefix, it is taken if any of them says taken
// (as go-ipam's own placement reads them). Everything else must be
// canonical. What go-ipam keeps and this package does not is dropped:
// released children (true entries), IsParent, ChildPrefixLength and
// Version; so a prefix whose children were all released gives IPs again.
// Reserved addresses are reserved whether or not the dump lists them
// (go-ipam lets a reserved address be released).
//
// The whole dump is checked before anything is written; every problem found
// (malformed JSON, invalid or non-canonical prefixes, duplicates, overlaps,
// children outside their parent, a child record its parent marks
// available, IPs outside their prefix, a prefix with both children and IPs)
// is reported together, wrapping ErrInvalidArgument (and ErrPrefixOverlap
// for overlaps). A dump that clashes with the state already in the store
// fails while it is written: the caller must then abort the transaction,
// as Service.ImportGoIPAM does, so that nothing is imported. Cost: O(log n)
// store operations per prefix, child and IP.
func ImportGoIPAM(tx backends.Tx, dump []byte) (ImportStats, error) {
	nodes, err := parseGoIPAM(dump)
	if err != nil {
		return ImportStats{}, err
	}
	var st ImportStats
	for _, n := range nodes {
		if n.parent.IsValid() {
			if err := AcquireSpecificChild(tx, n.parent, n.p); err != nil {
				return ImportStats{}, fmt.Errorf("%w (importing the go-ipam dump)", err)
			}
			st.Children++
		} else {
			if err := CreatePrefix(tx, n.p); err != nil {
				return ImportStats{}, fmt.Errorf("%w (importing the go-ipam dump)", err)
			}
			st.Prefixes++
		}
	}
	for _, n := range nodes {
		for _, a := range n.ips {
			if err := AcquireSpecificIP(tx, n.p, a); err != nil {
				return ImportStats{}, fmt.Errorf("%w (importing the go-ipam dump)", err)
			}
			st.IPs++
		}
	}
	return st, nil
}

func importErr(format string, args ...any) error {
	return errdefs.Errorf(ErrInvalidArgument, "ipam: go-ipam dump: "+format, args...)
}

func parsePrefixText(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, errdefs.Errorf(ErrInvalidArgument, "ipam: prefix %q: %v", s, err)
	}
	return p, checkPrefix(p)
}

// parseChildText parses a key of AvailableChildPrefixes and masks it.
func parseChildText(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, errdefs.Errorf(ErrInvalidArgument, "ipam: prefix %q: %v", s, err)
	}
	return p.Masked(), checkPrefix(p.Masked())
}

// parseGoIPAM checks a dump and returns its prefixes, parents before
// children, with the IPs to take.
func parseGoIPAM(dump []byte) ([]*importNode, error) {
	var in []goipamPrefix
	if err := json.Unmarshal(dump, &in); err != nil {
		return nil, importErr("not a JSON array of prefixes: %v", err)
	}
	var errs []error
	nodes := map[netip.Prefix]*importNode{}
	var order []*importNode
	// cidrs holds the prefix of each element of in, in order.
	cidrs := make([]netip.Prefix, len(in))
	for i, e := range in {
		p, err := parsePrefixText(e.Cidr)
		if err != nil {
			errs = append(errs, importErr("element %d: %w", i, err))
			continue
		}
		cidrs[i] = p
		if nodes[p] != nil {
			errs = append(errs, importErr("prefix %s appears twice", p))
			continue
		}
		n := &importNode{p: p}
		nodes[p] = n
		order = append(order, n)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// avail maps each prefix to its children, masked, and whether they are
	// available; one taken entry makes a child taken.
	avail := map[netip.Prefix]map[netip.Prefix]bool{}
	for i, e := range in {
		p := cidrs[i]
		sp := newSpan(p)
		m := map[netip.Prefix]bool{}
		for cs, a := range e.AvailableChildPrefixes {
			c, err := parseChildText(cs)
			switch {
			case err != nil:
				errs = append(errs, importErr("prefix %s: child: %w", p, err))
			case checkChild(sp, c) != nil:
				errs = append(errs, importErr("child %s is not inside its parent %s", cs, p))
			default:
				prev, seen := m[c]
				m[c] = a && (!seen || prev)
			}
		}
		avail[p] = m
	}
	addChild := func(parent, child netip.Prefix) {
		c := nodes[child]
		if c == nil {
			c = &importNode{p: child}
			nodes[child] = c
			order = append(order, c)
		}
		if c.parent.IsValid() && c.parent != parent {
			errs = append(errs, importErr("prefix %s has two parents, %s and %s", child, c.parent, parent))
			return
		}
		if !c.parent.IsValid() {
			c.parent = parent
			nodes[parent].nkids++
		}
	}
	for i, e := range in {
		p := cidrs[i]
		if e.ParentCidr == "" {
			continue
		}
		parent, err := parsePrefixText(e.ParentCidr)
		switch {
		case err != nil:
			errs = append(errs, importErr("prefix %s: parent: %w", p, err))
		case nodes[parent] == nil:
			errs = append(errs, importErr("prefix %s: parent %s is not in the dump", p, parent))
		case checkChild(newSpan(parent), p) != nil:
			errs = append(errs, importErr("prefix %s is not inside its parent %s", p, parent))
		case avail[parent][p]:
			errs = append(errs, importErr("prefix %s is marked available in its parent %s but still exists", p, parent))
		default:
			addChild(parent, p)
		}
	}
	for _, n := range slices.Clone(order) {
		for c, a := range avail[n.p] {
			if !a {
				addChild(n.p, c)
			}
		}
	}
	for i, e := range in {
		p := cidrs[i]
		sp := newSpan(p)
		n := nodes[p]
		for as, taken := range e.IPs {
			a, err := netip.ParseAddr(as)
			switch {
			case err != nil:
				errs = append(errs, importErr("prefix %s: IP %q: %v", p, as, err))
			case checkAddr(sp, a) != nil:
				errs = append(errs, importErr("IP %s is not in its prefix %s", a, p))
			case taken && !sp.isReserved(addrToU(a)):
				n.ips = append(n.ips, a)
			}
		}
		slices.SortFunc(n.ips, netip.Addr.Compare)
	}
	for _, n := range order {
		if n.nkids > 0 && len(n.ips) > 0 {
			errs = append(errs, importErr("prefix %s has both child prefixes and IPs", n.p))
		}
	}
	errs = append(errs, checkOverlaps(order)...)
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return cmp.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(order, func(a, b *importNode) int {
		if c := cmp.Compare(a.p.Bits(), b.p.Bits()); c != 0 {
			return c
		}
		return a.p.Addr().Compare(b.p.Addr())
	})
	return order, nil
}

// checkOverlaps reports siblings (prefixes with the same parent, or
// top-level prefixes of the same family) that overlap.
func checkOverlaps(nodes []*importNode) []error {
	groups := map[netip.Prefix][]*importNode{}
	for _, n := range nodes {
		groups[n.parent] = append(groups[n.parent], n)
	}
	var errs []error
	for _, g := range groups {
		slices.SortFunc(g, func(a, b *importNode) int {
			if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
				return c
			}
			return cmp.Compare(a.p.Bits(), b.p.Bits())
		})
		for i := 1; i < len(g); i++ {
			if prev := g[i-1]; prev.p.Overlaps(g[i].p) {
				errs = append(errs, errdefs.With(errdefs.Errorf(ErrPrefixOverlap, "ipam: go-ipam dump: prefixes %s and %s overlap",
					prev.p, g[i].p), ErrInvalidArgument))
			}
		}
	}
	return errs
}

// ExportGoIPAM writes every registered prefix in go-ipam's JSON dump format
// (the array its Dump writes and its Load reads), ordered by family,
// address and length, so that an installation can move back to go-ipam or
// compare the two. All prefixes are read through tx: run it in one
// Store.View for a consistent snapshot. It writes nothing.
//
// Each element has Cidr and ParentCidr (empty for a top-level prefix); IPs
// maps every taken address, the reserved ones included, to true;
// AvailableChildPrefixes maps every taken child to false (an empty object
// when there is none, never null, since go-ipam writes into it); IsParent
// is true while the prefix has children. Namespace is empty, as go-ipam's
// Dump writes it (its Load puts everything into the namespace it loads);
// ChildPrefixLength and Version are 0. Released children are not kept by
// this package and so not listed; go-ipam's placement ignores them too.
// Hence go-ipam's Load of the result followed by its own operations places
// children and IPs as this package would, and ImportGoIPAM of the result
// recreates the same state.
//
// It fails only with a store error or on corrupt state. Cost: one scan of
// the prefix index and, per prefix, one Get and one scan each of its free
// address ranges and its children: O(prefixes + children + free ranges +
// taken addresses). The dump lists every taken address, so its size grows
// with them.
func ExportGoIPAM(tx backends.Tx) ([]byte, error) {
	ps, err := Prefixes(tx)
	if err != nil {
		return nil, err
	}
	out := make([]goipamPrefix, 0, len(ps))
	for _, p := range ps {
		sp, r, err := loadRecord(tx, p, nil)
		if err != nil {
			return nil, err
		}
		e := goipamPrefix{
			Cidr:                   p.String(),
			AvailableChildPrefixes: map[string]bool{},
			IsParent:               !r.usedChildren.isZero(),
		}
		if r.parent.IsValid() {
			e.ParentCidr = r.parent.String()
		}
		if e.IPs, err = takenAddrs(tx, sp); err != nil {
			return nil, err
		}
		cs, err := children(tx, sp)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			e.AvailableChildPrefixes[c.String()] = false
		}
		out = append(out, e)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("ipam: go-ipam export: %w", err)
	}
	return b, nil
}

// takenAddrs lists the addresses of sp that are not free: the gaps between
// its free ranges, reserved addresses included.
func takenAddrs(tx backends.Tx, sp span) (map[string]bool, error) {
	taken := map[string]bool{}
	add := func(from, to u128) {
		for a := from; ; a = a.inc() {
			taken[sp.addr(a).String()] = true
			if a == to {
				return
			}
		}
	}
	// next is the lowest address not yet accounted for; rest is false once
	// the prefix is covered up to its end.
	next, rest := sp.start, true
	err := tx.Ascend(ipBucket(sp.p), nil, func(k, v []byte) (bool, error) {
		s, e, err := decodeRange(k, v)
		if err != nil {
			return false, err
		}
		if !rest || s.cmp(next) < 0 || e.cmp(s) < 0 || e.cmp(sp.end) > 0 {
			return false, errdefs.Errorf(ErrCorrupt, "ipam: prefix %s: corrupt free range %s-%s", sp.p, sp.addr(s), sp.addr(e))
		}
		if s != next {
			add(next, s.dec())
		}
		if e == sp.end {
			rest = false
		} else {
			next = e.inc()
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if rest {
		add(next, sp.end)
	}
	return taken, nil
}
