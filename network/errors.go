package network

import (
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/ipam"
)

// Sentinel errors of the network package. Errors returned by the service
// wrap one of them (or an ipam sentinel) with the field and the value at
// fault; callers test with errors.Is. Each belongs to one of the shared
// classes of package errdefs, so errors.Is(err, errdefs.ErrNotFound) works
// too.
var (
	// ErrNotFound: the network, IP, partition or project does not exist.
	// Class errdefs.ErrNotFound.
	ErrNotFound = errdefs.Sentinel(errdefs.ErrNotFound, "network: not found")
	// ErrConflict: the request collides with the stored state (an id or
	// address already taken, a second super network, a network that still
	// holds IPs or children). Class errdefs.ErrConflict.
	ErrConflict = errdefs.Sentinel(errdefs.ErrConflict, "network: conflict")
	// ErrInvalidArgument: the request itself is malformed (a missing field,
	// a non-canonical prefix, a length out of range, an unknown type, an
	// input beyond its limit). Class errdefs.ErrInvalidArgument.
	ErrInvalidArgument = errdefs.Sentinel(errdefs.ErrInvalidArgument, "network: invalid argument")
	// ErrForbidden: the request is well-formed but not allowed for this
	// caller or entity (an IP of another project's network, freeing a
	// machine's IP directly, static to ephemeral). Class
	// errdefs.ErrForbidden.
	ErrForbidden = errdefs.Sentinel(errdefs.ErrForbidden, "network: forbidden")
	// ErrExhausted: no prefix of the family has a free address or room for
	// the child, or the VRF pool is empty. It is ipam's sentinel, so a
	// caller of this package tests exhaustion without importing ipam.
	// Class errdefs.ErrExhausted.
	ErrExhausted = ipam.ErrExhausted
	// ErrCorrupt: a stored record does not decode, or contradicts the
	// free index (an allocation found a record under an address ipam gave
	// out as free). On a store that checks that at the commit (redisstore)
	// the allocation fails there instead, with backends.ErrKeyExists; both
	// are of class errdefs.ErrCorrupt, which is what to test for. Class
	// errdefs.ErrCorrupt.
	ErrCorrupt = errdefs.Sentinel(errdefs.ErrCorrupt, "network: stored data is corrupt")
)

func invalid(format string, args ...any) error {
	return errdefs.Errorf(ErrInvalidArgument, "network: "+format, args...)
}
