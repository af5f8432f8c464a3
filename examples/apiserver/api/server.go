// Package api serves metal-api v0.40.3's v1 REST API over a metalkit Kit,
// so that metal-stack's own clients (metalctl, the metal-go Go client) talk
// to a program that embeds metalkit.
//
// New returns a Server, an http.Handler; serve it with net/http (or
// httptest in a test). The server's Catalog should also be the kit's
// catalog, so that networks, IPs and switches refer to partitions and
// projects that exist:
//
//	store := memstore.New()
//	cat := api.NewCatalog(store, nil)
//	kit, _ := metalkit.Open(store, &metalkit.Options{Catalog: cat})
//	srv, err := api.New(kit, &api.Options{Keys: api.Keys{Admin: "secret"}, Catalog: cat})
//	...
//	http.ListenAndServe("127.0.0.1:8080", srv)
//
// Requests are authenticated as metal-api authenticates its HMAC users
// (see Keys and Role); every route but /v1/health, /v1/version and
// /metrics needs a signature, and the signing user is the audit actor of
// everything the request changes. Errors are answered as metal-api
// answers them, so metal-go's client sees their status and message. The
// server keeps partitions, projects, images and filesystem layouts itself
// (see Catalog), in buckets of its own in the kit's store; networks, IPs,
// switches, sizes, size reservations, machines, firewalls and the audit
// trail are the library's.
//
// Find requests (POST .../find) apply every filter the library supports
// and refuse, with 400 and the filter's name, any other filter they are
// given, rather than ignoring it.
//
// Machines register and report their events through the boot and event
// services, not through this API. The server sends no commands to
// machines: power commands answer 501 in metal-api's error format, and the
// LED routes store the LED state only. GET /v1/admin/check and POST
// /v1/admin/check?repair=true, the server's own routes, run the library's
// consistency check (see Kit.Check).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/machine"
)

// DefaultMaxBody is the largest request body, in bytes, when
// Options.MaxBody is 0.
const DefaultMaxBody = 4 << 20

// Options configure a Server. Keys needs at least one key; the zero value
// of every other field is its default.
type Options struct {
	// Keys are the HMAC keys of the roles.
	Keys Keys
	// Lifetime is how far a request's X-Date may lie from the server's
	// clock; 0 means DefaultLifetime, negative is an error.
	Lifetime time.Duration
	// ProviderTenant is the tenant of the HMAC users (metal-api's
	// -provider-tenant).
	ProviderTenant string
	// Catalog keeps partitions, projects, images and filesystem layouts; it
	// must be over the kit's store. Nil means a new one (see
	// Server.Catalog). Give the same catalog to metalkit.Open as
	// metalkit.Options.Catalog, so that the library checks the partitions
	// and projects of networks, IPs and switches against it:
	//
	//	cat := api.NewCatalog(store, nil)
	//	kit, _ := metalkit.Open(store, &metalkit.Options{Catalog: cat})
	//	srv, _ := api.New(kit, &api.Options{Keys: keys, Catalog: cat})
	Catalog *Catalog
	// Logger receives a line per request and the failures; default
	// slog.Default().
	Logger *slog.Logger
	// Registry receives the server's metrics and is what /metrics serves;
	// nil means a new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// MaxBody is the largest request body in bytes; 0 means
	// DefaultMaxBody, negative is an error.
	MaxBody int64
	// CheckURL, when set, checks the boot and image URLs of a request
	// after their syntax (metal-api sends them a HEAD request); an error
	// refuses the request with 400. Nil checks the syntax only.
	CheckURL func(ctx context.Context, field, url string) error
	// Version is what /v1/version answers; empty fields get defaults (the
	// name "metalkit-apiserver", the program's module version, the minimum
	// client version v0.0.0).
	Version Version
	// Clock is the time of signatures' checks and of created and changed
	// times; default time.Now.
	Clock func() time.Time
}

// Version is the answer of /v1/version (metal-lib's rest.version).
type Version struct {
	// Name names the program.
	Name string `json:"name"`
	// Version is the program's version.
	Version string `json:"version"`
	// BuildDate is when the program was built.
	BuildDate string `json:"builddate"`
	// Revision is the source revision.
	Revision string `json:"revision"`
	// GitSHA1 is the short commit hash.
	GitSHA1 string `json:"gitsha1"`
	// MinClientVersion is the oldest client version the server accepts
	// (metalctl compares its own version with it).
	MinClientVersion string `json:"min_client_version"`
	// ReleaseVersion is the release of the whole stack; empty is omitted.
	ReleaseVersion string `json:"release_version,omitempty"`
}

