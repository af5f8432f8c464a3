package audit

import "github.com/metalkit/metalkit/errdefs"

// Sentinel errors of package audit. Errors returned by the trail wrap them
// and name the offending field and value; callers test with errors.Is. Each
// belongs to one of the shared classes of package errdefs.
var (
	// ErrInvalidArgument is returned when an entry, a search filter or an
	// option is invalid: an unknown type or phase, a timestamp before 1970,
	// a malformed id, body or continuation token, a negative limit, a from
	// after to. Nothing is stored or changed. Class
	// errdefs.ErrInvalidArgument.
	ErrInvalidArgument = errdefs.Sentinel(errdefs.ErrInvalidArgument, "audit: invalid argument")

	// ErrNoChain is returned by Verify on a trail opened without
	// Options.Chain. Class errdefs.ErrInvalidArgument.
	ErrNoChain = errdefs.Sentinel(errdefs.ErrInvalidArgument, "audit: the trail keeps no hash chain")

	// ErrCorrupt is returned when a stored value of the trail cannot be
	// decoded (a damaged entry, block or index value). Verify reports a
	// damaged chained entry as an altered link instead. Class
	// errdefs.ErrCorrupt.
	ErrCorrupt = errdefs.Sentinel(errdefs.ErrCorrupt, "audit: stored data is corrupt")
)
