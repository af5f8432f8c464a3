// Package switchstate keeps the state of a metal-stack partition's leaf
// switches: their ports, the wiring of machines to ports, the port up/down
// state and the per-port BGP session state the switch agents report, and a
// "connected machines" view of all of it.
//
// Every operation is written once as a function of a backends.Tx. The
// transaction functions ConnectMachine, SetMachineVRF and DisconnectMachine
// are exported so that the machine package runs them inside its own
// transactions (registration, install report, free, delete); everything else
// is reached through Service, which runs the operation in its store and
// records an audit event for every committed change.
//
// The package imports no other domain package: machines appear only as ids
// and as the plain values a caller passes in.
//
// Storage layout: the switch record, its sync status and its BGP port states
// live under separate keys (see keys.go), so that a notify whose only news
// is moving BGP counters rewrites the per-port BGP keys and the status, and
// never the switch record.
package switchstate
