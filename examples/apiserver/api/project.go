package api

import (
	"context"
	"net/http"
	"time"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/limits"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
)

// The kind and API version of a project's meta (masterdata-api's).
const (
	projectKind       = "Project"
	projectAPIVersion = "v1"
)

// project is a project as stored and answered (masterdata-api's REST
// v1.Project, which metal-api answers as v1.ProjectResponse). A request
// has the same shape.
type project struct {
	Meta        *projectMeta `json:"meta,omitempty"`
	Name        string       `json:"name,omitempty"`
	Description string       `json:"description,omitempty"`
	TenantID    string       `json:"tenant_id,omitempty"`
	Quotas      *quotaSet    `json:"quotas,omitempty"`
}

type projectMeta struct {
	ID          string            `json:"id,omitempty"`
	Kind        string            `json:"kind,omitempty"`
	APIVersion  string            `json:"apiversion,omitempty"`
	Version     int64             `json:"version,omitempty"`
	CreatedTime *time.Time        `json:"created_time,omitempty"`
	UpdatedTime *time.Time        `json:"updated_time,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Labels      []string          `json:"labels,omitempty"`
}

type quotaSet struct {
	Cluster *quota `json:"cluster,omitempty"`
	Machine *quota `json:"machine,omitempty"`
	IP      *quota `json:"ip,omitempty"`
	Project *quota `json:"project,omitempty"`
}

type quota struct {
	Used  *int32 `json:"used,omitempty"`
	Quota *int32 `json:"quota,omitempty"`
}

// projectFindRequest is metal-api's v1.ProjectFindRequest: every given
// field must be equal.
type projectFindRequest struct {
	ID          *string `json:"id"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	TenantID    *string `json:"tenant_id"`
}

func (f *projectFindRequest) match(p *project) bool {
	return givenEq(f.ID, p.Meta.ID) && givenEq(f.Name, p.Name) && givenEq(f.Description, p.Description) && givenEq(f.TenantID, p.TenantID)
}

// storedQuotas keeps only the limits of a request's quotas (the used
// counts are computed when a project is read).
func storedQuotas(qs *quotaSet) *quotaSet {
	if qs == nil {
		return nil
	}
	keep := func(q *quota) *quota {
		if q == nil || q.Quota == nil {
			return nil
		}
		v := *q.Quota
		return &quota{Quota: &v}
	}
	out := &quotaSet{Cluster: keep(qs.Cluster), Machine: keep(qs.Machine), IP: keep(qs.IP), Project: keep(qs.Project)}
	if *out == (quotaSet{}) {
		return nil
	}
	return out
}

// validate checks every field of a project to store and returns every
// problem (with nils for the checks that pass, which joinInvalid skips).
func (p *project) validate() []error {
	errs := []error{limits.ID("meta.id", p.Meta.ID), limits.Name("name", p.Name), limits.Description("description", p.Description)}
	if p.TenantID == "" {
		errs = append(errs, invalid("tenant_id is required"))
	} else {
		errs = append(errs, limits.ID("tenant_id", p.TenantID))
	}
	if p.Meta.Kind != projectKind {
		errs = append(errs, invalid("meta.kind %s: want %q", quote(p.Meta.Kind), projectKind))
	}
	if p.Meta.APIVersion != projectAPIVersion {
		errs = append(errs, invalid("meta.apiversion %s: want %q", quote(p.Meta.APIVersion), projectAPIVersion))
	}
	errs = append(errs, limits.Labels("meta.annotations", p.Meta.Annotations), limits.Tags("meta.labels", p.Meta.Labels))
	if qs := p.Quotas; qs != nil {
		for _, q := range []struct {
			field string
			q     *quota
		}{{"quotas.cluster", qs.Cluster}, {"quotas.machine", qs.Machine}, {"quotas.ip", qs.IP}, {"quotas.project", qs.Project}} {
			if q.q != nil && q.q.Quota != nil && *q.q.Quota < 0 {
				errs = append(errs, invalid("%s.quota %d is negative", q.field, *q.q.Quota))
			}
		}
	}
	return errs
}

// fromRequest builds the project to store from a request: given kind and
// apiversion kept (validate refuses wrong ones), empty ones set.
func fromRequest(req *project, id string) *project {
	p := &project{Name: req.Name, Description: req.Description, TenantID: req.TenantID, Quotas: storedQuotas(req.Quotas)}
	p.Meta = &projectMeta{ID: id, Kind: projectKind, APIVersion: projectAPIVersion}
	if m := req.Meta; m != nil {
		if m.Kind != "" {
			p.Meta.Kind = m.Kind
		}
		if m.APIVersion != "" {
			p.Meta.APIVersion = m.APIVersion
		}
		p.Meta.Annotations = m.Annotations
		p.Meta.Labels = m.Labels
	}
	return p
}

// dropUnsetDates clears the unset dates of a request (metal-go sends
// 0001-01-01T00:00:00Z), which were not given, so that the audit trail
// records none.
func (p *project) dropUnsetDates() {
	if m := p.Meta; m != nil {
		m.CreatedTime = givenTime(m.CreatedTime)
		m.UpdatedTime = givenTime(m.UpdatedTime)
	}
}

func getProjectTx(tx backends.Tx, id string) (*project, error) { return projects.get(tx, id) }

