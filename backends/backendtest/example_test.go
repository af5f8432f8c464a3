package backendtest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/memstore"
)

// A test shows that a failing call changed nothing: dump the store before,
// make the call, compare.
func ExampleDump() {
	t := &testing.T{} // in a real test, the test's own *testing.T
	store := memstore.New()
	ctx := context.Background()
	_ = store.Update(ctx, func(tx backends.Tx) error { return tx.Put("accounts", []byte("alice"), []byte("10")) })

	before := backendtest.Dump(t, store)
	err := store.Update(ctx, func(tx backends.Tx) error {
		if err := tx.Put("accounts", []byte("alice"), []byte("0")); err != nil {
			return err
		}
		return errors.New("transfer refused")
	})
	after := backendtest.Dump(t, store)
	fmt.Println(err)
	fmt.Printf("changes: %q\n", before.Diff(after, 0))

	_ = store.Update(ctx, func(tx backends.Tx) error { return tx.Put("accounts", []byte("bob"), []byte("5")) })
	fmt.Println(before.Diff(backendtest.Dump(t, store), 0))
	// Output:
	// transfer refused
	// changes: ""
	// + "accounts" "bob" = "5"
}
