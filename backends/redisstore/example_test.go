package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/redisstore"
)

// Example opens a store on a Redis server and increments a counter in one
// optimistic transaction. It needs a server, so it is compiled but not run.
func Example() {
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer client.Close() // the store never closes the caller's client

	store, err := redisstore.New(client, &redisstore.Options{KeyPrefix: "myapp"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	var n int
	// fn may run more than once: it only computes into n, which each run
	// overwrites.
	err = store.Update(context.Background(), func(tx backends.Tx) error {
		n = 0
		v, err := tx.Get("counters", []byte("visits"))
		switch {
		case errors.Is(err, backends.ErrNotFound):
		case err != nil:
			return err
		default:
			if n, err = strconv.Atoi(string(v)); err != nil {
				return err
			}
		}
		n++
		return tx.Put("counters", []byte("visits"), []byte(strconv.Itoa(n)))
	})
	if errors.Is(err, backends.ErrConflict) {
		log.Fatal("too many concurrent writers: ", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("visits:", n)
}