// Route is one route of the server.
type Route struct {
	// Pattern is the http.ServeMux pattern, e.g. "GET /v1/partition/{id}".
	Pattern string
	// Role is the weakest role that may call it; 0 means no signature is
	// needed.
	Role Role
}

// Server serves the API. It is an http.Handler, safe for concurrent use.
type Server struct {
	kit      *metalkit.Kit
	cat      *Catalog
	auth     *authenticator
	log      *slog.Logger
	metrics  *Metrics
	mux      *http.ServeMux
	routes   []Route
	maxBody  int64
	checkURL urlCheck
	version  Version
}

// New returns a Server over kit. It fails when no key is given, for a
// negative Lifetime or MaxBody, for a Catalog over another store, and when
// the metrics cannot be registered in Options.Registry.
func New(kit *metalkit.Kit, opts *Options) (*Server, error) {
	if kit == nil {
		return nil, errors.New("api: New: kit is nil")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Keys == (Keys{}) {
		return nil, errors.New("api: New: Options.Keys has no key; give at least the admin key")
	}
	if o.Lifetime < 0 {
		return nil, fmt.Errorf("api: New: Options.Lifetime %s is negative", o.Lifetime)
	}
	if o.MaxBody < 0 {
		return nil, fmt.Errorf("api: New: Options.MaxBody %d is negative", o.MaxBody)
	}
	if o.Lifetime == 0 {
		o.Lifetime = DefaultLifetime
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Catalog == nil {
		o.Catalog = NewCatalog(kit.Store, &CatalogOptions{Clock: o.Clock})
	} else if o.Catalog.store != kit.Store {
		return nil, errors.New("api: New: Options.Catalog is over another store than the kit's")
	}
	o.Catalog.update = trailUpdater(kit.Trail, kit.Store)
	o.Catalog.machines = kit.Machines
	metrics, err := newMetrics(o.Registry)
	if err != nil {
		return nil, fmt.Errorf("api: New: %w", err)
	}
	s := &Server{
		kit:      kit,
		cat:      o.Catalog,
		auth:     newAuthenticator(o.Keys, o.ProviderTenant, o.Lifetime, o.Clock),
		log:      o.Logger,
		metrics:  metrics,
		mux:      http.NewServeMux(),
		maxBody:  o.MaxBody,
		checkURL: o.CheckURL,
		version:  defaultVersion(o.Version),
	}
	s.routeAll()
	return s, nil
}

// Catalog returns the server's catalog.
func (s *Server) Catalog() *Catalog { return s.cat }

// Metrics returns the server's metrics, for the counters the embedder
// updates (see Metrics.Allocation).
func (s *Server) Metrics() *Metrics { return s.metrics }

// Routes returns every route with the role it needs, in the order they
// were registered.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// routeAll registers every route: open ones as they are, the others behind
// authentication and then the audit middleware.
func (s *Server) routeAll() {
	audited := s.auditor()
	for _, rt := range []struct {
		pattern string
		role    Role
		h       http.HandlerFunc
	}{
		{"GET /v1/health", 0, s.health},
		{"GET /v1/version", 0, s.versionInfo},
		{"GET /v1/user/me", RoleView, s.me},

		{"GET /v1/partition", RoleView, s.listPartitions},
		{"GET /v1/partition/{id}", RoleView, s.getPartition},
		{"PUT /v1/partition", RoleAdmin, s.createPartition},
		{"POST /v1/partition", RoleAdmin, s.updatePartition},
		{"DELETE /v1/partition/{id}", RoleAdmin, s.deletePartition},

		{"GET /v1/project", RoleView, s.listProjects},
		{"GET /v1/project/{id}", RoleView, s.getProject},
		{"POST /v1/project/find", RoleView, s.findProjects},
		{"PUT /v1/project", RoleAdmin, s.createProject},
		{"POST /v1/project", RoleAdmin, s.updateProject},
		{"DELETE /v1/project/{id}", RoleAdmin, s.deleteProject},

		{"GET /v1/image", RoleView, s.listImages},
		{"GET /v1/image/{id}", RoleView, s.getImage},
		{"GET /v1/image/{id}/latest", RoleView, s.latestImage},
		{"GET /v1/image/{id}/query", RoleView, s.queryImages},
		{"POST /v1/image/find", RoleView, s.findImages},
		{"PUT /v1/image", RoleAdmin, s.createImage},
		{"POST /v1/image", RoleAdmin, s.updateImage},
		{"DELETE /v1/image/{id}", RoleAdmin, s.deleteImage},

		{"GET /v1/filesystemlayout", RoleView, s.listFilesystemLayouts},

		{"GET /v1/network", RoleView, s.listNetworks},
		{"GET /v1/network/{id}", RoleView, s.getNetwork},
		{"POST /v1/network/find", RoleView, s.findNetworks},
		{"PUT /v1/network", RoleAdmin, s.createNetwork},
		{"POST /v1/network", RoleAdmin, s.updateNetwork},
		{"DELETE /v1/network/{id}", RoleAdmin, s.deleteNetwork},
		{"POST /v1/network/allocate", RoleEdit, s.allocateNetwork},
		{"DELETE /v1/network/free/{id}", RoleEdit, s.freeNetwork},
		{"POST /v1/network/free/{id}", RoleEdit, s.freeNetwork}, // metal-api's deprecated form

		{"GET /v1/ip", RoleView, s.listIPs},
		{"GET /v1/ip/{id}", RoleView, s.getIP},
		{"POST /v1/ip/find", RoleView, s.findIPs},
		{"POST /v1/ip/allocate", RoleEdit, s.allocateIP},
		{"POST /v1/ip/allocate/{ip}", RoleEdit, s.allocateIP},
		{"POST /v1/ip", RoleEdit, s.updateIP},
		{"DELETE /v1/ip/free/{id}", RoleEdit, s.freeIP},

		// As in metal-api: the switch agent (metal-core) registers, reports
		// and deletes with the edit role; port toggles, migrations and
		// updates need an admin.
		{"GET /v1/switch", RoleView, s.listSwitches},
		{"GET /v1/switch/{id}", RoleView, s.getSwitch},
		{"POST /v1/switch/find", RoleView, s.findSwitches},
		{"POST /v1/switch/register", RoleEdit, s.registerSwitch},
		{"POST /v1/switch/{id}/notify", RoleEdit, s.notifySwitch},
		{"DELETE /v1/switch/{id}", RoleEdit, s.deleteSwitch},
		{"POST /v1/switch", RoleAdmin, s.updateSwitch},
		{"POST /v1/switch/{id}/port", RoleAdmin, s.toggleSwitchPort},
		{"POST /v1/switch/migrate", RoleAdmin, s.migrateSwitch},

		{"POST /v1/audit/find", RoleView, s.findAudit},

		{"GET /v1/size", RoleView, s.listSizes},
		{"GET /v1/size/{id}", RoleView, s.getSize},
		{"PUT /v1/size", RoleAdmin, s.createSize},
		{"POST /v1/size", RoleAdmin, s.updateSize},
		{"DELETE /v1/size/{id}", RoleAdmin, s.deleteSize},
		{"POST /v1/size/suggest", RoleView, s.suggestSize},
		// As in metal-api: size reservations are changed with the edit
		// role.
		{"GET /v1/size/reservations", RoleView, s.listSizeReservations},
		{"GET /v1/size/reservations/{id}", RoleView, s.getSizeReservation},
		{"POST /v1/size/reservations/find", RoleView, s.findSizeReservations},
		{"POST /v1/size/reservations/usage", RoleView, s.sizeReservationsUsage},
		{"PUT /v1/size/reservations", RoleEdit, s.createSizeReservation},
		{"POST /v1/size/reservations", RoleEdit, s.updateSizeReservation},
		{"DELETE /v1/size/reservations/{id}", RoleEdit, s.deleteSizeReservation},

		{"POST /v1/partition/capacity", RoleView, s.partitionCapacity},

		{"GET /v1/machine", RoleView, s.listMachines},
		{"GET /v1/machine/{id}", RoleView, s.getMachine},
		{"POST /v1/machine/find", RoleView, s.findMachines},
		{"GET /v1/machine/{id}/ipmi", RoleView, s.getIPMIMachine},
		{"POST /v1/machine/ipmi/find", RoleView, s.findIPMIMachines},
		{"GET /v1/machine/issues", RoleView, s.listIssues},
		{"POST /v1/machine/issues/evaluate", RoleView, s.evaluateIssues},
		{"POST /v1/machine/allocate", RoleEdit, s.allocateMachine},
		{"DELETE /v1/machine/{id}/free", RoleEdit, s.freeMachine},
		{"POST /v1/machine/{id}/state", RoleEdit, s.setMachineState},
		{"POST /v1/machine/{id}/reinstall", RoleEdit, s.reinstallMachine},
		{"GET /v1/machine/consolepassword", RoleEdit, s.getConsolePassword},
		{"POST /v1/machine/{id}/power/chassis-identify-led-on", RoleEdit, s.setLED(machine.LEDOn)},
		{"POST /v1/machine/{id}/power/chassis-identify-led-off", RoleEdit, s.setLED(machine.LEDOff)},
		{"POST /v1/machine/{id}/power/on", RoleEdit, s.notSupported("power on")},
		{"POST /v1/machine/{id}/power/off", RoleEdit, s.notSupported("power off")},
		{"POST /v1/machine/{id}/power/reset", RoleEdit, s.notSupported("reset")},
		{"POST /v1/machine/{id}/power/cycle", RoleEdit, s.notSupported("power cycle")},
		{"POST /v1/machine/{id}/power/bios", RoleEdit, s.notSupported("booting into the BIOS")},
		{"POST /v1/machine/{id}/power/disk", RoleEdit, s.notSupported("booting from disk")},
		{"POST /v1/machine/{id}/power/pxe", RoleEdit, s.notSupported("booting from PXE")},
		{"POST /v1/machine", RoleAdmin, s.updateMachine},
		{"DELETE /v1/machine/{id}", RoleAdmin, s.deleteMachine},

		{"GET /v1/firewall", RoleView, s.listFirewalls},
		{"GET /v1/firewall/{id}", RoleView, s.getFirewall},
		{"POST /v1/firewall/find", RoleView, s.findFirewalls},
		{"POST /v1/firewall/allocate", RoleEdit, s.allocateFirewall},

		// The server's own: the library's consistency check.
		{"GET /v1/admin/check", RoleAdmin, s.checkStore},
		{"POST /v1/admin/check", RoleAdmin, s.checkStore},

		{"GET /metrics", 0, s.metrics.handler.ServeHTTP},
	} {
		var h http.Handler = rt.h
		if rt.role != 0 {
			h = s.authorize(rt.role, rt.pattern, audited(h))
		}
		s.mux.Handle(rt.pattern, h)
		s.routes = append(s.routes, Route{Pattern: rt.pattern, Role: rt.role})
	}
}

// ServeHTTP serves one request: it limits the body, routes it (a request
// no route takes gets a JSON 404 or 405), recovers a panicking handler
// with a 500, and counts and logs the request by its route pattern.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(sw, r.Body, s.maxBody)
	}
	defer func() {
		v := recover()
		if v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if sw.status == 0 {
				writeErrorStatus(sw, http.StatusInternalServerError, "internal error")
			}
		}
		s.done(sw, r, start)
	}()
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.noRoute(sw, r)
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// done counts and logs a served request.
func (s *Server) done(sw *statusWriter, r *http.Request, start time.Time) {
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	took := time.Since(start)
	s.metrics.observe(r.Method, route, status, took)
	level := slog.LevelInfo
	if route == "GET /v1/health" || route == "GET /metrics" {
		level = slog.LevelDebug
	}
	s.log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path, "route", route,
		"status", status, "duration", took, "user", sw.user, "rqid", sw.Header().Get("X-Request-Id"), "remote", r.RemoteAddr)
}

