package api

import (
	"net/http"

	"github.com/metalkit/metalkit/check"
)

// The server's own admin routes; metal-api has none of them.
//
//	GET  /v1/admin/check               the consistency check of the whole store, a dry run
//	POST /v1/admin/check?repair=true   the same, repairing what can be repaired
//
// Both answer the check.Report as JSON: findings (invariant, message, keys,
// repairable), repaired and dry_run. A POST without repair=true is a dry
// run too. A check reads the store in transactions of bounded size, so it
// can run while the server serves; the repairs commit in one transaction.

// checkStore answers the kit's consistency check; GET never repairs.
func (s *Server) checkStore(w http.ResponseWriter, r *http.Request) {
	repair, err := boolQuery(r, "repair")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if repair && r.Method != http.MethodPost {
		s.fail(w, r, invalid("repair=true needs POST /v1/admin/check; GET only reports"))
		return
	}
	rep, err := s.kit.Check(r.Context(), &check.Options{Repair: repair})
	s.reply(w, r, http.StatusOK, rep, err)
}
