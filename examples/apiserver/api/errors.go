package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/metal-stack/metal-lib/httperrors"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// The server's own conditions that need a status of their own. Each
// matches an errdefs class, so code that only knows the classes still
// understands them.
var (
	// errStale: an update carried an older version than the stored one
	// (metal-api's optimistic lock, 412 Precondition Failed).
	errStale = errdefs.Sentinel(errdefs.ErrConflict, "stale version")
	// errTooLarge: the request body is larger than Options.MaxBody.
	errTooLarge = errdefs.Sentinel(errdefs.ErrInvalidArgument, "request body too large")
	// errUnknownMember: a strictly decoded body has a member its type
	// does not know; the message is the member's quoted name.
	errUnknownMember = errdefs.Sentinel(errdefs.ErrInvalidArgument, "unknown member")
	// errUnauthenticated: the request carries no valid signature. It
	// belongs to no class: it is about the caller, not the request.
	errUnauthenticated = errors.New("unauthenticated")
)

// statusTable maps errors to HTTP status codes: the first entry err
// matches (errors.Is) decides. The server's own sentinels come first,
// then the errdefs classes in the order errdefs.Class tests them (a joined
// error that says the store is unavailable or corrupt is reported so),
// then the store contract's and the context's errors that carry no class.
// Exhausted is 422, as metal-api answers when no IP or machine is left.
var statusTable = []struct {
	err    error
	status int
}{
	{errStale, http.StatusPreconditionFailed},
	{errTooLarge, http.StatusRequestEntityTooLarge},
	{errUnauthenticated, http.StatusUnauthorized},
	{errdefs.ErrUnavailable, http.StatusServiceUnavailable},
	{errdefs.ErrCorrupt, http.StatusInternalServerError},
	{errdefs.ErrNotFound, http.StatusNotFound},
	{errdefs.ErrInvalidArgument, http.StatusBadRequest},
	{errdefs.ErrForbidden, http.StatusForbidden},
	{errdefs.ErrExhausted, http.StatusUnprocessableEntity},
	{errdefs.ErrConflict, http.StatusConflict},
	{backends.ErrClosed, http.StatusServiceUnavailable},
	{backends.ErrConflict, http.StatusServiceUnavailable},
	{context.DeadlineExceeded, http.StatusServiceUnavailable},
	{context.Canceled, http.StatusServiceUnavailable},
}

// statusOf returns the HTTP status for err: the statusTable entry it
// matches, else 500.
func statusOf(err error) int {
	for _, e := range statusTable {
		if errors.Is(err, e.err) {
			return e.status
		}
	}
	return http.StatusInternalServerError
}

// invalid returns an error of class invalid argument.
func invalid(format string, args ...any) error {
	return errdefs.Errorf(errdefs.ErrInvalidArgument, format, args...)
}

// notFound returns an error of class not found.
func notFound(format string, args ...any) error {
	return errdefs.Errorf(errdefs.ErrNotFound, format, args...)
}

// conflict returns an error of class conflict.
func conflict(format string, args ...any) error {
	return errdefs.Errorf(errdefs.ErrConflict, format, args...)
}

// corrupt returns an error of class corrupt.
func corrupt(format string, args ...any) error {
	return errdefs.Errorf(errdefs.ErrCorrupt, format, args...)
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeErrorStatus writes an error body as metal-api does: metal-lib's
// HTTPErrorResponse, whose MarshalText makes the JSON body a string that
// holds {"statuscode":...,"message":...}. metal-go decodes that string
// through the type's UnmarshalText, so its client sees both fields.
func writeErrorStatus(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, &httperrors.HTTPErrorResponse{StatusCode: status, Message: msg})
}

// fail answers err with the status of its class, counts store failures
// and logs the failure with the request.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	msg := err.Error()
	if errors.Is(err, errdefs.ErrUnavailable) || errors.Is(err, errdefs.ErrCorrupt) ||
		errors.Is(err, backends.ErrClosed) || errors.Is(err, backends.ErrConflict) || status == http.StatusInternalServerError {
		s.metrics.StoreError(storeErrorClass(err))
	}
	level := s.log.Info
	if status >= 500 {
		level = s.log.Error
	}
	level("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", msg)
	writeErrorStatus(w, status, strings.ReplaceAll(msg, "\n", "; "))
}

// storeErrorClass names an error's class for the store error counter.
func storeErrorClass(err error) string {
	switch {
	case errors.Is(err, errdefs.ErrUnavailable), errors.Is(err, backends.ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "unavailable"
	case errors.Is(err, errdefs.ErrCorrupt):
		return "corrupt"
	case errors.Is(err, backends.ErrConflict):
		return "conflict"
	}
	return "other"
}

// decodeBody decodes the request's JSON body into v. An empty body, a body
// that is not one JSON value, and a body over the size limit are refused,
// each with an error that says so. Members v does not know are ignored.
func decodeBody(r *http.Request, v any) error { return decodeJSON(r, v, false) }

// decodeJSON is decodeBody; with strict, a member v does not know is
// refused with its name.
func decodeJSON(r *http.Request, v any, strict bool) error {
	if r.Body == nil {
		return invalid("the request body is empty; want a JSON object")
	}
	dec := json.NewDecoder(r.Body)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		// encoding/json names an unknown member only in its message.
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok && strict {
			return errdefs.Errorf(errUnknownMember, "%s", name)
		}
		return decodeError(err)
	}
	if dec.More() {
		return invalid("the request body holds more than one JSON value")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errdefs.Errorf(errTooLarge, "the request body is larger than %d bytes", tooLarge.Limit)
		}
		return invalid("the request body has data after its JSON value")
	}
	return nil
}

// decodeError turns an error of decoding a request body into an error
// that says what is wrong with the body.
func decodeError(err error) error {
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return errdefs.Errorf(errTooLarge, "the request body is larger than %d bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return invalid("the request body is empty; want a JSON object")
	case errors.As(err, &syntax):
		return invalid("the request body is not valid JSON: %v (at byte %d)", err, syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the request body"
		}
		return invalid("%s: a JSON %s cannot be a %s", field, typ.Value, typ.Type)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("the request body is not valid JSON: it ends early")
	}
	return invalid("the request body: %v", err)
}

// quote quotes an input for an error message (bounded, see errdefs.Quote).
func quote(s string) string { return errdefs.Quote(s) }

// joinInvalid joins validation problems into one invalid-argument error,
// or returns nil when there are none; nil entries are skipped.
func joinInvalid(errs []error) error {
	err := errors.Join(errs...)
	if err == nil {
		return nil
	}
	return errdefs.Errorf(errdefs.ErrInvalidArgument, "%w", err)
}

// stale returns an error matching errStale (and so errdefs.ErrConflict).
func stale(format string, args ...any) error {
	return errdefs.Errorf(errStale, format, args...)
}
