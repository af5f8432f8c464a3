package boltstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/boltstore"
)

func Example() {
	dir, err := os.MkdirTemp("", "boltstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := boltstore.Open(filepath.Join(dir, "metal.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// Both writes commit together, durably, or not at all.
	err = s.Update(ctx, func(tx backends.Tx) error {
		if err := tx.Put("machines", []byte("m1"), []byte("rack-1")); err != nil {
			return err
		}
		return tx.Put("machines", []byte("m2"), []byte("rack-2"))
	})
	if err != nil {
		log.Fatal(err)
	}

	err = s.View(ctx, func(tx backends.Tx) error {
		return tx.Ascend("machines", nil, func(k, v []byte) (bool, error) {
			fmt.Printf("%s in %s\n", k, v)
			return true, nil
		})
	})
	if err != nil {
		log.Fatal(err)
	}

	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// m1 in rack-1
	// m2 in rack-2
}
