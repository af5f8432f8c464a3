package metalkit_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// forbiddenDeps are the storage drivers and adapters that no domain package
// may depend on: domain packages see only the backends contract.
var forbiddenDeps = []string{
	"go.etcd.io/bbolt",
	"github.com/redis/go-redis",
	"github.com/metalkit/metalkit/backends/",
}

// adapterDeps lists the dependencies of the package in directory dir that
// are in forbiddenDeps. It reports ok=false when dir holds no package.
func adapterDeps(t *testing.T, dir string) (found []string, ok bool) {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		return nil, false
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipping: the go command is not on PATH: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-f", `{{join .Deps "\n"}}`, "./"+dir).CombinedOutput()
	require.NoError(t, err, "go list ./%s: %s", dir, out)
	for _, dep := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		for _, f := range forbiddenDeps {
			if strings.HasPrefix(dep, f) {
				found = append(found, dep)
			}
		}
	}
	return found, true
}

func TestDomainPackagesImportNoAdapter(t *testing.T) {
	for _, pkg := range []string{"ipam", "network", "machine", "switchstate", "audit"} {
		found, ok := adapterDeps(t, pkg)
		if !ok {
			continue
		}
		assert.Empty(t, found, "package %s depends on a storage adapter or driver", pkg)
	}
}

// TestAdapterDepsDetectsDrivers shows that the check above can fail: the
// bbolt adapter itself depends on bbolt.
func TestAdapterDepsDetectsDrivers(t *testing.T) {
	found, ok := adapterDeps(t, "backends/boltstore")
	if !ok {
		t.Skip("skipping: backends/boltstore is not present")
	}
	assert.Contains(t, found, "go.etcd.io/bbolt")
}
