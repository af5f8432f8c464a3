package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/metalkit/metalkit/backends"
)

// healthTimeout bounds the store check of /v1/health.
const healthTimeout = 3 * time.Second

// The health states (metal-lib's healthstatus).
const (
	healthy   = "healthy"
	unhealthy = "unhealthy"
)

// healthResponse is metal-lib's rest.HealthResponse.
type healthResponse struct {
	Status   string                    `json:"status"`
	Message  string                    `json:"message"`
	Services map[string]healthResponse `json:"services,omitempty"`
}

// health answers 200 when the store answers a read in time, else 500 with
// the same body shape (as metal-api's declared "Unhealthy" response). The
// query parameter service narrows the answer to one service.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	store := healthResponse{Status: healthy, Message: "the store answers"}
	err := s.kit.Store.View(ctx, func(tx backends.Tx) error {
		_, err := tx.Get(bucketPartition, []byte("health"))
		if errors.Is(err, backends.ErrNotFound) {
			return nil
		}
		return err
	})
	resp := healthResponse{Status: healthy, Message: "all services are healthy"}
	code := http.StatusOK
	if err != nil {
		store = healthResponse{Status: unhealthy, Message: err.Error()}
		resp = healthResponse{Status: unhealthy, Message: "the store does not answer: " + err.Error()}
		code = http.StatusInternalServerError
		s.log.Error("unhealthy", "error", err)
	}
	resp.Services = map[string]healthResponse{"store": store}
	if svc := r.URL.Query().Get("service"); svc != "" {
		one := resp.Services[svc]
		resp = healthResponse{Status: one.Status, Message: one.Message, Services: map[string]healthResponse{svc: one}}
	}
	writeJSON(w, code, resp)
}

// versionInfo answers Options.Version.
func (s *Server) versionInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.version)
}

// userResponse is metal-api's v1.User, with its capitalised names.
type userResponse struct {
	EMail   string
	Name    string
	Groups  []string
	Tenant  string
	Issuer  string
	Subject string
}

// me answers the user whose key signed the request.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	u := UserFrom(r.Context())
	writeJSON(w, http.StatusOK, userResponse{EMail: u.EMail, Name: u.Name, Groups: u.Groups, Tenant: u.Tenant})
}
