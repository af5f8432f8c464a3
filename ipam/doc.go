// Package ipam is metalkit's allocation engine: IPv4 and IPv6 prefixes,
// child prefixes, IP addresses and integer pools (VRF ids, ASNs), kept in a
// backends.Store.
//
// Every operation is a function of a backends.Tx plus plain values
// (CreatePrefix, AcquireChild, AcquireIP, AcquireInt, ...), so a caller can
// combine operations of several packages in one transaction; Service runs
// each of them alone in Store.Update or Store.View. A function that returns
// an error may have written part of its work to the Tx: the caller must then
// abort the transaction (return the error from the Update callback), which
// is what Service does. Nothing in this package keeps state outside the
// Tx, so the functions are safe for an adapter that runs a transaction more
// than once.
//
// # Model
//
// A top-level prefix is registered with CreatePrefix; it must not overlap
// any registered prefix. Its reserved addresses are taken at once: the
// first address, and for IPv4 also the last one. A child prefix is taken
// from a registered prefix with AcquireChild or AcquireSpecificChild and is
// itself registered, so it hands out IPs and children of its own. A prefix
// with children hands out no IPs, and a prefix holding IPs (besides the
// reserved ones) hands out no children.
//
// # Free space and cost
//
// Free space is kept as ordered free ranges in the store, one set of
// buckets per prefix, never as one document per prefix:
//
//   - free addresses: disjoint, merged ranges keyed by start; the lowest free
//     address is the first key, a given address is found by one descending
//     seek, and a release merges with at most its two neighbours;
//   - free child blocks, buddy style: the maximal free aligned blocks,
//     indexed once by (length, address), so the best fit is one seek, and
//     once by address, so the block holding a given child is one seek and a
//     buddy is one Get; taking a block splits it, releasing one merges
//     buddies;
//   - integer pools use the same free ranges as addresses;
//   - top-level prefixes are indexed by start address, so the overlap check
//     is one seek each way.
//
// Every operation therefore costs O(log n) store work for n allocations:
// a constant number of Gets, seeks and writes, each O(log n) in an ordered
// store, plus, for child prefixes, at most one Get and two writes per
// prefix length split or merged (bounded by 32 or 128, not by n). No
// operation scans the allocations. The benchmarks in this package show the
// cost does not grow as a prefix fills. An operation announces the seek it
// is about to make together with the Get of the prefix's record
// (backends.Prefetch), so that a networked store answers both in one round
// trip; Usages reads the records of many prefixes together.
//
// # Counters
//
// Each prefix record keeps exact counters: used addresses (reserved ones
// included), used children, and the number of free blocks of each length.
// Usage reads them, never scanning: capacity, used and free addresses and
// children exactly (as big.Int, since an IPv6 prefix has up to 2^128
// addresses), the exact number of free blocks of any length
// (Usage.FreeBlocks), and metal-api's capped consumption figures
// (Capped).
//
// # go-ipam
//
// ImportGoIPAM reads the JSON dump that go-ipam's Dump writes, so that an
// installation can move over; ExportGoIPAM writes the same format back, so
// that it can move back or compare. The tests run go-ipam side by side as
// the reference for placements; where this package departs from it on
// purpose (a reserved address is never released, consumption figures are
// capped instead of overflowing), the tests assert the departure.
//
// # Errors
//
// Conditions a caller branches on are the sentinels of errors.go, tested
// with errors.Is; the messages name the prefix, address, block or value.
package ipam