// noRoute answers a request that no route takes with the status the mux
// would give (404, or 405 with the Allow header) and a JSON error body.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	probe := &probeWriter{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		allow := probe.header.Get("Allow")
		w.Header().Set("Allow", allow)
		writeErrorStatus(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
		return
	}
	writeErrorStatus(w, http.StatusNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
}

// reply answers v with status, or err with its status when err is set.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

// statusWriter remembers the status written and the authenticated user,
// for the request's log line.
type statusWriter struct {
	http.ResponseWriter
	status int
	user   string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// probeWriter records what a handler would answer and discards the body.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header { return p.header }
func (p *probeWriter) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
func (p *probeWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

// defaultVersion fills v's empty fields.
func defaultVersion(v Version) Version {
	if v.Name == "" {
		v.Name = "metalkit-apiserver"
	}
	if v.MinClientVersion == "" {
		v.MinClientVersion = "v0.0.0"
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" {
			v.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && v.Revision == "":
				v.Revision = s.Value
				if v.GitSHA1 == "" {
					v.GitSHA1 = s.Value[:min(8, len(s.Value))]
				}
			case s.Key == "vcs.time" && v.BuildDate == "":
				v.BuildDate = s.Value
			}
		}
	}
	if v.Version == "" || strings.Contains(v.Version, "devel") {
		v.Version = "devel"
	}
	return v
}
