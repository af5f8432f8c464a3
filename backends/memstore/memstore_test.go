package memstore_test

import (
	"testing"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/memstore"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backends.Store {
		s := memstore.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
