package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/google/uuid"
)

// The stored forms of networks and IPs. Every write of a record goes
// through encodeNetwork or encodeIP and every read through decodeNetwork or
// decodeIP. The forms are compact and binary, led by a version byte, and
// leave out what the record's key holds already (a network's id, an IP's
// address): decoding one costs a few hundred nanoseconds where JSON cost
// tens of microseconds, and an IP takes a quarter of its JSON's bytes.
// The JSON of the public types is unchanged; it is what the API returns.
//
// Building blocks: numbers are (zigzag) varints; a string is its length
// and its bytes; an id is a string, or 16 bytes when it is a UUID in
// canonical form; a list is its length plus one (0: nil), then its items;
// a map is its length and its entries in key order; a prefix is its
// length in bits, its family (4 or 6) and its address; a time is its zone
// (0: UTC, 1: the offset in seconds follows), its Unix seconds and its
// nanoseconds. Decoding puts a time in the location JSON decoding would.

const (
	networkFormat = 1
	ipFormat      = 1
)

// Flags of a network record.
const (
	netPrivateSuper = 1 << iota
	netUnderlay
	netNAT
	netShared
	netChangedIsCreated
)

// Flags of an IP record.
const (
	ipChangedIsCreated = 1 << iota
)

// IP types as stored; any other type is stored as its name.
const (
	typeEphemeral = 0
	typeStatic    = 1
	typeOther     = 2
)

// encodeNetwork returns the stored form of n (without its id, which is the
// key, and without its consumption, which is never stored).
func encodeNetwork(n *Network) []byte {
	e := encoder{b: make([]byte, 0, 128)}
	e.byte(networkFormat)
	var flags byte
	for _, f := range []struct {
		set bool
		bit byte
	}{{n.PrivateSuper, netPrivateSuper}, {n.Underlay, netUnderlay}, {n.NAT, netNAT}, {n.Shared, netShared}, {n.Changed.Equal(n.Created) && n.Changed.Location() == n.Created.Location(), netChangedIsCreated}} {
		if f.set {
			flags |= f.bit
		}
	}
	e.byte(flags)
	e.str(n.Name)
	e.str(n.Description)
	e.id(n.PartitionID)
	e.id(n.ProjectID)
	e.prefixes(n.Prefixes)
	e.prefixes(n.DestinationPrefixes)
	e.uvarint(uint64(len(n.DefaultChildPrefixLength)))
	for _, f := range slices.Sorted(maps.Keys(n.DefaultChildPrefixLength)) {
		e.str(string(f))
		e.varint(int64(n.DefaultChildPrefixLength[f]))
	}
	e.uvarint(uint64(n.VRF))
	e.id(n.ParentNetworkID)
	e.strMap(n.Labels)
	e.prefixes(n.AdditionalAnnouncableCIDRs)
	e.str(string(n.NetworkType))
	e.time(n.Created)
	if flags&netChangedIsCreated == 0 {
		e.time(n.Changed)
	}
	return e.b
}

