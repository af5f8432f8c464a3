// Package metalkit is the embeddable core of a bare-metal cloud control
// plane in the style of metal-stack's metal-api: dual-stack networks and
// prefixes, IP allocation by address family, switch and per-port BGP state,
// and a searchable audit trail, over pluggable storage.
//
// # Layers
//
// The storage contract (package backends) is a small, ordered,
// transactional key-value interface; adapters implement it and see only
// bytes:
//
//   - backends/memstore: in memory, the default for tests;
//   - backends/boltstore: one bbolt file, the embedded default for programs;
//   - backends/redisstore: Redis (also Cluster and Sentinel through the
//     caller's go-redis UniversalClient), shared by many processes.
//
// Domain packages (ipam, network, switchstate, audit) import only backends
// (and the leaf packages errdefs and limits).
// Every operation is written once as a function of a backends.Tx, and a thin
// service per package runs it in Store.Update or Store.View; an operation
// that spans packages calls the others' transaction functions inside one
// transaction, so it commits whole or not at all.
//
// # Composing operations
//
// Every service (Kit.IPAM, Kit.Networks, Kit.Switches) runs each operation
// in a transaction of its own, or bound to a transaction the caller holds:
// Kit.Update gives a Tx with every service bound to one transaction, so
// that operations of several packages, and keys of the caller's own,
// commit together or not at all, each with its audit entry:
//
//	err := kit.Update(ctx, func(tx *metalkit.Tx) error {
//		child, err := tx.Networks.AllocateChild(network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "p1"})
//		if err != nil {
//			return err
//		}
//		if err := tx.Switches.SetMachineVRF("m1", switchstate.TenantVRF(child.VRF)); err != nil {
//			return err
//		}
//		return tx.Backend().Put("app/machines", []byte("m1"), []byte(child.ID))
//	})
//
// The caller travels in the context (audit.NewContext); every service reads
// it from there for its audit entries.
//
// # Errors and limits
//
// Every package's sentinels belong to one of the classes of package
// errdefs (not found, invalid argument, conflict, forbidden, exhausted,
// unavailable, corrupt), so errors.Is(err, errdefs.ErrNotFound) works
// whichever package returned err. A store that cannot be reached gives
// backends.ErrUnavailable, never a domain error. The bounds on input (ids,
// names, labels, tags) are in package limits.
//
// Operations return entities (networks, IPs, switches) as pointers to
// fresh copies the caller owns, and small computed values (usage, pools,
// prefixes) as values.
//
// # Picking a store
//
// A program that runs alone opens a bbolt file; programs that share state
// across processes use Redis; tests use memstore. Open composes every
// service over the one store:
//
//	store, err := boltstore.Open("metalkit.db", nil)
//	...
//	kit, err := metalkit.Open(store, nil)
//	...
//	defer kit.Close()
package metalkit
