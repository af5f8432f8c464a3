package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"unicode/utf8"
)

// RequestIDHeader carries the request id in requests and responses.
const RequestIDHeader = "X-Request-Id"

// DefaultMaxBody is the number of body bytes the middleware records when
// MiddlewareOptions.MaxBody is 0.
const DefaultMaxBody = 64 << 10

// maxRequestIDHeader is the longest X-Request-Id taken from a request.
const maxRequestIDHeader = 128

// FailurePolicy says what the middleware does when the trail fails.
type FailurePolicy int

const (
	// FailClosed answers 503 without running the handler when the request
	// entry cannot be written (metal-api's behaviour). A failed response
	// entry is logged: the response has gone.
	FailClosed FailurePolicy = iota
	// FailOpen logs failures and lets the request proceed.
	FailOpen
)

// MiddlewareOptions configure Middleware. A nil *MiddlewareOptions means
// all defaults.
type MiddlewareOptions struct {
	// Include lists http.ServeMux patterns of further requests to audit,
	// e.g. "GET /v1/machine/{id}/console-password".
	Include []string
	// Exclude lists http.ServeMux patterns of requests not to audit, e.g.
	// "POST /v1/switch/{id}/notify"; it wins over Include and the methods.
	Exclude []string
	// Identify returns the caller. Nil takes the Actor an authentication
	// layer in front of the middleware put into the request's context
	// (NewContext), or none. Put the middleware after authentication.
	Identify func(*http.Request) Actor
	// MaxBody is how many bytes of a request or response body are
	// recorded; 0 means DefaultMaxBody, negative records no body.
	MaxBody int
	// OnFailure is the policy when the trail fails; default FailClosed.
	OnFailure FailurePolicy
	// Logger receives failures; default the trail's logger.
	Logger *slog.Logger
}

// Middleware returns HTTP middleware that records requests in trail.
//
// It audits POST, PUT, PATCH and DELETE requests and those matching
// Include, minus those matching Exclude; other requests pass untouched.
// For an audited request it takes the request id from X-Request-Id (at
// most 128 printable characters) or makes a new one, sets it on the
// response, puts the caller's Actor with that request id into the
// request's context (see FromContext), writes a request entry before the
// handler and a response entry
// after it, and an error entry with the panic text when the handler panics
// (the panic then goes on). Bodies are recorded up to MaxBody bytes while
// the handler and the client see them whole. It panics, like
// http.ServeMux, on an invalid or conflicting pattern.
func Middleware(trail *Trail, opts *MiddlewareOptions) func(http.Handler) http.Handler {
	var o MiddlewareOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Logger == nil {
		o.Logger = trail.log
	}
	include := patternSet("Include", o.Include)
	exclude := patternSet("Exclude", o.Exclude)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			audited := false
			switch r.Method {
			case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
				audited = true
			default:
				audited = matches(include, r)
			}
			if !audited || matches(exclude, r) {
				next.ServeHTTP(w, r)
				return
			}
			serveAudited(trail, &o, next, w, r)
		})
	}
}

// patternSet registers patterns in a ServeMux used only for matching.
func patternSet(field string, patterns []string) *http.ServeMux {
	if len(patterns) == 0 {
		return nil
	}
	mux := http.NewServeMux()
	for _, p := range patterns {
		func() {
			defer func() {
				if v := recover(); v != nil {
					panic(fmt.Sprintf("audit: MiddlewareOptions.%s pattern %q: %v", field, p, v))
				}
			}()
			mux.Handle(p, http.NotFoundHandler())
		}()
	}
	return mux
}

func matches(mux *http.ServeMux, r *http.Request) bool {
	if mux == nil {
		return false
	}
	_, pattern := mux.Handler(r)
	return pattern != ""
}

// requestID returns the request's valid X-Request-Id or "".
func requestID(r *http.Request) string {
	id := r.Header.Get(RequestIDHeader)
	if id == "" || len(id) > maxRequestIDHeader {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return ""
		}
	}
	return id
}

