// Command quickstart embeds metalkit: it creates a partition's dual-stack
// super network, allocates a child network for a project and two IPs, and
// prints each result as YAML as it is returned.
//
// Usage:
//
//	go run ./examples/quickstart                            # a new bbolt file
//	go run ./examples/quickstart -store bolt:/var/lib/x.db  # a given bbolt file
//	go run ./examples/quickstart -store /var/lib/x.db       # the same
//	go run ./examples/quickstart -store memory
//	go run ./examples/quickstart -store redis://127.0.0.1:6379/0
//
// With a bbolt file or Redis that already holds the partition's super
// network, the program reuses it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/metalkit/metalkit/examples/internal/storeflag"
	"github.com/metalkit/metalkit/network"
)

func main() {
	storeFlag := flag.String("store", "bolt", storeflag.Usage)
	partition := flag.String("partition", "fra-equ01", "the partition of the super network")
	project := flag.String("project", "project-a", "the project that allocates the child network and the IPs")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *storeFlag, *partition, *project); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, storeSpec, partition, project string) error {
	opened, err := storeflag.Open(storeSpec, &storeflag.Options{KeyPrefix: "metalkit-quickstart", TempPattern: "metalkit-quickstart-"})
	if err != nil {
		return err
	}
	defer opened.Cleanup()
	kit, err := opened.OpenKit(nil)
	if err != nil {
		return err
	}
	defer kit.Close()

	show := func(title string, v any) error {
		if _, err := fmt.Fprintf(out, "# %s\n", title); err != nil {
			return err
		}
		return network.PrintYAML(out, v)
	}

	super, err := kit.Networks.Create(ctx, network.CreateRequest{
		ID:                       "super-" + partition,
		Name:                     partition + " private super network",
		PartitionID:              partition,
		Prefixes:                 []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("2001:db8:0:10::/64")},
		DefaultChildPrefixLength: map[network.AddressFamily]int{network.IPv4: 22, network.IPv6: 96},
		PrivateSuper:             true,
	})
	switch {
	case errors.Is(err, network.ErrConflict):
		if super, err = kit.Networks.Get(ctx, "super-"+partition); err != nil {
			return err
		}
		if err := show("super network (already present)", super); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := show("super network, as created", super); err != nil {
			return err
		}
	}

	child, err := kit.Networks.AllocateChild(ctx, network.AllocateRequest{
		Name: "project network", PartitionID: partition, ProjectID: project,
	})
	if err != nil {
		return err
	}
	if err := show("child network of "+project, child); err != nil {
		return err
	}

	ip, err := kit.Networks.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: project, Name: "first"})
	if err != nil {
		return err
	}
	if err := show("IP with no address family", ip); err != nil {
		return err
	}
	ip6, err := kit.Networks.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: project, Name: "second", AddressFamily: network.IPv6})
	if err != nil {
		return err
	}
	return show("IP with address family IPv6", ip6)
}
