package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
)

// AddressFamily is IPv4 or IPv6. Its canonical spelling is what is stored
// and printed.
type AddressFamily string

// The address families.
const (
	IPv4 AddressFamily = "IPv4"
	IPv6 AddressFamily = "IPv6"
)

// Families lists the address families in the order in which allocations try
// them.
var Families = []AddressFamily{IPv4, IPv6}

// ParseAddressFamily parses a family name case-insensitively ("ipv6",
// "IPV6", "IPv6") into its canonical form.
func ParseAddressFamily(s string) (AddressFamily, error) { return parseFamily("addressfamily", s) }

func parseFamily(field, s string) (AddressFamily, error) {
	switch strings.ToLower(s) {
	case "ipv4":
		return IPv4, nil
	case "ipv6":
		return IPv6, nil
	}
	return "", invalid("%s %s must be IPv4 or IPv6", field, errdefs.Quote(s))
}

// ChildLengths maps an address family to a child prefix length in bits,
// as in {"IPv4": 22, "IPv6": 96}. Keys are case-insensitive: JSON input is
// canonicalised on decoding, and the operations canonicalise maps built in
// Go (a map with both "ipv4" and "IPv4" is an error). What is stored and
// returned uses the canonical spelling.
type ChildLengths map[AddressFamily]int

// canonical returns l with canonical keys; nil stays nil. An unknown family
// or two spellings of one family is an error naming field.
func (l ChildLengths) canonical(field string) (ChildLengths, error) {
	if l == nil {
		return nil, nil
	}
	out := make(ChildLengths, len(l))
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(l)) {
		f, err := parseFamily(field+" key", string(k))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := out[f]; dup {
			errs = append(errs, invalid("%s names %s twice (keys are case-insensitive)", field, f))
			continue
		}
		out[f] = l[k]
	}
	return out, errors.Join(errs...)
}

// UnmarshalJSON decodes an object of family name to bits, canonicalising
// the names; two spellings of one family are an error.
func (l *ChildLengths) UnmarshalJSON(b []byte) error {
	var raw map[string]int
	if err := json.Unmarshal(b, &raw); err != nil {
		return invalid("child prefix lengths: %v", err)
	}
	if raw == nil {
		*l = nil
		return nil
	}
	m := make(ChildLengths, len(raw))
	for k, v := range raw {
		m[AddressFamily(k)] = v
	}
	c, err := m.canonical("child prefix lengths")
	if err != nil {
		return err
	}
	*l = c
	return nil
}

// UnmarshalText parses a family case-insensitively, so JSON and YAML input
// accept any spelling.
func (f *AddressFamily) UnmarshalText(b []byte) error {
	v, err := ParseAddressFamily(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// Bits is the address width of the family: 32 or 128.
func (f AddressFamily) Bits() int {
	if f == IPv6 {
		return 128
	}
	return 32
}

// FamilyOf returns the family of an address.
func FamilyOf(a netip.Addr) AddressFamily {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

// PrefixFamilies returns the families of prefixes in order of first
// appearance.
func PrefixFamilies(prefixes []netip.Prefix) []AddressFamily {
	var out []AddressFamily
	for _, p := range prefixes {
		if f := FamilyOf(p.Addr()); !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// ParsePrefix parses a prefix as the network API accepts it: canonical (no
// host bits set; the error names the canonical form), no zone and no
// IPv4-mapped IPv6 address.
func ParsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, invalid("prefix %s: %v", errdefs.Quote(s), err)
	}
	if err := CheckPrefix(p); err != nil {
		return netip.Prefix{}, err
	}
	return p, nil
}

// CheckPrefix applies ParsePrefix's rules to a prefix value.
func CheckPrefix(p netip.Prefix) error { return checkPrefix("prefix", p) }

// checkPrefix applies ParsePrefix's rules; the error names field.
func checkPrefix(field string, p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return invalid("%s %q is not a valid prefix", field, p.String())
	case p.Addr().Zone() != "":
		return invalid("%s %s: zones are not allowed", field, p)
	case p.Addr().Is4In6():
		return invalid("%s %s: IPv4-mapped IPv6 prefixes are not allowed", field, p)
	case p != p.Masked():
		return invalid("%s %s has host bits set; the canonical form is %s", field, p, p.Masked())
	}
	return nil
}

// checkPrefixes checks every prefix of a list; the errors name field[i].
func checkPrefixes(field string, ps []netip.Prefix) []error {
	var errs []error
	if err := limits.Count(field, len(ps)); err != nil {
		return []error{errdefs.Errorf(ErrInvalidArgument, "network: %w", err)}
	}
	for i, p := range ps {
		if err := checkPrefix(fmt.Sprintf("%s[%d]", field, i), p); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
