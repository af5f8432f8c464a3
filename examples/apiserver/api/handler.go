package api

// The pieces the handlers are made of: decoding a request into the
// library's request or filter, reading in one transaction, and shaping
// the answer.

import (
	"context"
	"net/http"

	"github.com/metalkit/metalkit"
)

// decodeAs decodes the body of r as a B (see decodeBody) and converts it
// with library, which returns the library's request or every problem of
// the body.
func decodeAs[B, L any](r *http.Request, library func(*B) (L, error)) (L, error) {
	return decoded(r, decodeBody, library)
}

// findAs decodes the body of a find request as an F (see decodeFind) and
// returns the library's filter that filter makes of it, or every filter
// that cannot be applied.
func findAs[F, L any](r *http.Request, filter func(*F) (L, error)) (L, error) {
	return decoded(r, decodeFind, filter)
}

// decoded decodes the body of r into a new B with decode and returns what
// convert makes of it.
func decoded[B, L any](r *http.Request, decode func(*http.Request, any) error, convert func(*B) (L, error)) (L, error) {
	var body B
	if err := decode(r, &body); err != nil {
		var zero L
		return zero, err
	}
	return convert(&body)
}

// replyWith answers shape(v) with status, or err; shape is not called when
// err is set.
func replyWith[T, R any](s *Server, w http.ResponseWriter, r *http.Request, status int, v T, err error, shape func(T) R) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, shape(v))
}

// mapAll returns f of every element of in, in order; nil gives an empty
// slice, which answers [] rather than null.
func mapAll[T, R any](in []T, f func(T) R) []R {
	out := make([]R, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// resultOf runs fn in the transaction run makes and returns what the
// committed (or only) attempt returned, or run's error and the zero T.
func resultOf[X, T any](run func(func(tx X) error) error, fn func(tx X) (T, error)) (T, error) {
	var out T
	err := run(func(tx X) error {
		var err error
		out, err = fn(tx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// kitView runs fn in one read transaction of kit and returns its result.
func kitView[T any](ctx context.Context, kit *metalkit.Kit, fn func(tx *metalkit.Tx) (T, error)) (T, error) {
	return resultOf(func(f func(*metalkit.Tx) error) error { return kit.View(ctx, f) }, fn)
}

// kitUpdate runs fn in one write transaction of kit and returns its
// result. fn may run more than once.
func kitUpdate[T any](ctx context.Context, kit *metalkit.Kit, fn func(tx *metalkit.Tx) (T, error)) (T, error) {
	return resultOf(func(f func(*metalkit.Tx) error) error { return kit.Update(ctx, f) }, fn)
}

// cached returns cache[id], loading it with load the first time; an empty
// id is nil.
func cached[T any](cache map[string]*T, id string, load func(id string) (*T, error)) (*T, error) {
	if id == "" {
		return nil, nil
	}
	if v, ok := cache[id]; ok {
		return v, nil
	}
	v, err := load(id)
	if err != nil {
		return nil, err
	}
	cache[id] = v
	return v, nil
}
