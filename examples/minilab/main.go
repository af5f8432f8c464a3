// Command minilab runs the story of metal-stack's dual-stack release
// announcement end to end, in one process, on the wire metal-stack's own
// agents use: it starts the apiserver example (metal-api v0.40.3's v1 REST
// API and its gRPC boot and event services) on loopback over a metalkit
// store, and plays the partition mini-lab against it.
//
//   - An operator, through metal-go with the admin HMAC key the program
//     makes, creates the partition mini-lab with its boot configuration, a
//     project, an image, the dual-stack super network
//     tenant-super-network-mini-lab (10.0.0.0/16 and 2001:db8:0:10::/64,
//     child lengths IPv4 22 and IPv6 96), an underlay and an internet
//     network, and the size v1-small-x86.
//   - Two SONiC leaves, leaf01 and leaf02 in rack test-rack, register and
//     report their ports through metal-go, as metal-core does.
//   - Two machines of size v1-small-x86, each wired to both leaves, boot as
//     metal-hammer does, through the gRPC stubs: PXE Booting, Preparing,
//     Registering (with their hardware and LLDP neighbours), Waiting, and a
//     Wait stream.
//   - A user allocates a child network of the project and an IP without an
//     address family (IPv4) and one with IPv6; machine 1 is allocated with
//     hostname test into the child network (one IP per family), its Wait
//     stream ends, and it goes on: Installing, the install report (which
//     puts its switch ports into the child's VRF), Booting New Kernel,
//     Phoned Home.
//   - The leaves report the BGP sessions of those ports, read from the
//     JSON of FRR's `show bgp vrf all neighbors json` as metal-core reads
//     it.
//
// Every step goes over the wire: the lab holds the kit only to serve it,
// and to check the store once the servers have stopped.
//
// It prints, as metalctl prints them: the super network, the child
// network and the two IPs as YAML, then the `switch connected-machines -o
// wide` table, built as metalctl builds it from the switches and the
// machines (with their IPMI data) it finds through metal-go. At the end it
// checks the consistency of the whole store.
//
// Usage:
//
//	go run ./examples/minilab                                    # a new bbolt file, removed at the end
//	go run ./examples/minilab -store memory
//	go run ./examples/minilab -store lab.db                      # a bbolt file that is kept; it must not hold a lab yet
//	go run ./examples/minilab -store redis://127.0.0.1:6379/0
//	go run ./examples/minilab -clock 2025-02-26T10:00:00Z -seed 1 # the same output on every run
//
// Flags:
//
//	-store   where to keep the state (see examples/internal/storeflag);
//	         default "bolt", a new bbolt file in a temporary folder, so
//	         that every run starts from an empty store
//	-clock   an RFC 3339 time at which the lab's clock stands still: every
//	         created, changed and event time is it, and the BGP sessions
//	         came up 54 s before it (default the wall clock)
//	-seed    a non-zero seed makes every id repeat from run to run: the
//	         machines' UUIDs, the project's, the networks', the IP
//	         allocations' (default 0: random UUIDs)
//	-v       log the servers' requests and the lab's steps to stderr
//
// A store that already holds the partition mini-lab (a kept bbolt file or
// Redis after an earlier run) is refused: the lab starts from an empty
// store.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/metalkit/metalkit/examples/internal/storeflag"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "minilab:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	// store is the -store spec.
	store string
	// clock is the fixed time of -clock; zero means the wall clock.
	clock time.Time
	// seed makes the ids repeatable; 0 means random ids.
	seed uint64
	// verbose logs the servers' requests and the lab's steps.
	verbose bool
}

// parseConfig reads the flags of args.
func parseConfig(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("minilab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.store, "store", "bolt", storeflag.Usage)
	clock := fs.String("clock", "", "an RFC 3339 time, e.g. 2025-02-26T10:00:00Z: the lab's clock stands still at it (default the wall clock)")
	fs.Uint64Var(&c.seed, "seed", 0, "a non-zero seed makes every id (machines, project, networks, IP allocations) repeat from run to run; 0 means random UUIDs")
	fs.BoolVar(&c.verbose, "v", false, "log the servers' requests and the lab's steps to stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *clock != "" {
		t, err := time.Parse(time.RFC3339, *clock)
		if err != nil {
			return nil, fmt.Errorf("-clock %q: want an RFC 3339 time such as 2025-02-26T10:00:00Z", *clock)
		}
		c.clock = t.UTC()
	}
	return c, nil
}

// run plays the lab with the flags of args and prints its output to
// stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	return play(ctx, c, stdout, stderr)
}
