package machine

import (
	"fmt"

	"github.com/metalkit/metalkit/errdefs"
)

// Sentinel errors of the machine package. Each matches one of the shared
// classes of package errdefs, so errors.Is(err, errdefs.ErrNotFound) holds
// for machine.ErrNotFound as it does for any package's not-found error.
// Errors returned by this package carry a message that names the field and
// the value at fault and match one of these (or a class directly, where
// said); callers test with errors.Is, never by the text.
var (
	// ErrNotFound (class not found): the machine, size, size reservation
	// or event container asked for does not exist.
	ErrNotFound = errdefs.Sentinel(errdefs.ErrNotFound, "machine: not found")

	// ErrInvalidArgument (class invalid argument): a request is malformed
	// whatever the stored state: a missing or over-long field, an unknown
	// state value or event type, an address that does not parse, a size
	// whose constraints contradict each other, an allocation whose networks
	// cannot be classified.
	ErrInvalidArgument = errdefs.Sentinel(errdefs.ErrInvalidArgument, "machine: invalid argument")

	// ErrConflict (class conflict): a well-formed request contradicts the
	// stored state: a size that overlaps another, a machine that is
	// already allocated or has no partition, deleting an allocated or
	// living machine, a size still named by a reservation.
	ErrConflict = errdefs.Sentinel(errdefs.ErrConflict, "machine: conflict")

	// ErrLocked (class conflict): the machine's state is LOCKED, so it may
	// neither be freed nor reinstalled. It is a sentinel of its own (it
	// does not match ErrConflict of this package) so that callers can tell
	// a locked machine from other conflicts; errdefs.ErrConflict matches
	// both.
	ErrLocked = errdefs.Sentinel(errdefs.ErrConflict, "machine: locked")

	// ErrForbidden (class forbidden): the caller, scoped to projects, may
	// not do this (another project's machine, an admin's operation).
	ErrForbidden = errdefs.Sentinel(errdefs.ErrForbidden, "machine: forbidden")

	// ErrNoMachineAvailable (class exhausted): no free machine qualifies
	// for an allocation by size and partition, or the size reservations
	// of other projects hold the remaining ones.
	ErrNoMachineAvailable = errdefs.Sentinel(errdefs.ErrExhausted, "machine: no machine available")

	// ErrQuota (class exhausted): the project has reached the maximum of
	// allocations of a role that the catalog's quota hook reports. It is
	// of class exhausted, not forbidden, because the request would succeed
	// once the project frees one of its machines: like an empty pool, the
	// project's share has nothing left to give, and the caller may retry
	// later.
	ErrQuota = errdefs.Sentinel(errdefs.ErrExhausted, "machine: quota reached")
)

// invalid returns an error matching ErrInvalidArgument whose message is
// "machine: " followed by the formatted text.
func invalid(format string, args ...any) error {
	return errdefs.Errorf(ErrInvalidArgument, "machine: "+format, args...)
}

// conflict returns an error matching ErrConflict whose message is
// "machine: " followed by the formatted text.
func conflict(format string, args ...any) error {
	return errdefs.Errorf(ErrConflict, "machine: "+format, args...)
}

// corrupt returns an error of class errdefs.ErrCorrupt whose message is
// "machine: " followed by the formatted text.
func corrupt(format string, args ...any) error {
	return errdefs.Errorf(errdefs.ErrCorrupt, "machine: "+format, args...)
}

// limit wraps an error of a limits check (which names the field and quotes
// the value) so that it matches ErrInvalidArgument and reads
// "machine: <the check's message>". A nil err gives nil.
func limit(err error) error {
	if err == nil {
		return nil
	}
	return errdefs.Errorf(ErrInvalidArgument, "machine: %w", err)
}

// q quotes an input for an error message, bounded by errdefs.Quote.
func q(s string) string { return errdefs.Quote(s) }

// field formats an indexed field name such as "constraints[2]".
func field(name string, i int) string { return fmt.Sprintf("%s[%d]", name, i) }

// notFound returns an error matching ErrNotFound whose message is
// "machine: " followed by the formatted text.
func notFound(format string, args ...any) error {
	return errdefs.Errorf(ErrNotFound, "machine: "+format, args...)
}

// fmtErr returns an error matching kind whose message is "machine: "
// followed by the formatted text.
func fmtErr(kind error, format string, args ...any) error {
	return errdefs.Errorf(kind, "machine: "+format, args...)
}
