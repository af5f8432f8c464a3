package ipam

import "errors"

// Sentinel errors. Every error returned by this package that callers may
// branch on wraps one (or, where two descriptions apply, two) of these; the
// message around it names the prefix, address, block or pool concerned.
// Test with errors.Is.
var (
	// ErrInvalidArgument is returned for malformed input: an invalid or
	// non-canonical prefix, an IPv4-mapped IPv6 prefix or address, an
	// address of the wrong family or outside its prefix, a child length
	// that is not longer than its parent, an empty pool name, a pool with
	// min > max, or an invalid go-ipam dump. Nothing is changed.
	ErrInvalidArgument = errors.New("ipam: invalid argument")

	// ErrNotFound is returned when a prefix or pool is not registered, when
	// a child prefix is not a child of the given parent, and when an
	// address, block or integer to be released is not allocated.
	ErrNotFound = errors.New("ipam: not found")

	// ErrAlreadyExists is returned by CreatePrefix for a prefix that is
	// already registered (together with ErrPrefixOverlap) and by CreatePool
	// for a pool name that is already taken.
	ErrAlreadyExists = errors.New("ipam: already exists")

	// ErrPrefixOverlap is returned by CreatePrefix when the new prefix
	// overlaps a registered top-level prefix of the same family, and by the
	// go-ipam import for a dump whose prefixes overlap.
	ErrPrefixOverlap = errors.New("ipam: prefix overlaps")

	// ErrExhausted is returned when there is no free address, no free block
	// of the requested length, or no free integer. The message names the
	// largest free block, if any.
	ErrExhausted = errors.New("ipam: exhausted")

	// ErrAlreadyAllocated is returned when a specific address, child block
	// or integer is taken (in whole or in part). A reserved address also
	// wraps ErrReserved.
	ErrAlreadyAllocated = errors.New("ipam: already allocated")

	// ErrReserved is returned for an attempt to take or release a reserved
	// address (the network address, and for IPv4 also the broadcast
	// address).
	ErrReserved = errors.New("ipam: reserved address")

	// ErrInUse is returned when the state of a prefix or pool forbids the
	// operation: deleting a prefix or pool that still holds allocations,
	// taking an IP from a prefix that has children, taking a child from a
	// prefix that holds IPs, or releasing a child that holds IPs or
	// children.
	ErrInUse = errors.New("ipam: in use")
)
