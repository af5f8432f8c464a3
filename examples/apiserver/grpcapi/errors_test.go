package grpcapi_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/examples/apiserver/grpcapi"
	"github.com/metalkit/metalkit/machine"
)

func TestCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		want codes.Code
	}{
		{nil, codes.OK},
		{fmt.Errorf("wait: %w", context.Canceled), codes.Canceled},
		{errors.Join(context.Canceled, backends.ErrUnavailable), codes.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{fmt.Errorf("redis: %w", backends.ErrUnavailable), codes.Unavailable},
		{backends.ErrClosed, codes.Unavailable},
		{errors.Join(machine.ErrNotFound, backends.ErrUnavailable), codes.Unavailable},
		{errdefs.Errorf(errdefs.ErrCorrupt, "machine record does not decode"), codes.Internal},
		{backends.ErrConflict, codes.Aborted},
		{machine.ErrNotFound, codes.NotFound},
		{machine.ErrInvalidArgument, codes.InvalidArgument},
		{errdefs.ErrForbidden, codes.PermissionDenied},
		{machine.ErrNoMachineAvailable, codes.ResourceExhausted},
		{machine.ErrQuota, codes.ResourceExhausted},
		{machine.ErrConflict, codes.FailedPrecondition},
		{machine.ErrLocked, codes.FailedPrecondition},
		{errors.New("of no class"), codes.Internal},
	} {
		assert.Equal(t, c.want.String(), grpcapi.Code(c.err).String(), "%v", c.err)
	}
}
