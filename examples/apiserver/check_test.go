package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends/boltstore"
	"github.com/metalkit/metalkit/switchstate"
)

// TestCheckFlag checks a bbolt file that holds a switch connection of a
// machine that does not exist: -check reports it and fails, -check
// -repair repairs it and succeeds, and a second -check finds nothing.
func TestCheckFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	store, err := boltstore.Open(path, nil)
	require.NoError(t, err)
	kit, err := metalkit.Open(store, nil)
	require.NoError(t, err)
	ctx := context.Background()
	var nics []switchstate.MachineNic
	for _, sw := range []string{"leaf01", "leaf02"} {
		_, _, err = kit.Switches.Register(ctx, switchstate.RegisterRequest{ID: sw, PartitionID: "p1", RackID: "rack01",
			OS: &switchstate.OS{Vendor: switchstate.VendorSONiC}, Nics: []switchstate.RegisterNic{{Name: "Ethernet0", Identifier: sw + "-Eth1/1"}}})
		require.NoError(t, err)
		nics = append(nics, switchstate.MachineNic{Name: "lan-" + sw, Neighbors: []switchstate.Neighbor{{Hostname: sw, Identifier: sw + "-Eth1/1", Name: "Ethernet0"}}})
	}
	require.NoError(t, kit.Update(ctx, func(tx *metalkit.Tx) error {
		_, _, err := tx.Switches.ConnectMachine("ghost", "p1", nics)
		return err
	}))
	require.NoError(t, kit.Close())

	noEnv := func(string) string { return "" }
	var out bytes.Buffer
	err = run(ctx, []string{"-check", "-store", path}, noEnv, &out, io.Discard)
	require.ErrorContains(t, err, "1 findings remain in the bolt store "+path)
	assert.Contains(t, out.String(), `machine.connection: machine: switches [leaf01 leaf02] hold connections of machine "ghost", which does not exist [repairable] (keys switchstate/machine/ghost)`)
	assert.Contains(t, out.String(), "1 findings, 1 repairable (dry run")

	out.Reset()
	require.NoError(t, run(ctx, []string{"-check", "-repair", "-store", "bolt:" + path}, noEnv, &out, io.Discard))
	assert.Contains(t, out.String(), "1 findings, 1 repaired")
	assert.Contains(t, out.String(), "after the repairs: 0 findings")

	out.Reset()
	require.NoError(t, run(ctx, []string{"-check", "-store", path}, noEnv, &out, io.Discard), "no key is needed")
	assert.Contains(t, out.String(), "0 findings, 0 repairable")

	err = run(ctx, []string{"-check", "-store", filepath.Join(t.TempDir(), "missing.db")}, noEnv, io.Discard, io.Discard)
	assert.ErrorContains(t, err, "there is no store file to check")
	err = run(ctx, []string{"-repair", "-hmac-admin", "k"}, noEnv, io.Discard, io.Discard)
	assert.ErrorContains(t, err, "-repair needs -check")
}
