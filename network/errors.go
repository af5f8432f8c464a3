package network

import "errors"

// Sentinel errors of the network package. Errors returned by the service
// wrap one of them (or an ipam sentinel such as ipam.ErrExhausted) with the
// field and the value at fault; callers test with errors.Is.
var (
	// ErrNotFound: the network, IP, partition or project does not exist.
	ErrNotFound = errors.New("network: not found")
	// ErrConflict: the request collides with the stored state (an id or
	// address already taken, a second super network, a network that still
	// holds IPs or children).
	ErrConflict = errors.New("network: conflict")
	// ErrInvalidArgument: the request itself is malformed (a missing field,
	// a non-canonical prefix, a length out of range, an unknown type).
	ErrInvalidArgument = errors.New("network: invalid argument")
	// ErrForbidden: the request is well-formed but not allowed for this
	// caller or entity (an IP of another project's network, freeing a
	// machine's IP directly, static to ephemeral).
	ErrForbidden = errors.New("network: forbidden")
)
