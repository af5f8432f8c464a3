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
// Domain packages (ipam, network, switchstate, audit) import only backends.
// Every operation is written once as a function of a backends.Tx, and a thin
// service per package runs it in Store.Update or Store.View; an operation
// that spans packages calls the others' transaction functions inside one
// transaction, so it commits whole or not at all.
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
