package metalkit_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/audit"
	"github.com/metalkit/metalkit/backends/boltstore"
	"github.com/metalkit/metalkit/check"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
)

// killEnv names the bbolt file the child of TestSIGKILLDuringAllocations
// allocates and frees machines in.
const killEnv = "METALKIT_TEST_KILL_FILE"

// TestKillChild is the child's side of TestSIGKILLDuringAllocations; it
// does nothing in a normal run. It allocates and frees machine m1 by id,
// over and over, printing each operation once it returned.
func TestKillChild(t *testing.T) {
	path := os.Getenv(killEnv)
	if path == "" {
		t.Skip("runs only as the child of TestSIGKILLDuringAllocations")
	}
	s, err := boltstore.Open(path, nil)
	if err != nil {
		fmt.Println("open failed:", err)
		os.Exit(2)
	}
	kit, err := metalkit.Open(s, nil)
	if err != nil {
		fmt.Println("kit failed:", err)
		os.Exit(2)
	}
	ctx := audit.NewContext(context.Background(), audit.Actor{User: "admin", Admin: true})
	for i := 0; ; i++ {
		m, err := kit.Machines.Allocate(ctx, machine.AllocateRequest{UUID: "m1", ProjectID: "p1", ImageID: "u",
			Networks: []machine.AllocationNetwork{{NetworkID: os.Getenv(killEnv + "_NET")}}})
		if err != nil {
			fmt.Println("allocate failed:", err)
			os.Exit(2)
		}
		fmt.Println("allocated", m.Allocation.AllocationUUID)
		if _, err := kit.Machines.Free(ctx, "m1"); err != nil {
			fmt.Println("free failed:", err)
			os.Exit(2)
		}
		fmt.Println("freed", m.Allocation.AllocationUUID)
	}
}

// TestSIGKILLDuringAllocations kills a process that allocates and frees a
// machine on a durable bbolt file: after reopening, every acknowledged
// operation is there (the machine is allocated with the last acknowledged
// allocation, or free when the last acknowledgement was a free, or the
// operation in flight committed), and the store is consistent.
func TestSIGKILLDuringAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the SIGKILL test in short mode")
	}
	path := filepath.Join(t.TempDir(), "kit.db")
	s, err := boltstore.Open(path, nil)
	require.NoError(t, err)
	kit, err := metalkit.Open(s, nil)
	require.NoError(t, err)
	ctx := audit.NewContext(context.Background(), audit.Actor{User: "admin", Admin: true})
	require.NoError(t, setupLab(ctx, kit))
	child, err := kit.Networks.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra-equ01", ProjectID: "p1"})
	require.NoError(t, err)
	_, _, err = kit.Machines.Register(ctx, machine.RegisterRequest{ID: "m1", PartitionID: "fra-equ01", Hardware: m1Hardware(), BIOS: &machine.BIOS{}})
	require.NoError(t, err)
	require.NoError(t, kit.Close())

	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$")
		cmd.Env = append(os.Environ(), killEnv+"="+path, killEnv+"_NET="+child.ID)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(out)
		var last string
		lines := 0
		deadline := time.Now().Add(20 * time.Second)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "allocated ") || strings.HasPrefix(line, "freed ") {
				last = line
				lines++
			} else if strings.Contains(line, "failed") {
				t.Fatalf("round %d: the child failed: %s", round, line)
			}
			if lines >= 20+7*round || time.Now().After(deadline) {
				break
			}
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		require.NotEmpty(t, last, "round %d: the child acknowledged nothing", round)

		s, err := boltstore.Open(path, nil)
		require.NoError(t, err)
		kit, err := metalkit.Open(s, nil)
		require.NoError(t, err)
		m, err := kit.Machines.Get(ctx, "m1")
		require.NoError(t, err)
		kind, uuid, _ := strings.Cut(last, " ")
		switch {
		case kind == "allocated" && m.Allocated():
			assert.Equal(t, uuid, m.Allocation.AllocationUUID, "round %d: the acknowledged allocation is there", round)
		case kind == "allocated":
			// The free in flight committed before the kill.
		case kind == "freed" && m.Allocated():
			assert.NotEqual(t, uuid, m.Allocation.AllocationUUID, "round %d: the acknowledged free is there; only a newer allocation in flight may follow it", round)
		}
		rep, err := kit.Check(ctx, &check.Options{})
		require.NoError(t, err)
		assert.Empty(t, rep.Findings, "round %d: consistent after the kill", round)
		if m.Allocated() {
			_, err := kit.Machines.Free(ctx, "m1")
			require.NoError(t, err)
		}
		require.NoError(t, kit.Close())
	}
}
