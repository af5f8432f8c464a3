package network_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/network"
)

// sequentialIDs returns ids "<prefix>-1", "<prefix>-2", ... so examples
// print stable ids.
func sequentialIDs(prefix string) func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("%s-%d", prefix, n) }
}

func fixedClock() time.Time { return time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC) }

func printConsumption(name string, n *network.Network) {
	c := n.Consumption
	for _, f := range []struct {
		name string
		fc   *network.FamilyConsumption
	}{{"ipv4", c.IPv4}, {"ipv6", c.IPv6}} {
		if f.fc == nil {
			fmt.Printf("%s %s: none\n", name, f.name)
			continue
		}
		fmt.Printf("%s %s: available_ips %d, used_ips %d, available_prefixes %d, used_prefixes %d\n",
			name, f.name, f.fc.AvailableIPs, f.fc.UsedIPs, f.fc.AvailablePrefixes, f.fc.UsedPrefixes)
	}
}

// The dual-stack walkthrough: a super network with an IPv4 and an IPv6
// prefix, a child for a project, and IPs of either family.
func Example() {
	ctx := context.Background()
	svc := network.New(memstore.New(), &network.Options{Clock: fixedClock, IDs: sequentialIDs("id")})

	super, err := svc.Create(ctx, network.CreateRequest{
		ID:                       "super-fra-equ01",
		PartitionID:              "fra-equ01",
		Prefixes:                 []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("2001:db8:0:10::/64")},
		DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22, network.IPv6: 96},
		PrivateSuper:             true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	printConsumption("super", super)

	child, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "project-a"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("child:", child.Prefixes, child.NetworkType)
	printConsumption("child", child)

	super, _ = svc.Get(ctx, super.ID)
	printConsumption("super", super)

	ip4, err := svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "project-a"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ip6, err := svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "project-a", AddressFamily: "ipv6"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ips:", ip4.IPAddress, ip6.IPAddress)

	second, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "project-b"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("second child:", second.Prefixes)
	// Output:
	// super ipv4: available_ips 65536, used_ips 2, available_prefixes 16384, used_prefixes 0
	// super ipv6: available_ips 2147483647, used_ips 1, available_prefixes 2147483647, used_prefixes 0
	// child: [10.0.0.0/22 2001:db8:0:10::/96] child
	// child ipv4: available_ips 1024, used_ips 2, available_prefixes 256, used_prefixes 0
	// child ipv6: available_ips 2147483647, used_ips 1, available_prefixes 1073741824, used_prefixes 0
	// super ipv4: available_ips 65536, used_ips 2, available_prefixes 16128, used_prefixes 1
	// super ipv6: available_ips 2147483647, used_ips 1, available_prefixes 2147483647, used_prefixes 1
	// ips: 10.0.0.1 2001:db8:0:10::1
	// second child: [10.0.4.0/22 2001:db8:0:10:0:1::/96]
}

// Networks and IPs print as YAML with metal-api's field names.
func ExamplePrintYAML() {
	ctx := context.Background()
	svc := network.New(memstore.New(), &network.Options{Clock: fixedClock, IDs: sequentialIDs("ip")})
	n, _ := svc.Create(ctx, network.CreateRequest{
		ID:       "internet",
		Name:     "internet",
		Prefixes: []netip.Prefix{netip.MustParsePrefix("185.1.2.0/24")},
		Labels:   map[string]string{"network.metal-stack.io/default-external": ""},
		Shared:   true,
	})
	ip, _ := svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: n.ID, ProjectID: "project-a", Name: "web", Type: network.IPTypeStatic})
	_ = network.PrintYAML(os.Stdout, ip)
	// Output:
	// allocationuuid: ip-1
	// changed: "2024-05-10T12:00:00Z"
	// created: "2024-05-10T12:00:00Z"
	// ipaddress: 185.1.2.1
	// name: web
	// networkid: internet
	// projectid: project-a
	// tags: []
	// type: static
}
