// Package grpcapi serves the gRPC side of metal-api v0.40.3 over a metalkit
// Kit: the BootService and the EventService that metal-stack's in-band
// agent, metal-hammer, calls while it boots, inventories, waits for and
// installs a machine. The contract is metal-api's own generated Go stubs
// (github.com/metal-stack/metal-api/pkg/api/v1), so metal-hammer and any
// client built on them talk to a program that embeds metalkit.
//
// New returns a Server; NewGRPCServer gives a *grpc.Server with the
// services registered and metal-api's keepalive policy (or Register adds the
// services to a server of the caller's):
//
//	kit, _ := metalkit.Open(memstore.New(), nil)
//	srv, err := grpcapi.New(kit, api.NewCatalog(kit.Store, nil), nil)
//	...
//	gs := srv.NewGRPCServer()
//	ln, _ := net.Listen("tcp", "127.0.0.1:50051")
//	go gs.Serve(ln)
//	...
//	srv.Drain()      // ends the running Wait streams
//	gs.GracefulStop()
//
// The methods, backed by package machine and the api package's Catalog:
//
//   - Dhcp records a PXE Booting event for the machine (a stub machine
//     when it is not registered yet).
//   - Boot answers the partition's boot configuration: metal-hammer's kernel,
//     its initrd and the command line, from the Catalog.
//   - SuperUserPassword answers the BMC superuser password of
//     Options.SuperUserPassword, or that the feature is disabled.
//   - Register creates or updates the machine from metal-hammer's inventory
//     (hardware with LLDP neighbours, BIOS, IPMI with FRU, tags, version),
//     identifies its size and wires it to its two switches, in one
//     transaction: a failure writes nothing.
//   - Wait streams until the machine is allocated, sending an empty message
//     every Options.WaitKeepalive meanwhile; it ends with OK once allocated.
//     The machine's waiting flag is set while it runs and cleared when it
//     ends, also when the client goes away or the server drains.
//   - Report records a successful installation (console password, boot
//     information, port VRFs); a failed one is recorded as a Crashed event.
//   - AbortReinstall ends a pending reinstall and answers the boot
//     information of the installed system, unless the disk was wiped.
//   - Send applies a batch of events, one machine per transaction, and names
//     the machines whose event failed.
//
// No method answers Unimplemented. What metal-api does besides, and this
// package does not: after Report and AbortReinstall it publishes a command
// on its message bus that sets the machine's BMC to boot from disk (the
// library sends no power or boot commands), and its message bus wakes a
// Wait at once for an allocation made by another process, where here such
// an allocation ends the wait within the machine service's WaitPoll (60 s
// by default; one made in this process ends it at once).
//
// Errors are gRPC statuses whose code follows the error's class (see Code)
// and whose message is the library's, which names the field and the value.
//
// Like metal-api, the services authenticate no caller themselves: serve
// them on loopback, or over TLS with client certificates (see the
// apiserver program's -grpc-tls-* flags). The audit trail records the
// calls as made by the subject of a verified client certificate, else by
// Options.User: the library's events, and, on a server built with
// ServerOptions, an entry of type grpc before and after every unary call
// and when a stream opens and closes, with the request as body (see
// ServerOptions).
package grpcapi