func serveAudited(trail *Trail, o *MiddlewareOptions, next http.Handler, w http.ResponseWriter, r *http.Request) {
	rqid := requestID(r)
	if rqid == "" {
		rqid = trail.ids()
	}
	w.Header().Set(RequestIDHeader, rqid)
	actor, _ := FromContext(r.Context())
	if o.Identify != nil {
		actor = o.Identify(r)
	}
	actor.RequestID = rqid
	base := Entry{
		Type:         TypeHTTP,
		RequestID:    rqid,
		User:         actor.User,
		Tenant:       actor.Tenant,
		Project:      actor.project(),
		Detail:       r.Method,
		Path:         r.URL.Path,
		ForwardedFor: r.Header.Get("X-Forwarded-For"),
		RemoteAddr:   r.RemoteAddr,
	}
	var failures []error
	defer func() {
		if len(failures) > 0 {
			o.Logger.Error("audit: entries of a request not written",
				"rqid", rqid, "method", r.Method, "path", r.URL.Path, "error", errors.Join(failures...))
		}
	}()

	req := base
	req.Phase = PhaseRequest
	if o.MaxBody > 0 && r.Body != nil && r.Body != http.NoBody {
		prefix, err := io.ReadAll(io.LimitReader(r.Body, int64(o.MaxBody)+1))
		// The handler reads the prefix again, then the rest (or the error).
		r.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(prefix), &errReader{r.Body, err}), Closer: r.Body}
		req.Body, req.Truncated = recordBody(prefix, o.MaxBody)
	}
	ctx := context.WithoutCancel(r.Context())
	if err := trail.Write(ctx, &req); err != nil {
		failures = append(failures, fmt.Errorf("request entry: %w", err))
		if o.OnFailure == FailClosed {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"message":"audit trail unavailable"}`+"\n")
			return
		}
	}

	rw := &recorder{ResponseWriter: w, max: o.MaxBody}
	defer func() {
		if v := recover(); v != nil {
			e := base
			e.Phase = PhaseError
			e.Error = fmt.Sprint(v)
			e.StatusCode = rw.status
			if err := trail.Write(ctx, &e); err != nil {
				failures = append(failures, fmt.Errorf("error entry: %w", err))
			}
			panic(v)
		}
	}()
	next.ServeHTTP(rw, r.WithContext(NewContext(r.Context(), actor)))

	resp := base
	resp.Phase = PhaseResponse
	resp.StatusCode = rw.status
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	if o.MaxBody > 0 && rw.total > 0 {
		resp.Body, resp.Truncated = recordBody(rw.body.Bytes(), o.MaxBody)
	}
	if err := trail.Write(ctx, &resp); err != nil {
		failures = append(failures, fmt.Errorf("response entry: %w", err))
	}
}

// recordBody turns up to max bytes of a body, read with one byte more when
// there was more, into an entry body: decoded JSON when it is complete
// JSON, else its text as a string.
func recordBody(b []byte, max int) (json.RawMessage, bool) {
	if len(b) == 0 {
		return nil, false
	}
	truncated := len(b) > max
	if truncated {
		b = b[:max]
	} else if json.Valid(b) {
		var c bytes.Buffer
		if json.Compact(&c, b) == nil {
			return c.Bytes(), false
		}
	}
	if !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	}
	s, _ := json.Marshal(string(b))
	return s, truncated
}

// replayBody gives the handler the recorded prefix, then the rest.
type replayBody struct {
	io.Reader
	io.Closer
}

// errReader reads r, then reports err if reading the prefix had failed.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return e.r.Read(p)
}

// recorder captures the status and up to max+1 bytes of the response while
// passing everything on.
type recorder struct {
	http.ResponseWriter
	max    int
	status int
	total  int
	body   bytes.Buffer
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 && code >= 200 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(p []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	if room := rw.max + 1 - rw.body.Len(); room > 0 {
		rw.body.Write(p[:min(room, len(p))])
	}
	rw.total += len(p)
	return rw.ResponseWriter.Write(p)
}

// Unwrap gives http.ResponseController the underlying writer, so that
// flushing, hijacking and deadlines keep working.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// Flush flushes the underlying writer when it can.
func (rw *recorder) Flush() {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	_ = http.NewResponseController(rw.ResponseWriter).Flush()
}

// Hijack hands over the connection of the underlying writer when it can.
func (rw *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(rw.ResponseWriter).Hijack()
}
