package audit

import "errors"

// Sentinel errors of package audit. Errors returned by the trail wrap them
// with %w and a message that names the offending field and value; callers
// test with errors.Is.
var (
	// ErrInvalidArgument is returned when an entry, a search filter or an
	// option is invalid: an unknown type or phase, a timestamp before 1970,
	// a malformed id, body or continuation token, a negative limit, a from
	// after to. Nothing is stored or changed.
	ErrInvalidArgument = errors.New("audit: invalid argument")

	// ErrNoChain is returned by Verify on a trail opened without
	// Options.Chain.
	ErrNoChain = errors.New("audit: the trail keeps no hash chain")

	// ErrCorrupt is returned when a stored value of the trail cannot be
	// decoded (a damaged entry, block or index value). Verify reports a
	// damaged chained entry as an altered link instead.
	ErrCorrupt = errors.New("audit: stored data is corrupt")
)
