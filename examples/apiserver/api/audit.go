package api

// Every use of package audit in the server is in this file.

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"time"

	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// auditExclude lists the requests metal-api does not audit although their
// method would be: searches sent as POST and the switches' periodic
// reports.
var auditExclude = []string{
	"POST /v1/audit/find",
	"POST /v1/firewall/find",
	"POST /v1/image/find",
	"POST /v1/ip/find",
	"POST /v1/machine/find",
	"POST /v1/machine/ipmi/find",
	"POST /v1/network/find",
	"POST /v1/partition/capacity",
	"POST /v1/project/find",
	"POST /v1/size/reservations/find",
	"POST /v1/size/reservations/usage",
	"POST /v1/size/suggest",
	"POST /v1/switch/find",
	"POST /v1/switch/{id}/notify",
}

// actorOf is the audit actor of an authenticated user: its e-mail address
// as metal-api records it, its tenant, and admin for the admin role.
func actorOf(u *User) audit.Actor {
	if u == nil {
		return audit.Actor{}
	}
	return audit.Actor{User: u.EMail, Tenant: u.Tenant, Admin: u.Role == RoleAdmin}
}

// callerOf is the user of the audit actor in ctx, "" without one: the
// creator of an allocation, for messages and logs.
func callerOf(ctx context.Context) string {
	a, _ := audit.FromContext(ctx)
	return a.User
}

// auditor returns the middleware of an authenticated route. It puts the
// authenticated user as the actor into the request's context
// (audit.NewContext), so that every library call of the handler knows
// its caller, and it records the route's requests in the kit's trail,
// where the middleware adds the request id to the actor, so that the
// library's event entries share it. Without a trail it only sets the
// actor. It runs after authentication, so rejected requests are not
// recorded.
func (s *Server) auditor() func(http.Handler) http.Handler {
	withActor := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(audit.NewContext(r.Context(), actorOf(UserFrom(r.Context())))))
		})
	}
	if s.kit.Trail == nil {
		return withActor
	}
	mw := audit.Middleware(s.kit.Trail, &audit.MiddlewareOptions{
		Exclude: auditExclude,
		Logger:  s.log,
	})
	return func(next http.Handler) http.Handler {
		audited := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if g, ok := r.Context().Value(guardKey{}).(*trailGuard); ok {
				g.reached = true
			}
			next.ServeHTTP(w, r)
		}))
		return withActor(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g := &trailGuard{ResponseWriter: w}
			audited.ServeHTTP(g, r.WithContext(context.WithValue(r.Context(), guardKey{}, g)))
			if !g.reached && g.status != 0 {
				// The middleware refused the request itself: the trail could
				// not record it. Answer in metal-api's error format.
				writeErrorStatus(w, g.status, "the audit trail cannot record the request, so it was not run; try again later")
			}
		}))
	}
}

type guardKey struct{}

// trailGuard passes a response on once the audit middleware has let the
// request through to the handler, and holds back what the middleware
// writes itself (its own 503 body when the trail fails), so that the
// client gets the error in metal-api's format.
type trailGuard struct {
	http.ResponseWriter
	reached bool
	status  int
}

func (g *trailGuard) WriteHeader(code int) {
	if g.reached {
		g.ResponseWriter.WriteHeader(code)
		return
	}
	g.status = code
}

