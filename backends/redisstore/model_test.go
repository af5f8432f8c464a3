package redisstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/backends/redisstore"
	"github.com/metalkit/metalkit/internal/redistest"
)

// TestModel runs the same random transactions (writes, reads and bounded
// scans in both directions, from random start keys, announced reads) on
// memstore and on redisstore and requires the same observations. Transactions write up to
// a few hundred keys, so scans merge Redis batches with large overlays.
func TestModel(t *testing.T) {
	client := redistest.Start(t).Client(t)
	for _, batch := range []int{1, 3, 256} {
		t.Run(fmt.Sprint("batch", batch), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(batch), 42))
			model := memstore.New()
			store := newStore(t, client, &redisstore.Options{ScanBatch: batch})
			randKey := func() []byte {
				n := 1 + rng.IntN(3)
				k := make([]byte, n)
				for i := range k {
					k[i] = "\x00a\xffb"[rng.IntN(4)]
				}
				if rng.IntN(4) == 0 {
					k = append(k, byte(rng.IntN(256)), byte(rng.IntN(256)))
				}
				return k
			}
			buckets := []string{"x", "x:", "y"}
			for txn := 0; txn < 60; txn++ {
				type op struct {
					kind   int
					bucket string
					key    []byte
					limit  int
					reads  []backends.Read
				}
				var ops []op
				n, inBuckets := 1+rng.IntN(20), buckets
				if txn%10 == 0 {
					// A big transaction on one bucket: its overlay outgrows
					// the chunks a scan copies.
					n, inBuckets = 800, buckets[:1]
				}
				for i := 0; i < n; i++ {
					o := op{kind: rng.IntN(7), bucket: inBuckets[rng.IntN(len(inBuckets))], key: randKey(), limit: 1 + rng.IntN(150)}
					if rng.IntN(5) == 0 && o.kind >= 3 {
						o.key = nil // a scan from the end
					}
					if o.kind == 6 {
						// Announce a few reads, some of which follow.
						for range 1 + rng.IntN(4) {
							r := backends.Read{Bucket: buckets[rng.IntN(len(buckets))], Key: randKey()}
							if rng.IntN(2) == 0 {
								r.Limit, r.Desc = 1+rng.IntN(20), rng.IntN(2) == 0
								if rng.IntN(3) == 0 {
									r.Key = nil
								}
							}
							o.reads = append(o.reads, r)
						}
					}
					ops = append(ops, o)
				}
				fail := rng.IntN(8) == 0
				run := func(s backends.Store) (string, error) {
					var log strings.Builder
					err := s.Update(ctx, func(tx backends.Tx) error {
						log.Reset()
						for _, o := range ops {
							visit := func(k, v []byte) (bool, error) {
								fmt.Fprintf(&log, "%x=%x ", k, v)
								o.limit--
								return o.limit > 0, nil
							}
							switch o.kind {
							case 0, 1:
								if err := tx.Put(o.bucket, o.key, []byte(fmt.Sprint(txn, ":", len(o.key)))); err != nil {
									return err
								}
							case 2:
								if err := tx.Delete(o.bucket, o.key); err != nil {
									return err
								}
							case 3:
								v, err := tx.Get(o.bucket, o.key)
								if o.key == nil {
									continue
								}
								if errors.Is(err, backends.ErrNotFound) {
									log.WriteString("absent ")
								} else if err != nil {
									return err
								}
								fmt.Fprintf(&log, "get %x ", v)
							case 4:
								if err := tx.Ascend(o.bucket, o.key, visit); err != nil {
									return err
								}
								log.WriteString("| ")
							case 5:
								if err := tx.Descend(o.bucket, o.key, visit); err != nil {
									return err
								}
								log.WriteString("| ")
							case 6:
								if err := backends.Prefetch(tx, o.reads...); err != nil {
									return err
								}
							}
						}
						if fail {
							return errors.New("rolled back")
						}
						return nil
					})
					return log.String(), err
				}
				want, werr := run(model)
				got, gerr := run(store)
				require.Equal(t, werr, gerr, "txn %d", txn)
				require.Equal(t, want, got, "txn %d", txn)
			}
			for _, b := range buckets {
				require.Equal(t, dump(t, model, b), dump(t, store, b), "bucket %q", b)
			}
		})
	}
}

func dump(t *testing.T, s backends.Store, bucket string) []string {
	var out []string
	require.NoError(t, s.View(ctx, func(tx backends.Tx) error {
		out = out[:0]
		return tx.Ascend(bucket, nil, func(k, v []byte) (bool, error) {
			out = append(out, fmt.Sprintf("%x=%x", k, v))
			return true, nil
		})
	}))
	return out
}
