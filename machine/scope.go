package machine

import (
	"context"

	"github.com/metalkit/metalkit/audit"
)

// Tenant scoping. When the caller in the context is scoped to projects
// (audit.Actor.Scoped: it names projects and is no admin):
//
//   - a machine or firewall allocated to another project is not found
//     (get, list, events, free, update, reinstall, allocation by id); free
//     machines and sizes are visible;
//   - a size reservation of another project is not found;
//   - an allocation must be for one of the caller's projects, and free,
//     update and reinstall need a machine allocated to one of them
//     (ErrForbidden otherwise);
//   - the operations of admins and agents need an admin (ErrForbidden):
//     registration, events, waiting, install reports, state, LED, IPMI,
//     delete, sizes, size reservations, liveliness and resurrection.
//
// A context without a scoped actor is not limited.
type scope struct{ audit.Scope }

func scopeOf(ctx context.Context) scope { return scope{audit.ScopeOf(ctx)} }

func (s scope) owns(project string) bool { return s.Owns(project) }

// sees reports whether the caller may see machine m.
func (s scope) sees(m *Machine) bool {
	return !s.Scoped || m.Allocation == nil || s.owns(m.Allocation.Project)
}

func (s scope) adminOnly(op string) error { return wrapForbidden(s.AdminOnly(op)) }

func (s scope) project(project string) error {
	return wrapForbidden(s.ForProject("projectid", project))
}

func wrapForbidden(err error) error {
	if err == nil {
		return nil
	}
	return fmtErr(ErrForbidden, "%w", err)
}

// visible loads machine id when the caller may see it; another project's
// machine is ErrNotFound.
func (t *Tx) visible(id string) (*entry, error) {
	e, err := loadMachine(t.tx, id)
	if err != nil {
		return nil, err
	}
	if !t.scope.sees(e.m) {
		return nil, notFound("machine %s does not exist", q(id))
	}
	return e, nil
}

// owned loads machine id for a change of its owner: visible and, for a
// scoped caller, allocated to one of its projects.
func (t *Tx) owned(id, op string) (*entry, error) {
	e, err := t.visible(id)
	if err != nil {
		return nil, err
	}
	if t.scope.Scoped && e.m.Allocation == nil {
		return nil, fmtErr(ErrForbidden, "%s machine %s: it is not allocated to a project of user %s", op, q(id), q(t.scope.Actor.User))
	}
	return e, nil
}