func (g *trailGuard) Write(p []byte) (int, error) {
	if g.reached {
		return g.ResponseWriter.Write(p)
	}
	if g.status == 0 {
		g.status = http.StatusServiceUnavailable
	}
	return len(p), nil
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (g *trailGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// trailUpdater returns the catalog's way to commit a change: one
// transaction of store that also records the change as an event entry in
// trail (when the trail shares the store, in the same transaction). With a
// nil trail it only runs the transaction.
func trailUpdater(trail *audit.Trail, store backends.Store) updater {
	return func(ctx context.Context, detail, path string, body any, fn func(tx backends.Tx) error) error {
		return audit.Update(ctx, trail, store, func(tx backends.Tx, rec *audit.Recorder) error {
			if err := fn(tx); err != nil {
				return err
			}
			return rec.Record(detail, path, body)
		})
	}
}

// AuditNextHeader is the response header of POST /v1/audit/find that
// carries the continuation token when the limit cut the answer: send it
// back as the request's "after" member (an addition to metal-api's
// v1.AuditFindRequest) for the entries that follow, with no gap and no
// repeat.
const AuditNextHeader = "X-Audit-Next"

// auditFindRequest is metal-api's v1.AuditFindRequest and after. Every
// member the library can match is supported; null, absent, empty and
// unset dates (0001-01-01T00:00:00Z) are not given. A given status_code
// is matched exactly, 0 finding entries without one.
type auditFindRequest struct {
	Limit        *int64     `json:"limit"`
	From         *time.Time `json:"from"`
	To           *time.Time `json:"to"`
	Component    *string    `json:"component"`
	RequestID    *string    `json:"rqid"`
	Type         *string    `json:"type"`
	User         *string    `json:"user"`
	Tenant       *string    `json:"tenant"`
	Project      *string    `json:"project"`
	Detail       *string    `json:"detail"`
	Phase        *string    `json:"phase"`
	Path         *string    `json:"path"`
	ForwardedFor *string    `json:"forwarded_for"`
	RemoteAddr   *string    `json:"remote_addr"`
	Body         *string    `json:"body"`
	StatusCode   *int       `json:"status_code"`
	Error        *string    `json:"error"`
	After        *string    `json:"after"`
}

func (req *auditFindRequest) filter() (audit.Filter, error) {
	f := audit.Filter{
		Component:    deref(req.Component),
		RequestID:    deref(req.RequestID),
		Type:         audit.Type(deref(req.Type)),
		User:         deref(req.User),
		Tenant:       deref(req.Tenant),
		Project:      deref(req.Project),
		Detail:       deref(req.Detail),
		Phase:        audit.Phase(deref(req.Phase)),
		Path:         deref(req.Path),
		ForwardedFor: deref(req.ForwardedFor),
		RemoteAddr:   deref(req.RemoteAddr),
		Body:         deref(req.Body),
		StatusCode:   req.StatusCode,
		Error:        deref(req.Error),
		After:        deref(req.After),
	}
	if req.Limit != nil {
		if *req.Limit > math.MaxInt32 {
			return f, invalid("limit %d: at most %d", *req.Limit, math.MaxInt32)
		}
		f.Limit = int(*req.Limit)
	}
	if t := givenTime(req.From); t != nil {
		f.From = *t
	}
	if t := givenTime(req.To); t != nil {
		f.To = *t
	}
	return f, nil
}

// auditResponse is metal-api's v1.AuditResponse: the body as text (a
// JSON body as its JSON).
type auditResponse struct {
	Component    string    `json:"component"`
	RequestID    string    `json:"rqid"`
	Type         string    `json:"type"`
	Timestamp    time.Time `json:"timestamp"`
	User         string    `json:"user"`
	Tenant       string    `json:"tenant"`
	Detail       string    `json:"detail"`
	Phase        string    `json:"phase"`
	Path         string    `json:"path"`
	ForwardedFor string    `json:"forwarded_for"`
	RemoteAddr   string    `json:"remote_addr"`
	Body         string    `json:"body"`
	StatusCode   int       `json:"status_code"`
	Error        string    `json:"error"`
}

func newAuditResponse(e *audit.Entry) *auditResponse {
	body := string(e.Body)
	if len(e.Body) > 0 && e.Body[0] == '"' {
		var s string
		if json.Unmarshal(e.Body, &s) == nil {
			body = s
		}
	}
	return &auditResponse{
		Component: e.Component, RequestID: e.RequestID, Type: string(e.Type), Timestamp: e.Timestamp,
		User: e.User, Tenant: e.Tenant, Detail: e.Detail, Phase: string(e.Phase), Path: e.Path,
		ForwardedFor: e.ForwardedFor, RemoteAddr: e.RemoteAddr, Body: body, StatusCode: e.StatusCode, Error: e.Error,
	}
}

// findAudit searches the kit's trail: newest first, at most limit (default
// audit.DefaultLimit) entries, the continuation token in AuditNextHeader.
func (s *Server) findAudit(w http.ResponseWriter, r *http.Request) {
	var req auditFindRequest
	if err := decodeFind(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.kit.Trail == nil {
		s.fail(w, r, errdefs.Errorf(errdefs.ErrUnavailable, "this server keeps no audit trail"))
		return
	}
	f, err := req.filter()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.kit.Trail.Search(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := mapAll(res.Entries, func(e audit.Entry) *auditResponse { return newAuditResponse(&e) })
	if res.Next != "" {
		w.Header().Set(AuditNextHeader, res.Next)
	}
	writeJSON(w, http.StatusOK, out)
}
