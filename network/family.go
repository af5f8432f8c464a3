package network

import (
	"fmt"
	"net/netip"
	"strings"
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
func ParseAddressFamily(s string) (AddressFamily, error) {
	switch strings.ToLower(s) {
	case "ipv4":
		return IPv4, nil
	case "ipv6":
		return IPv6, nil
	}
	return "", fmt.Errorf("%w: addressfamily %q: must be IPv4 or IPv6", ErrInvalidArgument, s)
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
	seen := map[AddressFamily]bool{}
	for _, p := range prefixes {
		f := FamilyOf(p.Addr())
		if !seen[f] {
			seen[f] = true
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
		return netip.Prefix{}, fmt.Errorf("%w: prefix %q: %v", ErrInvalidArgument, s, err)
	}
	if err := CheckPrefix(p); err != nil {
		return netip.Prefix{}, err
	}
	return p, nil
}

// CheckPrefix applies ParsePrefix's rules to a prefix value.
func CheckPrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("%w: prefix %q is not valid", ErrInvalidArgument, p.String())
	case p.Addr().Zone() != "":
		return fmt.Errorf("%w: prefix %s: zones are not allowed", ErrInvalidArgument, p)
	case p.Addr().Is4In6():
		return fmt.Errorf("%w: prefix %s: IPv4-mapped IPv6 prefixes are not allowed", ErrInvalidArgument, p)
	case p != p.Masked():
		return fmt.Errorf("%w: prefix %s has host bits set, the canonical form is %s", ErrInvalidArgument, p, p.Masked())
	}
	return nil
}
