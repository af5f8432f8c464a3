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

// goIPAM is the reference implementation the ipam tests and benchmarks
// compare with: a test dependency only.
const goIPAM = "github.com/metal-stack/go-ipam"

// listPackages returns every package the packages matching pattern are
// built from (with test=true: also their tests and the tests'
// dependencies).
func listPackages(t *testing.T, test bool, pattern string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipping: the go command is not on PATH: %v", err)
	}
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}"}
	if test {
		args = append(args, "-test")
	}
	out, err := exec.Command(goBin, append(args, pattern)...).CombinedOutput()
	require.NoError(t, err, "go list %s: %s", pattern, out)
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func withPrefix(pkgs []string, prefix string) []string {
	var out []string
	for _, p := range pkgs {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// TestNoPackageDependsOnGoIPAM: outside tests, no package of the module
// depends on go-ipam.
func TestNoPackageDependsOnGoIPAM(t *testing.T) {
	assert.Empty(t, withPrefix(listPackages(t, false, "./..."), goIPAM))
}

// TestGoIPAMCheckDetectsTestDeps shows that the check above can fail: the
// tests of ipam depend on go-ipam.
func TestGoIPAMCheckDetectsTestDeps(t *testing.T) {
	assert.Contains(t, withPrefix(listPackages(t, true, "./ipam"), goIPAM), goIPAM)
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
