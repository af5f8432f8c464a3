package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/metalkit/metalkit/errdefs"
)

// Type says what produced an entry.
type Type string

// The entry types.
const (
	// TypeHTTP entries are written by Middleware.
	TypeHTTP Type = "http"
	// TypeGRPC entries are written by the embedder for gRPC calls.
	TypeGRPC Type = "grpc"
	// TypeEvent entries record the library's own committed changes.
	TypeEvent Type = "event"
)

// Valid reports whether t is one of the entry types.
func (t Type) Valid() bool {
	return t == TypeHTTP || t == TypeGRPC || t == TypeEvent
}

// Phase says where in a call or stream an entry was written.
type Phase string

// The phases, in their order (see Phase.Order).
const (
	// PhaseOpened starts a stream.
	PhaseOpened Phase = "opened"
	// PhaseRequest is written before a call is handled.
	PhaseRequest Phase = "request"
	// PhaseSingle stands alone, e.g. a library event.
	PhaseSingle Phase = "single"
	// PhaseResponse is written after a call was handled.
	PhaseResponse Phase = "response"
	// PhaseError records a failure, e.g. a handler panic.
	PhaseError Phase = "error"
	// PhaseClosed ends a stream.
	PhaseClosed Phase = "closed"
)

// Order returns the phase's order, 1 (opened) to 6 (closed), or 0 for a
// string that is no phase. Among entries with equal timestamps, search
// returns the higher order first.
func (p Phase) Order() int {
	switch p {
	case PhaseOpened:
		return 1
	case PhaseRequest:
		return 2
	case PhaseSingle:
		return 3
	case PhaseResponse:
		return 4
	case PhaseError:
		return 5
	case PhaseClosed:
		return 6
	}
	return 0
}

// Valid reports whether p is one of the phases.
func (p Phase) Valid() bool { return p.Order() != 0 }

// Entry is one record of the trail. The JSON names are metal-api's.
type Entry struct {
	// ID is a time-ordered unique id in UUID text form; Write fills an
	// empty one from Options.IDs.
	ID string `json:"id"`
	// Component is the writing program; Write fills an empty one from
	// Options.Component.
	Component string `json:"component"`
	// RequestID is shared by all entries of one request.
	RequestID string `json:"rqid"`
	// Type is http, grpc or event.
	Type Type `json:"type"`
	// Timestamp is stored in UTC with nanoseconds; Write fills a zero one
	// from Options.Clock.
	Timestamp time.Time `json:"timestamp"`
	// User, Tenant and Project identify the caller.
	User    string `json:"user"`
	Tenant  string `json:"tenant"`
	Project string `json:"project"`
	// Detail is the HTTP method, "unary" or "stream" for grpc, or the
	// operation of an event.
	Detail string `json:"detail"`
	// Phase is where in the call the entry was written.
	Phase Phase `json:"phase"`
	// Path is the URL path without query, the full gRPC method, or the
	// entity of an event ("machine/<id>").
	Path string `json:"path"`
	// ForwardedFor is the X-Forwarded-For header.
	ForwardedFor string `json:"forwarded_for"`
	// RemoteAddr is the peer's ip:port.
	RemoteAddr string `json:"remote_addr"`
	// Body is a JSON value: the decoded body when it was JSON, else its
	// text as a JSON string. Empty means no body.
	Body json.RawMessage `json:"body,omitempty"`
	// Truncated says the body was cut at the middleware's cap.
	Truncated bool `json:"truncated,omitempty"`
	// StatusCode is the HTTP status or gRPC code; 0 means none.
	StatusCode int `json:"status_code,omitempty"`
	// Error is the text of a failure.
	Error string `json:"error"`
	// Seq, PrevHash and Hash are set by a trail with Options.Chain and
	// cleared by one without.
	Seq      uint64 `json:"seq,omitempty"`
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// maxRequestID is the longest request id Write accepts, in bytes.
const maxRequestID = 1024

// latest is the last instant whose nanoseconds since 1970 fit the key.
var latest = time.Unix(0, math.MaxInt64).UTC()

// validate checks e after defaults were filled and returns its parsed id.
// Its body is compacted in place.
func (e *Entry) validate() ([16]byte, error) {
	var id [16]byte
	var errs []error
	if !e.Type.Valid() {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "audit: type %q is not http, grpc or event", e.Type))
	}
	if !e.Phase.Valid() {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "audit: phase %q is not opened, request, single, response, error or closed", e.Phase))
	}
	if e.Timestamp.Before(time.Unix(0, 0)) || e.Timestamp.After(latest) {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "audit: timestamp %s is before 1970 or after %s", e.Timestamp.Format(time.RFC3339Nano), latest.Format(time.RFC3339)))
	}
	if len(e.RequestID) > maxRequestID {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "audit: rqid of %d bytes is longer than %d", len(e.RequestID), maxRequestID))
	}
	id, err := parseID(e.ID)
	if err != nil {
		errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "audit: id %q: %v", e.ID, err))
	} else {
		e.ID = formatID(id)
	}
	if len(e.Body) > 0 {
		var b bytes.Buffer
		if err := json.Compact(&b, e.Body); err != nil {
			errs = append(errs, errdefs.Errorf(ErrInvalidArgument, "audit: body %.64q is not JSON: %v", e.Body, err))
		} else {
			e.Body = b.Bytes()
		}
	}
	if len(errs) > 0 {
		return id, errors.Join(errs...)
	}
	return id, nil
}

// formatID writes u in the canonical 8-4-4-4-12 UUID text form.
func formatID(u [16]byte) string { return uuid.UUID(u).String() }

// parseID parses a UUID in text form.
func parseID(s string) ([16]byte, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return [16]byte{}, err
	}
	return u, nil
}
