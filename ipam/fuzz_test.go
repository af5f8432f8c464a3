package ipam

import (
	"net/netip"
	"testing"

	"github.com/metalkit/metalkit/backends"
)

// FuzzAllocator drives random acquire and release sequences of addresses
// and child prefixes (nested one level, the children handing out IPs) and
// checks the invariants: no address or block is handed out twice, the
// stored counters equal a recount of the free space, and free + used =
// capacity for addresses and for blocks.
func FuzzAllocator(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{1, 4, 3, 4, 3, 4, 7, 5, 1, 6, 0, 8, 2, 0, 0})
	f.Add([]byte{0, 4, 0, 4, 5, 9, 1, 9, 2, 6, 1, 6, 0, 3, 0, 3, 1})
	f.Add([]byte{1, 2, 200, 2, 17, 3, 0, 0, 0, 0, 3, 1, 2, 17})
	f.Add([]byte{0, 5, 33, 5, 66, 4, 1, 8, 0, 8, 0, 8, 1, 7, 0, 6, 0, 6, 1, 4, 7})
	f.Fuzz(fuzzAllocator)
}

func fuzzAllocator(t *testing.T, data []byte) {
	{
		if len(data) == 0 {
			return
		}
		p := pfx("10.9.8.0/24")
		if data[0]%2 == 1 {
			p = pfx("2001:db8:5::/120")
		}
		data = data[1:]
		if len(data) > 256 { // keep each input fast; longer ones add little
			data = data[:256]
		}
		w := p.Addr().BitLen()
		st := newMem(t)
		update(t, st, func(tx backends.Tx) error { return CreatePrefix(tx, p) })
		held := map[netip.Addr]netip.Prefix{} // address -> prefix it came from
		children := []netip.Prefix{}
		pick := func(i byte) (netip.Prefix, bool) {
			if len(children) == 0 {
				return netip.Prefix{}, false
			}
			return children[int(i)%len(children)], true
		}
		anyHeld := func(i byte) (netip.Addr, netip.Prefix, bool) {
			n := int(i) % (len(held) + 1)
			for a, q := range held {
				if n == 0 {
					return a, q, true
				}
				n--
			}
			return netip.Addr{}, netip.Prefix{}, false
		}
		for len(data) >= 2 {
			op, arg := data[0]%9, data[1]
			data = data[2:]
			_ = st.Update(ctx, func(tx backends.Tx) error {
				switch op {
				case 0, 1: // an IP from the prefix or a child
					q := p
					if c, ok := pick(arg); ok && op == 1 {
						q = c
					}
					a, err := AcquireIP(tx, q)
					if err != nil {
						return err
					}
					if _, dup := held[a]; dup {
						t.Fatalf("address %s handed out twice", a)
					}
					if !q.Contains(a) {
						t.Fatalf("address %s outside %s", a, q)
					}
					held[a] = q
				case 2: // a specific IP
					a := p.Addr()
					for range arg {
						a = a.Next()
					}
					if err := AcquireSpecificIP(tx, p, a); err != nil {
						return err
					}
					if _, dup := held[a]; dup {
						t.Fatalf("address %s handed out twice", a)
					}
					held[a] = p
				case 3: // release an IP
					a, q, ok := anyHeld(arg)
					if !ok {
						return nil
					}
					if err := ReleaseIP(tx, q, a); err != nil {
						t.Fatalf("release of held %s in %s: %v", a, q, err)
					}
					delete(held, a)
				case 4, 5: // a child of any length
					bits := p.Bits() + 1 + int(arg)%(w-p.Bits())
					c, err := AcquireChild(tx, p, bits)
					if err != nil {
						return err
					}
					for _, o := range children {
						if o.Overlaps(c) {
							t.Fatalf("block %s overlaps taken %s", c, o)
						}
					}
					children = append(children, c)
				case 6: // a specific child
					bits := p.Bits() + 1 + int(arg>>5)%(w-p.Bits())
					a := p.Addr()
					for range arg {
						a = a.Next()
					}
					c, _ := a.Prefix(bits)
					if err := AcquireSpecificChild(tx, p, c); err != nil {
						return err
					}
					for _, o := range children {
						if o.Overlaps(c) {
							t.Fatalf("block %s overlaps taken %s", c, o)
						}
					}
					children = append(children, c)
				case 7, 8: // release a child (fails while it holds IPs)
					c, ok := pick(arg)
					if !ok {
						return nil
					}
					if err := ReleaseChild(tx, p, c); err != nil {
						return err
					}
					for i, o := range children {
						if o == c {
							children = append(children[:i], children[i+1:]...)
							break
						}
					}
				}
				return nil
			})
			if len(data)%32 == 0 || len(data) < 2 {
				if err := st.View(ctx, checkInvariants); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
