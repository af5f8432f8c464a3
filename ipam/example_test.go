package ipam_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/ipam"
)

// A super prefix hands out child prefixes by best fit; a child hands out
// IPs, lowest first.
func Example() {
	ctx := context.Background()
	s := ipam.New(memstore.New(), nil)
	super := netip.MustParsePrefix("10.0.0.0/16")
	if err := s.CreatePrefix(ctx, super); err != nil {
		panic(err)
	}
	for _, bits := range []int{22, 22, 24, 22} {
		child, err := s.AcquireChild(ctx, super, bits)
		if err != nil {
			panic(err)
		}
		fmt.Println("child", child)
	}
	child := netip.MustParsePrefix("10.0.4.0/22")
	for range 2 {
		ip, err := s.AcquireIP(ctx, child)
		if err != nil {
			panic(err)
		}
		fmt.Println("ip", ip)
	}
	u, err := s.Usage(ctx, super)
	if err != nil {
		panic(err)
	}
	fmt.Println("capacity", u.Capacity, "used", u.UsedIPs, "free /30", u.FreeSmallestChildren, "children", u.UsedChildren)
	// Output:
	// child 10.0.0.0/22
	// child 10.0.4.0/22
	// child 10.0.8.0/24
	// child 10.0.12.0/22
	// ip 10.0.4.1
	// ip 10.0.4.2
	// capacity 65536 used 2 free /30 15552 children 4
}

// The transaction functions let a caller combine several operations in one
// transaction: here a child prefix and a VRF id are taken together, or not
// at all.
func ExampleAcquireChild() {
	ctx := context.Background()
	store := memstore.New()
	super := netip.MustParsePrefix("192.168.0.0/24")
	err := store.Update(ctx, func(tx backends.Tx) error {
		if err := ipam.CreatePrefix(tx, super); err != nil {
			return err
		}
		return ipam.CreatePool(tx, "vrf", ipam.VRFPoolMin, ipam.VRFPoolMax)
	})
	if err != nil {
		panic(err)
	}
	for _, bits := range []int{25, 26, 25} {
		var child netip.Prefix
		var vrf uint64
		err := store.Update(ctx, func(tx backends.Tx) (err error) {
			if vrf, err = ipam.AcquireInt(tx, "vrf"); err != nil {
				return err
			}
			child, err = ipam.AcquireChild(tx, super, bits)
			return err
		})
		switch {
		case errors.Is(err, ipam.ErrExhausted):
			fmt.Println(err)
		case err != nil:
			panic(err)
		default:
			fmt.Println(child, "vrf", vrf)
		}
	}
	pool, err := ipam.New(store, nil).GetPool(ctx, "vrf")
	if err != nil {
		panic(err)
	}
	fmt.Println("vrfs used:", pool.Used)
	// Output:
	// 192.168.0.0/25 vrf 1
	// 192.168.0.128/26 vrf 2
	// ipam: prefix 192.168.0.0/24: no free /25 (largest free block 192.168.0.192/26)
	// vrfs used: 2
}

// Usage reports exact figures and metal-api's capped ones.
func ExampleUsage() {
	ctx := context.Background()
	s := ipam.New(memstore.New(), nil)
	p := netip.MustParsePrefix("2001:db8:0:10::/64")
	if err := s.CreatePrefix(ctx, p); err != nil {
		panic(err)
	}
	if _, err := s.AcquireChild(ctx, p, 96); err != nil {
		panic(err)
	}
	u, err := s.Usage(ctx, p)
	if err != nil {
		panic(err)
	}
	fmt.Println("capacity", u.Capacity, "free /126", u.FreeSmallestChildren, "free /96", u.FreeBlocks(96))
	fmt.Println("capped", ipam.Capped(u.Capacity), ipam.Capped(u.FreeSmallestChildren))
	// Output:
	// capacity 18446744073709551616 free /126 4611686017353646080 free /96 4294967295
	// capped 2147483647 2147483647
}

// Addresses: lowest free first, specific ones, reserved ones refused.
func ExampleService_AcquireIP() {
	ctx := context.Background()
	s := ipam.New(memstore.New(), nil)
	p := netip.MustParsePrefix("10.0.0.0/29")
	if err := s.CreatePrefix(ctx, p); err != nil {
		panic(err)
	}
	a, _ := s.AcquireIP(ctx, p)
	fmt.Println(a)
	fmt.Println(s.AcquireSpecificIP(ctx, p, netip.MustParseAddr("10.0.0.2")))
	a, _ = s.AcquireIP(ctx, p)
	fmt.Println(a)
	err := s.ReleaseIP(ctx, p, netip.MustParseAddr("10.0.0.7"))
	fmt.Println(errors.Is(err, ipam.ErrReserved), err)
	// Output:
	// 10.0.0.1
	// <nil>
	// 10.0.0.3
	// true ipam: prefix 10.0.0.0/29: address 10.0.0.7 is reserved and cannot be released
}

// A go-ipam dump is imported in one transaction.
func ExampleService_ImportGoIPAM() {
	ctx := context.Background()
	s := ipam.New(memstore.New(), nil)
	dump := `[
	  {"Cidr":"10.0.0.0/16","ParentCidr":"","Namespace":"root","IsParent":true,"Version":2,
	   "IPs":{"10.0.0.0":true,"10.0.255.255":true},
	   "AvailableChildPrefixes":{"10.0.0.0/22":false}},
	  {"Cidr":"10.0.0.0/22","ParentCidr":"10.0.0.0/16","Namespace":"root","Version":2,
	   "IPs":{"10.0.0.0":true,"10.0.3.255":true,"10.0.0.1":true},
	   "AvailableChildPrefixes":{}}
	]`
	stats, err := s.ImportGoIPAM(ctx, []byte(dump))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", stats)
	ip, _ := s.AcquireIP(ctx, netip.MustParsePrefix("10.0.0.0/22"))
	fmt.Println("next ip", ip)
	// Output:
	// {Prefixes:1 Children:1 IPs:1}
	// next ip 10.0.0.2
}

// The state goes back out in go-ipam's dump format, read in one View.
func ExampleExportGoIPAM() {
	ctx := context.Background()
	st := memstore.New()
	err := st.Update(ctx, func(tx backends.Tx) error {
		p := netip.MustParsePrefix("10.0.0.0/29")
		if err := ipam.CreatePrefix(tx, p); err != nil {
			return err
		}
		_, err := ipam.AcquireIP(tx, p)
		return err
	})
	if err != nil {
		panic(err)
	}
	var dump []byte
	err = st.View(ctx, func(tx backends.Tx) (err error) {
		dump, err = ipam.ExportGoIPAM(tx)
		return err
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(dump))
	// Output:
	// [{"Cidr":"10.0.0.0/29","ParentCidr":"","Namespace":"","AvailableChildPrefixes":{},"ChildPrefixLength":0,"IsParent":false,"IPs":{"10.0.0.0":true,"10.0.0.1":true,"10.0.0.7":true},"Version":0}]
}
