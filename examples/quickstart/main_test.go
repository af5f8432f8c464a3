package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/internal/redistest"
)

func checkOutput(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{
		"# super network, as created\n",
		"- 10.0.0.0/16\n- 2001:db8:0:10::/64\n",
		"    available_ips: 65536\n",
		"    available_prefixes: 16384\n",
		"# child network of project-a\n",
		"- 10.0.0.0/22\n- 2001:db8:0:10::/96\n",
		"    available_prefixes: 1073741824\n",
		"# IP with no address family\n",
		"ipaddress: 10.0.0.1\n",
		"# IP with address family IPv6\n",
		"ipaddress: 2001:db8:0:10::1\n",
	} {
		assert.Contains(t, out, want)
	}
}

func TestQuickstartOnEveryStore(t *testing.T) {
	ctx := context.Background()
	t.Run("bolt", func(t *testing.T) {
		var out strings.Builder
		require.NoError(t, run(ctx, &out, "bolt", "fra-equ01", "project-a"))
		checkOutput(t, out.String())
	})
	t.Run("bolt file reused", func(t *testing.T) {
		path := "bolt:" + filepath.Join(t.TempDir(), "q.db")
		var first, second strings.Builder
		require.NoError(t, run(ctx, &first, path, "fra-equ01", "project-a"))
		checkOutput(t, first.String())
		require.NoError(t, run(ctx, &second, path, "fra-equ01", "project-a"))
		assert.Contains(t, second.String(), "# super network (already present)")
		assert.Contains(t, second.String(), "- 10.0.4.0/22\n", "the second run gets the next child")
	})
	t.Run("memory", func(t *testing.T) {
		var out strings.Builder
		require.NoError(t, run(ctx, &out, "memory", "fra-equ01", "project-a"))
		checkOutput(t, out.String())
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		var out strings.Builder
		require.NoError(t, run(ctx, &out, "redis://"+srv.Addr+"/0", "fra-equ01", "project-a"))
		checkOutput(t, out.String())
	})
	t.Run("bad store", func(t *testing.T) {
		err := run(ctx, &strings.Builder{}, "etcd://x", "p", "q")
		require.ErrorContains(t, err, `-store "etcd://x"`)
	})
}
