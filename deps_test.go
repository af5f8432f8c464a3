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

// heavyDeps are what the example server brings in and no library package
// may depend on: RPC and metrics stacks and metal-stack's own clients and
// libraries. Users embed the library without them.
var heavyDeps = []string{
	"google.golang.org/grpc",
	"github.com/prometheus/",
	"github.com/metal-stack/metal-go",
	"github.com/metal-stack/metal-lib",
	"github.com/metal-stack/metal-api",
}

// libraryPackages are the library's packages (as go list patterns): the
// root package, the domain packages, the storage contract and its
// adapters, and the shared error classes and limits.
var libraryPackages = []string{
	".", "ipam", "network", "machine", "switchstate", "audit", "backends/...", "errdefs", "limits",
}

// adapterDeps lists the dependencies of the package in directory dir that
// are in forbiddenDeps. It reports ok=false when dir holds no package.
func adapterDeps(t *testing.T, dir string) (found []string, ok bool) {
	return depsWithPrefix(t, dir, forbiddenDeps)
}

// depsWithPrefix lists the dependencies of the packages of pattern (a
// directory, or a directory followed by /...) that start with one of
// prefixes. It reports ok=false when the directory does not exist.
func depsWithPrefix(t *testing.T, pattern string, prefixes []string) (found []string, ok bool) {
	t.Helper()
	if _, err := os.Stat(strings.TrimSuffix(pattern, "/...")); err != nil {
		return nil, false
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipping: the go command is not on PATH: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", "./"+pattern).CombinedOutput()
	require.NoError(t, err, "go list -deps ./%s: %s", pattern, out)
	for _, dep := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		for _, f := range prefixes {
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

// TestLibraryStaysLean fails when gRPC, Prometheus, metal-go, metal-lib or
// metal-api enters the dependencies of a library package.
func TestLibraryStaysLean(t *testing.T) {
	for _, pkg := range libraryPackages {
		found, ok := depsWithPrefix(t, pkg, heavyDeps)
		if !ok {
			continue
		}
		assert.Empty(t, found, "library package %s depends on a heavy dependency", pkg)
	}
}

// TestHeavyDepsDetected shows that the check above can fail: the example
// server depends on Prometheus and metal-lib, its gRPC services on gRPC
// and metal-api.
func TestHeavyDepsDetected(t *testing.T) {
	found, ok := depsWithPrefix(t, "examples/apiserver/api", heavyDeps)
	if !ok {
		t.Skip("skipping: examples/apiserver/api is not present")
	}
	assert.Contains(t, found, "github.com/prometheus/client_golang/prometheus")
	assert.Contains(t, found, "github.com/metal-stack/metal-lib/httperrors")
	found, ok = depsWithPrefix(t, "examples/apiserver/grpcapi", heavyDeps)
	if !ok {
		t.Skip("skipping: examples/apiserver/grpcapi is not present")
	}
	assert.Contains(t, found, "google.golang.org/grpc")
	assert.Contains(t, found, "github.com/metal-stack/metal-api/pkg/api/v1")
}
