package network

import (
	"context"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/errdefs"
)

// Tenant scoping. When the caller in the context is scoped to projects
// (audit.Actor.Scoped: it names projects and is no admin), the service's
// operations are limited to them:
//
//   - a network is visible when it belongs to one of the projects, when it
//     belongs to no project (the partitions' super, underlay and external
//     networks), or when it is a shared child network; another project's
//     network is not found;
//   - an IP is visible when it belongs to one of the projects;
//   - changes (update, free, IP allocation and IP changes) need a visible
//     entity of one of the projects, else ErrForbidden (or ErrNotFound for
//     an invisible one); allocations need one of the projects as owner;
//   - creating and deleting networks, updating a network that is not a
//     child of one of the projects, making a network shared (on update or
//     allocation) and taking an IP directly from a private super network
//     need an admin (ErrForbidden).
//
// A context without a scoped actor (an embedder doing its own
// authorisation, or an admin) is not limited.
type scope struct{ audit.Scope }

func scopeOf(ctx context.Context) scope { return scope{audit.ScopeOf(ctx)} }

func (s scope) owns(project string) bool { return s.Owns(project) }

func (s scope) seesNetwork(n *Network) bool {
	return !s.Scoped || n.ProjectID == "" || s.owns(n.ProjectID) || (n.Shared && n.ParentNetworkID != "")
}

func (s scope) seesIP(ip *IP) bool { return !s.Scoped || s.owns(ip.ProjectID) }

func forbidden(format string, args ...any) error {
	return errdefs.Errorf(ErrForbidden, "network: "+format, args...)
}

// adminOnly refuses a scoped caller an admin's operation.
func (s scope) adminOnly(op string) error { return wrapForbidden(s.AdminOnly(op)) }

func (s scope) project(field, project string) error {
	return wrapForbidden(s.ForProject(field, project))
}

func wrapForbidden(err error) error {
	if err == nil {
		return nil
	}
	return errdefs.Errorf(ErrForbidden, "network: %w", err)
}

func (s scope) notFoundNetwork(id string) error {
	return errdefs.Errorf(ErrNotFound, "network: network %s does not exist", errdefs.Quote(id))
}

// network returns the stored network id when the caller sees it.
func (t *Tx) visibleNetwork(id string) (*Network, error) {
	n, err := GetTx(t.tx, id)
	if err != nil {
		return nil, err
	}
	if !t.scope.seesNetwork(n) {
		return nil, t.scope.notFoundNetwork(id)
	}
	return n, nil
}

// ownNetwork returns network id when the caller may change it: visible
// and of one of its projects.
func (t *Tx) ownNetwork(id, op string) (*Network, error) {
	n, err := t.visibleNetwork(id)
	if err != nil {
		return nil, err
	}
	if t.scope.Scoped && (n.ProjectID == "" || !t.scope.owns(n.ProjectID)) {
		return nil, forbidden("%s network %s: it belongs to project %s, not to a project of user %s", op, errdefs.Quote(id), errdefs.Quote(n.ProjectID), errdefs.Quote(t.scope.Actor.User))
	}
	return n, nil
}
