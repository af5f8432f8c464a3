package grpcapi

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// codeTable maps errors to gRPC codes: the first entry err matches
// (errors.Is) decides. The context's errors come first (the caller went
// away or ran out of time, whatever else failed), then the errdefs classes
// in the order errdefs.Class tests them, with the store's retries
// exhausted (of class conflict) before the class: that conflict is a
// collision with concurrent writers, worth retrying, not a contradiction
// of the stored state.
//
// metal-api answers almost every failure with Unknown (its handlers return
// plain errors); the codes here are gRPC's own meanings for the classes.
var codeTable = []struct {
	err  error
	code codes.Code
}{
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{errdefs.ErrUnavailable, codes.Unavailable},
	{errdefs.ErrCorrupt, codes.Internal},
	{backends.ErrConflict, codes.Aborted},
	{errdefs.ErrNotFound, codes.NotFound},
	{errdefs.ErrInvalidArgument, codes.InvalidArgument},
	{errdefs.ErrForbidden, codes.PermissionDenied},
	{errdefs.ErrExhausted, codes.ResourceExhausted},
	{errdefs.ErrConflict, codes.FailedPrecondition},
}

// Code returns the gRPC code of err:
//
//	context.Canceled          Canceled
//	context.DeadlineExceeded  DeadlineExceeded
//	unavailable               Unavailable
//	corrupt                   Internal
//	backends.ErrConflict      Aborted (the store gave up retrying)
//	not found                 NotFound
//	invalid argument          InvalidArgument
//	forbidden                 PermissionDenied
//	exhausted                 ResourceExhausted
//	conflict                  FailedPrecondition
//
// An error of no class (a bug) is Internal; nil is OK.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return codes.Internal
}

// toStatus returns err as a gRPC status error with its Code and its
// message on one line; nil gives nil, and a status error is returned as it
// is.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(Code(err), strings.ReplaceAll(err.Error(), "\n", "; "))
}

// invalid returns an InvalidArgument status with msg.
func invalid(msg string) error { return status.Error(codes.InvalidArgument, msg) }
