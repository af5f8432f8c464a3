package api

import (
	"net/http"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/machine"
)

// Firewalls are machines allocated with role firewall; their routes answer
// the machine response, as metal-api's v1.FirewallResponse has its shape.

func (s *Server) listFirewalls(w http.ResponseWriter, r *http.Request) {
	s.answerMachines(w, r, machine.Filter{Role: machine.RoleFirewall}, false)
}

// findFirewalls applies the machine filters; the role is always firewall
// (as in metal-api, a given allocation_role is overridden).
func (s *Server) findFirewalls(w http.ResponseWriter, r *http.Request) {
	f, err := findAs(r, func(req *machineFindRequest) (machine.Filter, error) {
		req.AllocationRole = nil
		return req.filter()
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.Role = machine.RoleFirewall
	s.answerMachines(w, r, f, false)
}

// getFirewall answers a firewall; a machine that is no firewall is not
// found.
func (s *Server) getFirewall(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	out, err := kitView(r.Context(), s.kit, func(tx *metalkit.Tx) (*machineResponse, error) {
		m, err := tx.Machines.Get(id)
		if err != nil {
			return nil, err
		}
		if !m.IsFirewall() {
			return nil, notFound("machine %s is not a firewall", quote(id))
		}
		return newRefs(tx).machine(m)
	})
	s.reply(w, r, http.StatusOK, out, err)
}
