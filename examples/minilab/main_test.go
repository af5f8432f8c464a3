package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/internal/redistest"
)

var update = flag.Bool("update", false, "rewrite testdata/minilab.golden from the memstore run")

const golden = "testdata/minilab.golden"

// fixed are the flags of the golden run: a clock that stands still and
// seeded ids.
var fixed = []string{"-clock", "2025-02-26T10:00:00Z", "-seed", "1"}

// play runs the lab with args and returns its output; stderr goes to the
// test log.
func playLab(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	if errOut.Len() > 0 {
		t.Log(errOut.String())
	}
	require.NoError(t, err)
	return out.String()
}

// checkStory checks the announcement's figures in the output, so that a
// rewritten golden file cannot lose them unnoticed.
func checkStory(t *testing.T, out string) {
	t.Helper()
	blocks := []string{
		"# super network tenant-super-network-mini-lab\n",
		"# child network of project ",
		"# IP with no address family\n",
		"# IP with address family IPv6\n",
		"# switch connected-machines -o wide\n",
	}
	at := 0
	for _, b := range blocks {
		i := strings.Index(out[at:], b)
		require.GreaterOrEqual(t, i, 0, "block %q after offset %d", b, at)
		at += i + len(b)
	}
	part := func(from, to int) string {
		s := out[strings.Index(out, blocks[from]):]
		if to < len(blocks) {
			s = s[:strings.Index(s, blocks[to])]
		}
		return s
	}
	super, child, v4, v6, tree := part(0, 1), part(1, 2), part(2, 3), part(3, 4), part(4, 5)
	for _, want := range []string{
		"id: tenant-super-network-mini-lab\n", "partitionid: mini-lab\n", "privatesuper: true\n",
		"- 10.0.0.0/16\n- 2001:db8:0:10::/64\n", "  IPv4: 22\n  IPv6: 96\n",
		"  ipv4:\n    available_ips: 65536\n    available_prefixes: 16384\n    used_ips: 2\n    used_prefixes: 0\n",
		"  ipv6:\n    available_ips: 2147483647\n    available_prefixes: 2147483647\n    used_ips: 1\n    used_prefixes: 0\n",
	} {
		assert.Contains(t, super, want)
	}
	for _, want := range []string{
		"parentnetworkid: tenant-super-network-mini-lab\n", "- 10.0.0.0/22\n- 2001:db8:0:10::/96\n",
		"  ipv4:\n    available_ips: 1024\n    available_prefixes: 256\n    used_ips: 2\n",
		"  ipv6:\n    available_ips: 2147483647\n    available_prefixes: 1073741824\n    used_ips: 1\n",
	} {
		assert.Contains(t, child, want)
	}
	assert.Contains(t, v4, "ipaddress: 10.0.0.1\n")
	assert.Contains(t, v6, "ipaddress: 2001:db8:0:10::1\n")

	lines := strings.Split(strings.TrimSuffix(tree, "\n"), "\n")[1:]
	require.Len(t, lines, 7, "header, then per leaf a switch row and two machine rows:\n%s", tree)
	assert.Regexp(t, `^ID +NIC NAME +IDENTIFIER +PARTITION +RACK +SIZE +HOSTNAME +PRODUCT SERIAL +CHASSIS SERIAL$`, lines[0])
	for i, leaf := range []string{"leaf01", "leaf02"} {
		rows := lines[1+3*i : 4+3*i]
		assert.Regexp(t, `^`+leaf+` +mini-lab +test-rack$`, rows[0])
		assert.Regexp(t, `^├─╴`+uuidRE+` +Ethernet0 \(BGP:Established\(54s\)\) +Eth1/1 +mini-lab +test-rack +v1-small-x86 +test +PS-MINI-LAB-01 +CS-MINI-LAB-01$`, rows[1])
		assert.Regexp(t, `^└─╴`+uuidRE+` +Ethernet1 +Eth1/2 +mini-lab +test-rack +v1-small-x86 +PS-MINI-LAB-02 +CS-MINI-LAB-02$`, rows[2])
	}
}

// TestGolden runs the lab on memstore with the fixed clock and ids and
// compares its whole output with testdata/minilab.golden (-update rewrites
// it).
func TestGolden(t *testing.T) {
	out := playLab(t, append([]string{"-store", "memory"}, fixed...)...)
	checkStory(t, out)
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), out)
	assert.Equal(t, out, playLab(t, append([]string{"-store", "memory"}, fixed...)...), "a second run prints the same")
}

const uuidRE = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`

var (
	uuids = regexp.MustCompile(uuidRE)
	times = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z`)
)

// masked replaces the UUIDs and times of out.
func masked(out string) string {
	return times.ReplaceAllString(uuids.ReplaceAllString(out, "<uuid>"), "<time>")
}

// TestSameOutputOnEveryStore runs the lab on a bbolt file and on Redis,
// each with a clock of its own and random ids, and compares the output
// with the golden run's, ids and times aside.
func TestSameOutputOnEveryStore(t *testing.T) {
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) string
		clock string
	}{
		{"boltstore", func(t *testing.T) string { return "bolt:" + filepath.Join(t.TempDir(), "lab.db") }, "2025-03-01T12:34:56Z"},
		{"redisstore", func(t *testing.T) string { return "redis://" + redistest.Start(t).Addr + "/0" }, "2026-07-15T08:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := playLab(t, "-store", tc.store(t), "-clock", tc.clock)
			checkStory(t, out)
			assert.Contains(t, out, strings.Replace(tc.clock, "Z", ".000Z", 1), "the lab's clock")
			assert.NotContains(t, out, "2025-02-26", "no time of the golden run")
			assert.Equal(t, masked(string(want)), masked(out))
		})
	}
}

// TestStoreWithALab refuses a store that holds the lab of an earlier run,
// and bad flags.
func TestStoreWithALab(t *testing.T) {
	store := "bolt:" + filepath.Join(t.TempDir(), "lab.db")
	playLab(t, "-store", store)
	err := run(context.Background(), []string{"-store", store}, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "already holds the partition mini-lab")

	for _, args := range [][]string{{"-clock", "yesterday"}, {"-store", "etcd://x"}, {"extra"}, {"-seed", "-1"}} {
		var out bytes.Buffer
		err := run(context.Background(), args, &out, &bytes.Buffer{})
		assert.Error(t, err, "%q", args)
		assert.Empty(t, out.String(), "%q prints nothing", args)
	}
}

// TestREADMECommand builds the program and runs it as `go run
// ./examples/minilab` does, with no flags, twice in a row in an empty
// folder: each run exits 0 within seconds, prints the whole story, and
// leaves no file behind, neither in the folder nor in the temporary one.
func TestREADMECommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the program")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "minilab")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race") // shares the test build's cache
	}
	build := exec.Command(goTool, append(args, ".")...)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	dir, tmp := t.TempDir(), t.TempDir()
	for run := 1; run <= 2; run++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		took := time.Since(start)
		cancel()
		require.NoError(t, err, "run %d: %s", run, stderr.String())
		t.Logf("run %d took %s", run, took)
		assert.Empty(t, stderr.String())
		assert.Contains(t, stdout.String(), "# switch connected-machines -o wide\n")
		assert.Regexp(t, `├─╴`+uuidRE+` +Ethernet0 \(BGP:Established\(5\ds\)\)`, stdout.String())
		for _, d := range []string{dir, tmp} {
			left, err := os.ReadDir(d)
			require.NoError(t, err)
			assert.Empty(t, left, "run %d leaves nothing in %s", run, d)
		}
	}
}
