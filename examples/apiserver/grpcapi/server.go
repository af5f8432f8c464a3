package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	v1 "github.com/metal-stack/metal-api/pkg/api/v1"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/examples/apiserver/api"
)

// DefaultWaitKeepalive is how often a Wait stream sends an empty message
// while the machine waits, when Options.WaitKeepalive is 0 (metal-api's
// response interval).
const DefaultWaitKeepalive = 5 * time.Second

// DefaultUser is the audit trail's user of a call that carries no verified
// client certificate, when Options.User is empty.
const DefaultUser = "metal-hammer"

// Options configure a Server. The zero value of every field is its
// default.
type Options struct {
	// Logger receives a line per call and the failures; default
	// slog.Default().
	Logger *slog.Logger
	// Registry receives the gRPC metrics (see NewGRPCServer); nil
	// registers none.
	Registry prometheus.Registerer
	// SuperUserPassword is the BMC superuser password that metal-hammer
	// sets on every machine's BMC (metal-api's bmc-superuser-pwd-file);
	// empty answers that the feature is disabled.
	SuperUserPassword string
	// WaitKeepalive is how often a Wait stream sends an empty message while
	// the machine waits; 0 means DefaultWaitKeepalive, negative is an error.
	WaitKeepalive time.Duration
	// User is the audit trail's user of calls without a verified client
	// certificate; empty means DefaultUser.
	User string
	// Clock gives the IPMI data's last_updated time of a registration;
	// default time.Now in UTC.
	Clock func() time.Time
}

// Server implements metal-api's BootService and EventService over a Kit.
// It is safe for concurrent use.
type Server struct {
	kit       *metalkit.Kit
	cat       *api.Catalog
	log       *slog.Logger
	password  string
	keepalive time.Duration
	user      string
	clock     func() time.Time
	metrics   *metrics

	// draining is cancelled by Drain; every Wait stream ends with it.
	draining context.Context
	drain    context.CancelFunc
}

// New returns a Server over kit whose Boot answers come from catalog,
// which must be over the kit's store. It fails for a nil kit or catalog,
// a negative Options.WaitKeepalive, and when the metrics cannot be
// registered in Options.Registry.
func New(kit *metalkit.Kit, catalog *api.Catalog, opts *Options) (*Server, error) {
	if kit == nil {
		return nil, errors.New("grpcapi: New: kit is nil")
	}
	if catalog == nil {
		return nil, errors.New("grpcapi: New: catalog is nil; give the api server's (Server.Catalog) or api.NewCatalog(kit.Store, nil)")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.WaitKeepalive < 0 {
		return nil, fmt.Errorf("grpcapi: New: Options.WaitKeepalive %s is negative", o.WaitKeepalive)
	}
	if o.WaitKeepalive == 0 {
		o.WaitKeepalive = DefaultWaitKeepalive
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Clock == nil {
		o.Clock = func() time.Time { return time.Now().UTC() }
	}
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, fmt.Errorf("grpcapi: New: %w", err)
	}
	s := &Server{kit: kit, cat: catalog, log: o.Logger, password: o.SuperUserPassword, keepalive: o.WaitKeepalive,
		user: o.User, clock: o.Clock, metrics: m}
	s.draining, s.drain = context.WithCancel(context.Background())
	return s, nil
}

// Register registers the BootService and the EventService with r. Calls
// are logged, counted and recorded in the audit trail only by a server
// built with ServerOptions (as NewGRPCServer does).
func (s *Server) Register(r grpc.ServiceRegistrar) {
	v1.RegisterBootServiceServer(r, &bootService{s: s})
	v1.RegisterEventServiceServer(r, &eventService{s: s})
}

// The keepalive policy of metal-api's gRPC server: clients may ping every
// 5 s, also without a stream; the server pings an idle client after 5 s and
// drops it when the ping is not answered within 1 s.
var (
	enforcement = keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}
	serverPings = keepalive.ServerParameters{Time: 5 * time.Second, Timeout: time.Second}
)

