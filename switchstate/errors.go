package switchstate

import (
	"errors"

	"github.com/metalkit/metalkit/errdefs"
)

// Sentinel errors. Errors returned by this package wrap one of them (or a
// backends error) and name the offending field and value; callers test with
// errors.Is. Each belongs to one of the shared classes of package errdefs.
var (
	// ErrNotFound is returned when a switch, or a port named in a request,
	// does not exist.
	ErrNotFound = errdefs.Sentinel(errdefs.ErrNotFound, "switchstate: not found")

	// ErrConflict is returned when a request contradicts the stored state:
	// deleting a switch with connections, renaming or dropping a connected
	// port, moving a connected switch, a machine stored on a switch that no
	// longer sees it, a port connected to two machines.
	ErrConflict = errdefs.Sentinel(errdefs.ErrConflict, "switchstate: conflict")

	// ErrInvalidArgument is returned for malformed input: a missing id or
	// os, an unknown vendor, mode or port state, duplicate ports, port names
	// that cannot be translated, wiring that does not connect a machine to
	// exactly two mirrored switches in one rack, malformed FRR output.
	ErrInvalidArgument = errdefs.Sentinel(errdefs.ErrInvalidArgument, "switchstate: invalid argument")

	// ErrForbidden is returned when a caller scoped to projects
	// (audit.Actor.Scoped) asks for a change: switches belong to the
	// partition, and changing them needs an admin. Class
	// errdefs.ErrForbidden.
	ErrForbidden = errdefs.Sentinel(errdefs.ErrForbidden, "switchstate: forbidden")

	// ErrStale is returned by ReadFRRFile when the file is older than the
	// allowed age: fresh data is not available. Class
	// errdefs.ErrUnavailable.
	ErrStale = errdefs.Sentinel(errdefs.ErrUnavailable, "switchstate: stale data")

	// ErrCorrupt is returned when a stored record does not decode. Class
	// errdefs.ErrCorrupt.
	ErrCorrupt = errdefs.Sentinel(errdefs.ErrCorrupt, "switchstate: stored data is corrupt")
)

func isNotFound(err error) bool { return err != nil && errors.Is(err, ErrNotFound) }

// joinErrs returns nil for no errors, the error itself for one, and
// errors.Join otherwise.
func joinErrs(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}
