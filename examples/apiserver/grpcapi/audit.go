package grpcapi

// The audit entries of the gRPC calls. The audit package leaves entries of
// type grpc to the embedder; these interceptors write them as metal-lib's
// gRPC interceptors do for metal-api.

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/metalkit/metalkit/audit"
)

// SecretFields are the request fields of the services that hold secrets,
// as the entries' bodies name them: the BMC password of a registration and
// the console password of an install report. Give them to the trail's
// Redact, e.g. audit.RedactKeys(grpcapi.SecretFields...).
var SecretFields = []string{"password", "console_password"}

// The details of the entries: a unary call or a stream.
const (
	detailUnary  = "unary"
	detailStream = "stream"
)

// auditUnary records a unary call in the kit's trail: a request entry
// before the handler runs, whose body is the request, and a response entry
// after it with the gRPC code and, on failure, the status message (an
// error entry with the panic, when the handler panics). The entries name
// the caller (see callContext) and share its request id with the events
// the call records. A failure to write an entry is logged; the call goes
// on, as metal-api's gRPC side has no fail-closed policy.
func (s *Server) auditUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.kit.Trail == nil {
		return handler(ctx, req)
	}
	ctx = s.callContext(ctx)
	base := s.entry(ctx, detailUnary, info.FullMethod)
	s.record(ctx, base, audit.PhaseRequest, req, nil)
	defer s.recordPanic(ctx, base)
	resp, err := handler(ctx, req)
	s.record(ctx, base, audit.PhaseResponse, nil, err)
	return resp, err
}

// auditStream records a stream in the kit's trail as auditUnary records a
// call: an opened entry whose body is the client's first message (written
// once the handler has received it, or when the handler returns without
// one), and a closed entry with the code the stream ends with.
func (s *Server) auditStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if s.kit.Trail == nil {
		return handler(srv, ss)
	}
	ctx := s.callContext(ss.Context())
	as := &auditedStream{ServerStream: ss, ctx: ctx, s: s, base: s.entry(ctx, detailStream, info.FullMethod)}
	defer s.recordPanic(ctx, as.base)
	err := handler(srv, as)
	as.open(nil)
	s.record(ctx, as.base, audit.PhaseClosed, nil, err)
	return err
}

// entry is what every entry of a call says: the type, detail, full method,
// the caller and request id of ctx and the peer's address.
func (s *Server) entry(ctx context.Context, detail, method string) audit.Entry {
	actor, _ := audit.FromContext(ctx)
	e := audit.Entry{Type: audit.TypeGRPC, Detail: detail, Path: method, User: actor.User, Tenant: actor.Tenant, RequestID: actor.RequestID}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		e.RemoteAddr = p.Addr.String()
	}
	return e
}

// record writes base in phase with msg as its body (nil: none) and, for a
// finished call, err's code and message. The entry is written even when
// the client has gone away.
func (s *Server) record(ctx context.Context, base audit.Entry, phase audit.Phase, msg any, err error) {
	e := base
	e.Phase = phase
	e.Body, e.Truncated = entryBody(msg)
	if phase == audit.PhaseResponse || phase == audit.PhaseClosed {
		st := status.Convert(err)
		e.StatusCode = int(st.Code())
		if err != nil {
			e.Error = st.Message()
		}
	}
	s.write(ctx, &e)
}

// recordPanic writes an error entry with the panic of a handler, which
// then goes on (to the interceptor that recovers it).
func (s *Server) recordPanic(ctx context.Context, base audit.Entry) {
	if v := recover(); v != nil {
		e := base
		e.Phase = audit.PhaseError
		e.Error = fmt.Sprint(v)
		s.write(ctx, &e)
		panic(v)
	}
}

// write stores e in the kit's trail, where its Redact runs; a failure is
// logged.
func (s *Server) write(ctx context.Context, e *audit.Entry) {
	if err := s.kit.Trail.Write(context.WithoutCancel(ctx), e); err != nil {
		s.log.ErrorContext(ctx, "audit: gRPC entry not written", "method", e.Path, "phase", string(e.Phase), "rqid", e.RequestID, "error", err)
	}
}

// maxBody is the largest request, in bytes of JSON, an entry records; a
// larger one is left out and the entry marked truncated (a cut JSON
// document could not be redacted).
const maxBody = audit.DefaultMaxBody

// entryBody is msg as JSON with the field names of the proto files
// (metal-api's), so that a Redact of audit.RedactKeys("password") finds
// them; no message, or one over maxBody, gives none.
func entryBody(msg any) ([]byte, bool) {
	m, ok := msg.(proto.Message)
	if !ok || m == nil {
		return nil, false
	}
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil || len(b) == 0 {
		return nil, false
	}
	if len(b) > maxBody {
		return nil, true
	}
	return b, false
}

// auditedStream is a stream whose context carries the caller and whose
// first received message opens the stream in the trail.
type auditedStream struct {
	grpc.ServerStream
	ctx    context.Context
	s      *Server
	base   audit.Entry
	opened bool
}

// Context returns the stream's context with the caller (see callContext).
func (as *auditedStream) Context() context.Context { return as.ctx }

// RecvMsg receives a message; the first one opens the stream in the trail.
func (as *auditedStream) RecvMsg(m any) error {
	err := as.ServerStream.RecvMsg(m)
	if err == nil {
		as.open(m)
	}
	return err
}

// open writes the opened entry with msg, once. A stream's messages are
// received by one goroutine, so no lock is needed.
func (as *auditedStream) open(msg any) {
	if as.opened {
		return
	}
	as.opened = true
	as.s.record(as.ctx, as.base, audit.PhaseOpened, msg, nil)
}
