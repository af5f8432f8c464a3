package ipam

import "github.com/metalkit/metalkit/errdefs"

// Sentinel errors. Every error returned by this package that callers may
// branch on wraps one (or, where two descriptions apply, two) of these; the
// message around it names the prefix, address, block or pool concerned.
// Each belongs to one of the shared classes of package errdefs. Test with
// errors.Is.
var (
	// ErrInvalidArgument is returned for malformed input: an invalid or
	// non-canonical prefix, an IPv4-mapped IPv6 prefix or address, an
	// address of the wrong family or outside its prefix, a child length
	// that is not longer than its parent, an empty pool name, a pool with
	// min > max, or an invalid go-ipam dump. Nothing is changed. Class
	// errdefs.ErrInvalidArgument.
	ErrInvalidArgument = errdefs.Sentinel(errdefs.ErrInvalidArgument, "ipam: invalid argument")

	// ErrNotFound is returned when a prefix or pool is not registered, when
	// a child prefix is not a child of the given parent, and when an
	// address, block or integer to be released is not allocated. Class
	// errdefs.ErrNotFound.
	ErrNotFound = errdefs.Sentinel(errdefs.ErrNotFound, "ipam: not found")

	// ErrAlreadyExists is returned by CreatePrefix for a prefix that is
	// already registered (together with ErrPrefixOverlap) and by CreatePool
	// for a pool name that is already taken. Class errdefs.ErrConflict.
	ErrAlreadyExists = errdefs.Sentinel(errdefs.ErrConflict, "ipam: already exists")

	// ErrPrefixOverlap is returned by CreatePrefix when the new prefix
	// overlaps a registered top-level prefix of the same family, and by the
	// go-ipam import for a dump whose prefixes overlap. Class
	// errdefs.ErrConflict.
	ErrPrefixOverlap = errdefs.Sentinel(errdefs.ErrConflict, "ipam: prefix overlaps")

	// ErrExhausted is returned when there is no free address, no free block
	// of the requested length, or no free integer. The message names the
	// largest free block, if any. Class errdefs.ErrExhausted.
	ErrExhausted = errdefs.Sentinel(errdefs.ErrExhausted, "ipam: exhausted")

	// ErrAlreadyAllocated is returned when a specific address, child block
	// or integer is taken (in whole or in part). A reserved address also
	// wraps ErrReserved. Class errdefs.ErrConflict.
	ErrAlreadyAllocated = errdefs.Sentinel(errdefs.ErrConflict, "ipam: already allocated")

	// ErrReserved is returned for an attempt to take or release a reserved
	// address (the network address, and for IPv4 also the broadcast
	// address). Class errdefs.ErrConflict.
	ErrReserved = errdefs.Sentinel(errdefs.ErrConflict, "ipam: reserved address")

	// ErrInUse is returned when the state of a prefix or pool forbids the
	// operation: deleting a prefix or pool that still holds allocations,
	// taking an IP from a prefix that has children, taking a child from a
	// prefix that holds IPs, or releasing a child that holds IPs or
	// children. Class errdefs.ErrConflict.
	ErrInUse = errdefs.Sentinel(errdefs.ErrConflict, "ipam: in use")

	// ErrForbidden is returned when a caller scoped to projects
	// (audit.Actor.Scoped) asks the service for a change: the engine knows
	// no projects, so changing it directly needs an admin. Class
	// errdefs.ErrForbidden.
	ErrForbidden = errdefs.Sentinel(errdefs.ErrForbidden, "ipam: forbidden")

	// ErrCorrupt is returned when a stored record or key of the engine does
	// not decode, or contradicts the free blocks (taking a child found a
	// record under a prefix the free blocks gave out as free). On a store
	// that checks that at the commit (redisstore) the change fails there
	// instead, with backends.ErrKeyExists; both are of class
	// errdefs.ErrCorrupt, which is what to test for. Class
	// errdefs.ErrCorrupt.
	ErrCorrupt = errdefs.Sentinel(errdefs.ErrCorrupt, "ipam: stored data is corrupt")
)