// withUsage adds the used counts to a project's machine and IP quotas, as
// metal-api does when it answers one project: the IPs the project holds
// and the machines (firewalls included) allocated to it. One scan of the
// IPs and one of the machines.
func (c *Catalog) withUsage(ctx context.Context, tx backends.Tx, p *project) (*project, error) {
	ips, err := network.ListIPsTx(tx, network.IPFilter{ProjectID: p.Meta.ID})
	if err != nil {
		return nil, err
	}
	ms, err := c.allocatedMachines(ctx, tx, machine.Filter{ProjectID: p.Meta.ID})
	if err != nil {
		return nil, err
	}
	if p.Quotas == nil {
		p.Quotas = &quotaSet{}
	}
	if p.Quotas.Machine == nil {
		p.Quotas.Machine = &quota{}
	}
	if p.Quotas.IP == nil {
		p.Quotas.IP = &quota{}
	}
	machines, used := int32(len(ms)), int32(len(ips))
	p.Quotas.Machine.Used = &machines
	p.Quotas.IP.Used = &used
	return p, nil
}

// createProject stores a new project; without meta.id it gets a new id.
// One transaction.
func (c *Catalog) createProject(ctx context.Context, req *project) (*project, error) {
	req.dropUnsetDates()
	id := ""
	if req.Meta != nil {
		id = req.Meta.ID
	}
	if id == "" {
		id = c.ids()
	}
	p := fromRequest(req, id)
	if err := joinInvalid(p.validate()); err != nil {
		return nil, err
	}
	return projects.create(ctx, c, id, req, p, func(p *project) {
		meta := *p.Meta
		now := c.now()
		meta.CreatedTime = &now
		p.Meta = &meta
	})
}

// updateProject replaces a project's name, description, quotas,
// annotations and labels (and its tenant, when given), as masterdata-api
// does. meta.version must not be older than the stored version (else
// errStale, 412); the stored version then goes up by one. One transaction.
func (c *Catalog) updateProject(ctx context.Context, req *project) (*project, error) {
	req.dropUnsetDates()
	if req.Meta == nil || req.Meta.ID == "" {
		return nil, invalid("meta.id is required: it names the project to update")
	}
	id := req.Meta.ID
	return updateValue(ctx, c, "project.update", "project/"+id, req, func(tx backends.Tx) (*project, error) {
		old, err := getProjectTx(tx, id)
		if err != nil {
			return nil, err
		}
		if req.Meta.Version < old.Meta.Version {
			return nil, stale("project %s: meta.version %d is older than the stored version %d; read the project again",
				quote(id), req.Meta.Version, old.Meta.Version)
		}
		p := fromRequest(req, id)
		if p.TenantID == "" {
			p.TenantID = old.TenantID
		}
		if err := joinInvalid(p.validate()); err != nil {
			return nil, err
		}
		now := c.now()
		p.Meta.Version = old.Meta.Version + 1
		p.Meta.CreatedTime = old.Meta.CreatedTime
		p.Meta.UpdatedTime = &now
		return p, putJSON(tx, bucketProject, id, p)
	})
}

// deleteProject removes a project that holds no machines, networks, IPs
// and size reservations (as metal-api refuses to delete one that does).
// One transaction.
func (c *Catalog) deleteProject(ctx context.Context, id string) (*project, error) {
	return projects.delete(ctx, c, id, func(tx backends.Tx) error {
		ms, err := c.allocatedMachines(ctx, tx, machine.Filter{ProjectID: id})
		if err != nil {
			return err
		}
		if len(ms) > 0 {
			return conflict("project %s still has %d machines allocated (%s); free them first", quote(id), len(ms), idList(mapAll(ms, machineID)))
		}
		if c.machines != nil {
			rvs, err := c.machines.Bind(ctx, tx, nil).ListReservations(machine.ReservationFilter{ProjectID: id})
			if err != nil {
				return err
			}
			if len(rvs) > 0 {
				return conflict("project %s still has %d size reservations (the first is %s); delete them first", quote(id), len(rvs), quote(rvs[0].ID))
			}
		}
		nws, err := network.ListTx(tx, network.Filter{ProjectID: id})
		if err != nil {
			return err
		}
		if len(nws) > 0 {
			return conflict("project %s still has %d networks (%s); free them first", quote(id), len(nws), networkIDs(nws))
		}
		ips, err := network.ListIPsTx(tx, network.IPFilter{ProjectID: id})
		if err != nil {
			return err
		}
		if len(ips) > 0 {
			return conflict("project %s still has %d IPs (the first is %s); free them first", quote(id), len(ips), ips[0].IPAddress)
		}
		return nil
	})
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) {
	listAll(s, w, r, projects)
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, err := viewValue(r.Context(), s.cat, func(tx backends.Tx) (*project, error) {
		p, err := getProjectTx(tx, id)
		if err != nil {
			return nil, err
		}
		return s.cat.withUsage(r.Context(), tx, p)
	})
	s.reply(w, r, http.StatusOK, p, err)
}

func (s *Server) findProjects(w http.ResponseWriter, r *http.Request) {
	var f projectFindRequest
	if err := decodeFind(r, &f); err != nil {
		s.fail(w, r, err)
		return
	}
	ps, err := viewValue(r.Context(), s.cat, func(tx backends.Tx) ([]*project, error) {
		all, err := projects.list(tx)
		if err != nil {
			return nil, err
		}
		return matching(all, f.match), nil
	})
	s.reply(w, r, http.StatusOK, ps, err)
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) {
	saved(s, w, r, http.StatusCreated, s.cat.createProject)
}

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request) {
	saved(s, w, r, http.StatusOK, s.cat.updateProject)
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request) {
	p, err := s.cat.deleteProject(r.Context(), r.PathValue("id"))
	s.reply(w, r, http.StatusOK, p, err)
}
