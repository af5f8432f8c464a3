package switchstate

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/metalkit/metalkit/errdefs"
)

const (
	sonicPrefix   = "Ethernet"
	cumulusPrefix = "swp"
	// maxPortNumber bounds the numbers of a port name and its line, so
	// that lines never overflow and every line has a name in both namings.
	maxPortNumber = 1 << 24
)

// PortLine returns the line (physical lane) of a port name of vendor:
// SONiC Ethernet<N> is N; Cumulus swp<X> is (X-1)*4 and swp<X>s<Y> is
// (X-1)*4+Y. Names with a '-', the other OS's prefix, empty or non-numeric
// parts, X < 1 or Y > 3 are errors wrapping ErrInvalidArgument.
func PortLine(name string, vendor Vendor) (int, error) {
	bad := func(why string) (int, error) {
		return 0, errdefs.Errorf(ErrInvalidArgument, "switchstate: port name %q for %s: %s", name, vendor, why)
	}
	if strings.Contains(name, "-") {
		return bad("a range with '-' is not a port")
	}
	switch vendor {
	case VendorSONiC:
		if strings.HasPrefix(name, cumulusPrefix) {
			return bad("that is a Cumulus name")
		}
		rest, ok := strings.CutPrefix(name, sonicPrefix)
		if !ok {
			return bad("want Ethernet<N>")
		}
		n, err := portNumber(rest)
		if err != nil {
			return bad(err.Error())
		}
		return n, nil
	case VendorCumulus:
		if strings.HasPrefix(name, sonicPrefix) {
			return bad("that is a SONiC name")
		}
		rest, ok := strings.CutPrefix(name, cumulusPrefix)
		if !ok {
			return bad("want swp<X> or swp<X>s<Y>")
		}
		xs, ys, breakout := strings.Cut(rest, "s")
		x, err := portNumber(xs)
		if err != nil {
			return bad(err.Error())
		}
		if x < 1 {
			return bad("the port number must be at least 1")
		}
		y := 0
		if breakout {
			if y, err = portNumber(ys); err != nil {
				return bad("breakout lane: " + err.Error())
			}
			if y > 3 {
				return bad("the breakout lane must be 0 to 3")
			}
		}
		line := (x-1)*4 + y
		if line > maxPortNumber {
			return bad("the line is too large")
		}
		return line, nil
	}
	return bad("unknown vendor")
}

func portNumber(s string) (int, error) {
	if s == "" {
		return 0, errors.New("missing number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > maxPortNumber {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n, nil
}

// TranslatePortNames translates one switch's set of port names from one
// vendor's naming to another's and returns old name -> new name. Line to
// SONiC is Ethernet<line>. Line to Cumulus is swp<line/4+1>s<line%4> when
// line%4 != 0; otherwise swp<line/4+1>s0 if another port of the set shares
// line/4 (a breakout), else swp<line/4+1>. To the same vendor the names are
// only checked. Every bad name is reported (errors.Join); two names of one
// line are an error too.
func TranslatePortNames(names []string, from, to Vendor) (map[string]string, error) {
	if _, err := ParseVendor(string(from)); err != nil {
		return nil, err
	}
	if _, err := ParseVendor(string(to)); err != nil {
		return nil, err
	}
	lines := make(map[string]int, len(names))
	byLine := make(map[int]string, len(names))
	groups := make(map[int]int)
	var errs []error
	for _, n := range names {
		if _, dup := lines[n]; dup {
			continue
		}
		l, err := PortLine(n, from)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := byLine[l]; dup {
			errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "switchstate: ports %q and %q are the same line %d", other, n, l))
			continue
		}
		lines[n], byLine[l] = l, n
		groups[l/4]++
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out := make(map[string]string, len(lines))
	for n, l := range lines {
		switch {
		case from == to:
			out[n] = n
		case to == VendorSONiC:
			out[n] = sonicPrefix + strconv.Itoa(l)
		case l%4 != 0:
			out[n] = fmt.Sprintf("%s%ds%d", cumulusPrefix, l/4+1, l%4)
		case groups[l/4] > 1:
			out[n] = fmt.Sprintf("%s%ds0", cumulusPrefix, l/4+1)
		default:
			out[n] = fmt.Sprintf("%s%d", cumulusPrefix, l/4+1)
		}
	}
	return out, nil
}

// ComparePortNames orders port names naturally: runs of digits compare as
// numbers, so Ethernet2 sorts before Ethernet10. It returns -1, 0 or +1.
func ComparePortNames(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			i, j := digitRun(a), digitRun(b)
			da, db := strings.TrimLeft(a[:i], "0"), strings.TrimLeft(b[:j], "0")
			if c := cmpInt(len(da), len(db)); c != 0 {
				return c
			}
			if c := strings.Compare(da, db); c != 0 {
				return c
			}
			if c := cmpInt(i, j); c != 0 {
				return c
			}
			a, b = a[i:], b[j:]
			continue
		}
		if a[0] != b[0] {
			return cmpInt(int(a[0]), int(b[0]))
		}
		a, b = a[1:], b[1:]
	}
	return cmpInt(len(a), len(b))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitRun(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortNics sorts ports by name in natural order.
func sortNics(nics []Nic) {
	slices.SortFunc(nics, func(a, b Nic) int { return ComparePortNames(a.Name, b.Name) })
}

// sortConnections sorts connections by machine id, then port name in
// natural order.
func sortConnections(cs []Connection) {
	slices.SortFunc(cs, func(a, b Connection) int {
		if c := strings.Compare(a.MachineID, b.MachineID); c != 0 {
			return c
		}
		return ComparePortNames(a.Nic.Name, b.Nic.Name)
	})
}
