// Command quickstart embeds metalkit: it creates a partition's dual-stack
// super network, allocates a child network for a project and two IPs, and
// prints each result as YAML as it is returned.
//
// Usage:
//
//	go run ./examples/quickstart                            # a new bbolt file
//	go run ./examples/quickstart -store bolt:/var/lib/x.db  # a given bbolt file
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
	"path/filepath"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/boltstore"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/backends/redisstore"
	"github.com/metalkit/metalkit/network"
)

func main() {
	storeFlag := flag.String("store", "bolt", `where to keep the state: "bolt" (a new file in a temporary folder), "bolt:<path>", "memory" or "redis://host:port/db"`)
	partition := flag.String("partition", "fra-equ01", "the partition of the super network")
	project := flag.String("project", "project-a", "the project that allocates the child network and the IPs")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *storeFlag, *partition, *project); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// openStore opens the store a -store value names. The returned cleanup
// removes what the program created for itself (a temporary folder).
func openStore(spec string) (backends.Store, func(), error) {
	switch {
	case spec == "memory":
		return memstore.New(), func() {}, nil
	case spec == "bolt":
		dir, err := os.MkdirTemp("", "metalkit-quickstart-")
		if err != nil {
			return nil, nil, err
		}
		s, err := boltstore.Open(filepath.Join(dir, "metalkit.db"), nil)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, nil, err
		}
		return s, func() { _ = os.RemoveAll(dir) }, nil
	case strings.HasPrefix(spec, "bolt:"):
		s, err := boltstore.Open(strings.TrimPrefix(spec, "bolt:"), nil)
		return s, func() {}, err
	case strings.HasPrefix(spec, "redis://"):
		opts, err := redis.ParseURL(spec)
		if err != nil {
			return nil, nil, fmt.Errorf("-store %q: %w", spec, err)
		}
		client := redis.NewClient(opts)
		s, err := redisstore.New(client, &redisstore.Options{KeyPrefix: "metalkit-quickstart"})
		if err != nil {
			_ = client.Close()
			return nil, nil, err
		}
		return s, func() { _ = client.Close() }, nil
	}
	return nil, nil, fmt.Errorf(`-store %q: want "bolt", "bolt:<path>", "memory" or "redis://host:port/db"`, spec)
}

func run(ctx context.Context, out io.Writer, storeSpec, partition, project string) error {
	store, cleanup, err := openStore(storeSpec)
	if err != nil {
		return err
	}
	defer cleanup()
	kit, err := metalkit.Open(store, nil)
	if err != nil {
		_ = store.Close()
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
