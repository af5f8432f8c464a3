package boltstore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/boltstore"
)

// The process tests run this test binary again as a child. helperEnv selects
// the child's role, fileEnv names the bbolt file.
const (
	helperEnv = "BOLTSTORE_TEST_HELPER"
	fileEnv   = "BOLTSTORE_TEST_FILE"
)

// TestHelperProcess is the child's side of the process tests; it does
// nothing in a normal test run.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv(helperEnv)
	if role == "" {
		t.Skip("runs only as the child of a process test")
	}
	path := os.Getenv(fileEnv)
	s, err := boltstore.Open(path, nil)
	if err != nil {
		fmt.Println("open failed:", err)
		os.Exit(2)
	}
	switch role {
	case "commit":
		// Four writers commit one key per Update (so their calls share
		// group commits) and print each key once Update returned nil. The
		// parent kills the process at some point.
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					k := fmt.Sprintf("w%d-%06d", w, i)
					err := s.Update(context.Background(), func(tx backends.Tx) error {
						return tx.Put("acked", []byte(k), []byte(k))
					})
					mu.Lock()
					if err != nil {
						fmt.Println("update failed:", err)
						os.Exit(2)
					}
					fmt.Println("committed", k)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	case "hold":
		// Hold the file (and its lock) until the parent closes stdin.
		fmt.Println("holding")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		_ = s.Close()
	}
	os.Exit(0)
}

// child starts this test binary as a helper with role and the bbolt file
// path, and returns the command and its standard output.
func child(t *testing.T, role, path string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+role, fileEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	in, err := cmd.StdinPipe() // kept open until cleanup: "hold" waits for it to close
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = in.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, bufio.NewScanner(out)
}

// TestKilledProcessKeepsAcknowledgedUpdates SIGKILLs a process that is
// committing updates and checks that every update it saw acknowledged is in
// the file.
func TestKilledProcessKeepsAcknowledgedUpdates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "killed.db")
	cmd, lines := child(t, "commit", path)
	var acked []string
	for lines.Scan() {
		line := lines.Text()
		k, ok := strings.CutPrefix(line, "committed ")
		if !ok {
			if strings.Contains(line, "failed") {
				t.Fatalf("child: %s", line)
			}
			continue
		}
		acked = append(acked, k)
		if len(acked) == 300 {
			require.NoError(t, cmd.Process.Kill()) // SIGKILL on Unix
		}
	}
	require.NoError(t, lines.Err())
	require.Error(t, cmd.Wait(), "the child must have been killed")
	require.GreaterOrEqual(t, len(acked), 300)

	s, err := boltstore.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	present := map[string]bool{}
	require.NoError(t, s.View(context.Background(), func(tx backends.Tx) error {
		clear(present)
		return tx.Ascend("acked", nil, func(k, v []byte) (bool, error) {
			present[string(k)] = string(k) == string(v)
			return true, nil
		})
	}))
	missing := 0
	for _, k := range acked {
		if !present[k] {
			missing++
			t.Errorf("acknowledged key %s is missing or damaged after the kill", k)
		}
	}
	assert.Zero(t, missing, "of %d acknowledged keys", len(acked))
	t.Logf("%d keys acknowledged before the kill, %d in the file", len(acked), len(present))
}

// TestOpenLockedByOtherProcess opens a file that another process holds: Open
// gives up after its timeout with an error that names the file.
func TestOpenLockedByOtherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "held.db")
	_, lines := child(t, "hold", path)
	require.True(t, lines.Scan(), "the child did not start: %v", lines.Err())
	require.Equal(t, "holding", lines.Text())

	type result struct {
		s   *boltstore.Store
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := boltstore.Open(path, &boltstore.Options{Timeout: 200 * time.Millisecond})
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.s != nil {
			_ = r.s.Close()
		}
		require.Error(t, r.err, "a second process opened a held file")
		require.ErrorIs(t, r.err, boltstore.ErrLocked)
		assert.Contains(t, r.err.Error(), path, "the error must name the file")
		t.Logf("Open: %v", r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("Open on a file held by another process did not return")
	}
}