// decodeNetwork decodes the stored form b of the network with id id. Lists
// that JSON leaves out when empty come back nil, as they did from JSON.
func decodeNetwork(id string, b []byte) (*Network, error) {
	d := decoder{b: b}
	if v := d.byte(); v != networkFormat && d.err == nil {
		return nil, errFormat(v)
	}
	flags := d.byte()
	n := &Network{
		ID:           id,
		PrivateSuper: flags&netPrivateSuper != 0,
		Underlay:     flags&netUnderlay != 0,
		NAT:          flags&netNAT != 0,
		Shared:       flags&netShared != 0,
	}
	n.Name = d.str()
	n.Description = d.str()
	n.PartitionID = d.id()
	n.ProjectID = d.id()
	n.Prefixes = d.prefixes()
	n.DestinationPrefixes = d.prefixes()
	if c := d.count(); c > 0 {
		n.DefaultChildPrefixLength = make(ChildLengths, c)
		for range c {
			f := AddressFamily(d.str())
			n.DefaultChildPrefixLength[f] = int(d.varint())
		}
	}
	n.VRF = uint32(d.uvarint())
	n.ParentNetworkID = d.id()
	n.Labels = d.strMap()
	if ps := d.prefixes(); len(ps) > 0 {
		n.AdditionalAnnouncableCIDRs = ps
	}
	n.NetworkType = Kind(d.str())
	n.Created = d.time()
	n.Changed = n.Created
	if flags&netChangedIsCreated == 0 {
		n.Changed = d.time()
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return n, nil
}

// encodeIP returns the stored form of ip (without its address, which is the
// key) taken from the prefix of its network of length bits: freeing the IP
// needs that prefix, and then need not read the network.
func encodeIP(ip *IP, bits int) []byte {
	e := encoder{b: make([]byte, 0, 80)}
	e.byte(ipFormat)
	var flags byte
	if ip.Changed.Equal(ip.Created) && ip.Changed.Location() == ip.Created.Location() {
		flags |= ipChangedIsCreated
	}
	e.byte(flags)
	e.byte(byte(bits))
	e.id(ip.AllocationUUID)
	e.id(ip.NetworkID)
	e.id(ip.ProjectID)
	e.str(ip.Name)
	e.str(ip.Description)
	switch ip.Type {
	case IPTypeEphemeral:
		e.byte(typeEphemeral)
	case IPTypeStatic:
		e.byte(typeStatic)
	default:
		e.byte(typeOther)
		e.str(string(ip.Type))
	}
	e.strs(ip.Tags)
	e.time(ip.Created)
	if flags&ipChangedIsCreated == 0 {
		e.time(ip.Changed)
	}
	return e.b
}

// decodeIP decodes the stored form b of the IP with address a and returns
// it with the length of the prefix it was taken from.
func decodeIP(a netip.Addr, b []byte) (*IP, int, error) {
	d := decoder{b: b}
	if v := d.byte(); v != ipFormat && d.err == nil {
		return nil, 0, errFormat(v)
	}
	flags := d.byte()
	bits := int(d.byte())
	ip := &IP{IPAddress: a}
	ip.AllocationUUID = d.id()
	ip.NetworkID = d.id()
	ip.ProjectID = d.id()
	ip.Name = d.str()
	ip.Description = d.str()
	switch d.byte() {
	case typeEphemeral:
		ip.Type = IPTypeEphemeral
	case typeStatic:
		ip.Type = IPTypeStatic
	default:
		ip.Type = IPType(d.str())
	}
	ip.Tags = d.strs()
	ip.Created = d.time()
	ip.Changed = ip.Created
	if flags&ipChangedIsCreated == 0 {
		ip.Changed = d.time()
	}
	if err := d.finish(); err != nil {
		return nil, 0, err
	}
	return ip, bits, nil
}

func errFormat(v byte) error { return fmt.Errorf("unknown record format %d", v) }

type encoder struct{ b []byte }

func (e *encoder) byte(c byte)      { e.b = append(e.b, c) }
func (e *encoder) uvarint(x uint64) { e.b = binary.AppendUvarint(e.b, x) }
func (e *encoder) varint(x int64)   { e.b = binary.AppendVarint(e.b, x) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) list(n int, isNil bool) {
	if isNil {
		e.uvarint(0)
		return
	}
	e.uvarint(uint64(n) + 1)
}

// id stores a UUID in canonical form (lower-case, with dashes) as 16 bytes
// and anything else as a string.
func (e *encoder) id(s string) {
	if canonicalUUID(s) {
		if u, err := uuid.Parse(s); err == nil {
			e.byte(1)
			e.b = append(e.b, u[:]...)
			return
		}
	}
	e.byte(0)
	e.str(s)
}

// canonicalUUID reports whether s is a UUID as uuid.UUID.String writes it:
// 36 characters, lower-case hex digits with dashes at 8, 13, 18 and 23.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

func (e *encoder) strs(ss []string) {
	e.list(len(ss), ss == nil)
	for _, s := range ss {
		e.str(s)
	}
}

func (e *encoder) strMap(m map[string]string) {
	e.uvarint(uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e.str(k)
		e.str(m[k])
	}
}

func (e *encoder) prefixes(ps []netip.Prefix) {
	e.list(len(ps), ps == nil)
	for _, p := range ps {
		a := p.Addr()
		switch {
		case a.Is4():
			e.byte(byte(p.Bits()))
			e.byte(4)
			b := a.As4()
			e.b = append(e.b, b[:]...)
		case a.Is6():
			e.byte(byte(p.Bits()))
			e.byte(6)
			b := a.As16()
			e.b = append(e.b, b[:]...)
		default:
			e.byte(0)
			e.byte(0) // the zero Prefix
		}
	}
}

// time stores a time with its zone's offset; offset 0 is stored as UTC,
// as JSON does ("Z").
func (e *encoder) time(t time.Time) {
	if _, off := t.Zone(); off == 0 {
		e.byte(0)
	} else {
		e.byte(1)
		e.varint(int64(off))
	}
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

// decoder reads a stored form; the first problem sticks in err and every
// later read returns zero values.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("record ends early")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.fail(errShort)
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) uvarint() uint64 {
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) varint() int64 {
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return x
}

// count reads a length and checks that it can be true of what is left
// (every item takes at least one byte).
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return 0
	}
	return int(n)
}

// list reads the length of a list; ok is false for nil.
func (d *decoder) list() (n int, ok bool) {
	c := d.uvarint()
	if c == 0 || d.err != nil {
		return 0, false
	}
	if c-1 > uint64(len(d.b)) {
		d.fail(errShort)
		return 0, false
	}
	return int(c - 1), true
}

func (d *decoder) str() string { return string(d.bytes(d.count())) }

func (d *decoder) id() string {
	switch d.byte() {
	case 1:
		u, err := uuid.FromBytes(d.bytes(16))
		if err != nil {
			d.fail(errShort)
			return ""
		}
		return u.String()
	default:
		return d.str()
	}
}

func (d *decoder) strs() []string {
	n, ok := d.list()
	if !ok {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) strMap() map[string]string {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

func (d *decoder) prefixes() []netip.Prefix {
	n, ok := d.list()
	if !ok {
		return nil
	}
	out := make([]netip.Prefix, n)
	for i := range out {
		bits := int(d.byte())
		var a netip.Addr
		switch d.byte() {
		case 4:
			if b := d.bytes(4); d.err == nil {
				a = netip.AddrFrom4([4]byte(b))
			}
		case 6:
			if b := d.bytes(16); d.err == nil {
				a = netip.AddrFrom16([16]byte(b))
			}
		default:
			continue // the zero Prefix
		}
		if d.err != nil {
			return nil
		}
		out[i] = netip.PrefixFrom(a, bits)
	}
	return out
}

// time decodes a time. A time with an offset comes back as JSON decoding
// returns it: in Local when the offset is Local's at that instant, else in
// a fixed zone.
func (d *decoder) time() time.Time {
	zoned := d.byte() == 1
	var off int64
	if zoned {
		off = d.varint()
	}
	sec := d.varint()
	nsec := d.uvarint()
	if d.err != nil || nsec >= 1e9 {
		d.fail(errShort)
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if !zoned || off == 0 {
		return t.UTC()
	}
	local := t.In(time.Local)
	if _, o := local.Zone(); int64(o) == off {
		return local
	}
	return t.In(time.FixedZone("", int(off)))
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = errors.New("record has trailing bytes")
	}
	return d.err
}