// ServerOptions returns the options NewGRPCServer builds its server with:
// metal-api's keepalive policy, interceptors that recover a panicking
// handler (Internal), log every call and count it in the metrics, and,
// inside them, interceptors that record every call in the kit's audit
// trail (none without a trail): entries of type grpc with detail unary
// (phases request and response) or stream (opened and closed), the full
// method as path, the caller as user, the gRPC code as status_code (OK is
// 0, which the trail keeps as none), the status message as error, and the
// request (a stream's first message) as body, redacted by the trail's
// Redact; a request over 64 KiB of JSON is left out and the entry marked
// truncated. Answers are not recorded (some hold passwords). A failure to
// write an entry is logged and does not fail the call.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(enforcement),
		grpc.KeepaliveParams(serverPings),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor, s.auditUnary),
		grpc.ChainStreamInterceptor(s.streamInterceptor, s.auditStream),
	}
}

// NewGRPCServer returns a *grpc.Server with ServerOptions, then extra (TLS
// credentials, say), and the services registered.
func (s *Server) NewGRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	gs := grpc.NewServer(append(s.ServerOptions(), extra...)...)
	s.Register(gs)
	return gs
}

// Drain ends every running Wait stream with Unavailable, clearing the
// machines' waiting flags, and makes later Wait calls fail the same way, so
// that grpc.Server.GracefulStop, which waits for every stream, can finish.
// metal-hammer calls Wait again after a failure, on this process's
// successor. Drain returns at once; the streams end shortly after.
func (s *Server) Drain() { s.drain() }

// callContext returns ctx with the caller as the audit actor: the subject
// of a verified client certificate, else the server's user, and a new
// request id. A ctx that carries an actor already (the audit
// interceptor's) is returned as it is, so that the call's entries and
// events share one request id.
func (s *Server) callContext(ctx context.Context) context.Context {
	if _, ok := audit.FromContext(ctx); ok {
		return ctx
	}
	user := s.user
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.VerifiedChains) > 0 && len(info.State.VerifiedChains[0]) > 0 {
			if cn := info.State.VerifiedChains[0][0].Subject.CommonName; cn != "" {
				user = cn
			}
		}
	}
	return audit.NewContext(ctx, audit.Actor{User: user, RequestID: uuid.NewString()})
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		if v := recover(); v != nil {
			err = s.recovered(info.FullMethod, v)
		}
		s.done(ctx, info.FullMethod, start, err)
	}()
	return handler(ctx, req)
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	defer func() {
		if v := recover(); v != nil {
			err = s.recovered(info.FullMethod, v)
		}
		s.done(ss.Context(), info.FullMethod, start, err)
	}()
	return handler(srv, ss)
}

// recovered logs a handler's panic and returns the Internal status the
// client gets.
func (s *Server) recovered(method string, v any) error {
	s.log.Error("gRPC handler panicked", "method", method, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error")
}

// done counts and logs a finished call.
func (s *Server) done(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	took := time.Since(start)
	s.metrics.observe(method, code, took)
	level := slog.LevelInfo
	switch code {
	case codes.OK, codes.Canceled:
	case codes.Internal, codes.Unknown, codes.DataLoss:
		level = slog.LevelError
	default:
		level = slog.LevelWarn
	}
	attrs := []any{"method", method, "code", code.String(), "duration", took}
	if p, ok := peer.FromContext(ctx); ok {
		attrs = append(attrs, "remote", p.Addr.String())
	}
	if err != nil {
		attrs = append(attrs, "error", status.Convert(err).Message())
	}
	s.log.Log(ctx, level, "grpc call", attrs...)
}

// metrics are the server's Prometheus metrics:
//
//	metalkit_apiserver_grpc_requests_total{method,code}      calls finished
//	metalkit_apiserver_grpc_request_duration_seconds{method} latency histogram
//
// method is the full method name ("/api.v1.BootService/Register"); a call
// of an unknown method never reaches the interceptors, so the label's
// values are bounded.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newMetrics registers the metrics in reg; nil registers none.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "metalkit", Subsystem: "apiserver", Name: "grpc_requests_total",
			Help: "gRPC calls finished, by full method name and status code.",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "metalkit", Subsystem: "apiserver", Name: "grpc_request_duration_seconds",
			Help: "Time to finish a gRPC call (a Wait lasts until the machine is allocated), by full method name.",
			// Wait streams last minutes to days; the unary calls milliseconds.
			Buckets: []float64{0.001, 0.01, 0.1, 0.3, 1, 3, 10, 60, 600, 3600, 86400},
		}, []string{"method"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(method string, code codes.Code, took time.Duration) {
	m.requests.WithLabelValues(method, code.String()).Inc()
	m.duration.WithLabelValues(method).Observe(took.Seconds())
}
