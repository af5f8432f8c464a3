// Package network manages dual-stack networks, child-network allocation,
// IPs and per-family consumption in the style of metal-api, on top of the
// ipam engine.
//
// Every operation is written once as a function of a backends.Tx (CreateTx,
// AllocateChildTx, AllocateIPTx, ...) so that other packages can call it
// inside their own transactions; Service runs each in one Store.Update or
// Store.View and records an audit event for every committed change when it
// has a trail. A failing operation changes nothing: every check runs before
// or inside the one transaction, which rolls back on error, so no VRF, child
// block or address is ever left behind.
//
// Records are stored in a compact binary form (codec.go), not as JSON; the
// JSON of Network and IP is what the API returns. An IP record sits under
// its address, and a network's IPs are the address ranges of its prefixes
// that have no children, so listing them is one ordered scan per prefix
// and freeing an IP needs no index. Lists read what they need in batches
// (backends.Prefetch), never one item at a time, so that on a networked
// store a list costs a few round trips, however long it is.
//
// # Tenant scoping
//
// A caller in the context that is scoped to projects (audit.Actor with
// Projects and not Admin) sees and changes only its projects' networks and
// IPs, plus the networks that belong to no project (super, underlay,
// external) and shared child networks, which it may use but not change.
// Another project's network or IP is not found; a change it may not make
// is ErrForbidden. Creating and deleting networks, making a network shared
// and taking an IP directly from a private super network need an admin. A
// caller without a scope is not limited: the embedder authorises itself.
// The raw transaction functions (CreateTx, AllocateIPTx, ...) apply no
// scope; they are what other packages compose after their own checks.
//
// Departures from metal-api, each a fix of a known defect: address family
// names parse case-insensitively; a super network needs a default child
// length for each of its families and none for another; shared VRFs are
// counted; update validates the new values together; child families are
// allocated IPv4 first, then IPv6; freeing a child that holds any IP fails;
// deleting a child releases its blocks; unknown IP types are rejected;
// consumption figures are capped at 2^31-1 instead of overflowing, with the
// exact figures reported beside them.
package network
