// Package machine holds sizes, size reservations, machines and firewalls of
// a bare-metal control plane in the style of metal-api: the values that are
// stored and returned (with metal-api's JSON names), and every rule of their
// life cycle that needs no store, as pure functions.
//
// The pure functions take plain values and return plain values; they read
// no clock and no random source of their own (time and randomness are
// arguments), so the service can call them inside a transaction that may
// run twice and tests can replay them:
//
//   - sizes: ValidateSize, CheckSizeOverlap and Identify, which finds the
//     size of a machine's hardware ("unknown" for none or several);
//   - size reservations: ValidateReservation and CheckReservations, the
//     check that may refuse an allocation because the rest is reserved;
//   - machine state: ParseStateValue and SetState;
//   - provisioning events: ParseEventType and Transition, which applies
//     one incoming event to a machine's event container; EvaluateLiveliness
//     and ShouldResurrect;
//   - issues: FindIssues over machines and their containers;
//   - allocation: ValidateAllocateRequest (every problem of a request at
//     once), CheckAllocationTarget, IsCandidate, SpreadAcrossRacks and Pick,
//     ClassifyNetworks, NetworkTypeOf and MachineTags.
//
// Storage, transactions and the service that composes these functions with
// the network, switchstate and audit packages come in this same package.
//
// Tenant scoping: a caller in the context scoped to projects
// (audit.Actor with Projects and not Admin) sees free machines and the
// machines allocated to its projects, allocates for its projects, and frees,
// updates and reinstalls only its own; registration, events, install
// reports, state, sizes and reservations need an admin (ErrForbidden); see
// scope.go. A caller without a scope is not limited.
//
// Errors match the package's sentinels (ErrInvalidArgument, ErrConflict,
// ...) and, through them, the shared classes of package errdefs. Messages
// name the package once, then the field, the quoted value and the problem:
//
//	machine: ips[0] "42" is not an IP address
//
// Validation that finds several problems returns them together
// (errors.Join).
//
// Departures from metal-api, each a fix of a known defect: a machine with
// GPUs matches no size without a gpu constraint; setting a state keeps the
// metal-hammer version; an allocation by id that names another partition or
// size than the machine's is refused instead of ignored.
package machine
