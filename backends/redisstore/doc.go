// Package redisstore is the Redis backends.Store: one store shared by many
// processes through a Redis server (standalone, Sentinel or Cluster).
//
// # Transactions
//
// Transactions are optimistic. A transaction WATCHes every key before it
// reads it (the WATCH travels in the same pipeline as the read, so it costs
// no extra round trip), keeps its own writes in an ordered in-memory overlay
// (so Get and scans see them), and commits them all at once with MULTI/EXEC.
// When EXEC reports that a watched key changed, fn is run again after a
// jittered exponential backoff, up to Options.MaxRetries times, and then
// the transaction fails with an error wrapping backends.ErrConflict. Views
// run the same way and end with an empty MULTI/EXEC that proves nothing
// they read changed, so a View never sees half of another transaction.
//
// Every read is one atomic step on the server: a GET, or one call of a
// small Lua script that reads several keys and ranges of keys with their
// values at once. Whatever fn read in one step is consistent by itself, so
// a transaction that read everything in one step needs no validation: its
// watches are released (UNWATCH) instead of being checked by EXEC.
//
// A View's first Get is sent without WATCH, because one GET is consistent on
// its own: a View that reads one key costs one round trip. Should the View
// read more, the next step re-reads that key, under WATCH and in the same
// script call as the new reads, and runs fn again if it changed in between.
//
// # Answers that cannot be trusted
//
// When fn returns an error, the transaction first learns whether what fn
// read was consistent, since the error may stem from a torn read (an
// exhausted pool that only looked exhausted): if fn read in more than one
// step, an empty MULTI/EXEC checks the watches; on a conflict fn runs
// again, and when the check itself fails (a lost connection, a timeout)
// the result is an error wrapping backends.ErrUnavailable and the network
// error, never fn's error. A read that failed makes the whole attempt fail
// with that read's error, whatever fn returned.
//
// # What a transaction reads, and how often
//
// A transaction remembers what it read from Redis: values of keys, and for
// each bucket the key ranges it has seen in full. Since what it read is
// watched, Redis cannot change it unnoticed, so a Get or a scan over ground
// already covered is answered from memory. A scan reads its first batch of
// firstScanBatch keys with their values in one step (so a seek costs one
// round trip) and grows its batches fourfold up to Options.ScanBatch.
//
// Tx implements backends.Prefetcher: announced reads (backends.Prefetch,
// backends.GetMany) are fetched in one step. And a transaction that runs
// again after a conflict first fetches, in one step, everything its
// previous run read (the same keys, each scan as far as it went plus some
// slack): a retried Update then costs two round trips, and a retried View
// reads everything in one step without any WATCH, so it cannot conflict
// again unless fn goes beyond what it read before. That is what keeps a
// View that reads thousands of keys from being starved by writers of the
// same keys.
//
// Tx implements backends.Inserter: backends.Insert of a key the
// transaction has not read costs no read. The commit of a transaction with
// such Inserts is one Lua script inside the MULTI/EXEC that first checks
// that none of their keys holds a value, and writes nothing (Update then
// fails with backends.ErrKeyExists) if one does.
//
// Round trips, uncontended: a Get of a key not read before is one (WATCH
// and GET pipelined), a scan one per batch, a Prefetch one, the commit (or
// the validation of a View that read in more than one step) one
// MULTI/EXEC; writes cost nothing until the commit, and releasing the
// watches of a transaction that needs no validation costs one UNWATCH.
//
// # Failures
//
// Reads never commit anything, so a failed read leaves the store as it
// was; the error wraps backends.ErrUnavailable. A commit whose reply is
// lost (the connection dropped after EXEC was sent) may or may not have
// been applied: Update reports backends.ErrUnavailable and does not run fn
// again. EXEC applies all of a transaction's writes or none of them, and a
// transaction's connection is never reused after a failure, so no write is
// ever applied without the validation of what it was based on.
//
// # Key layout
//
// With the key prefix P (Options.KeyPrefix, "metalkit" by default) and a
// bucket B of n bytes (n written in decimal), a store uses these keys:
//
//	{P}:v:<n>:<B>:<key>   string: the value stored under key in B
//	{P}:i:<n>:<B>         sorted set: every key of B as a member, all with
//	                      score 0, so ZRANGEBYLEX orders them bytewise
//	{P}:n:<n>:<B>         integer: B's version, INCRed by every commit that
//	                      writes to B
//	{P}:b                 sorted set: the name of every bucket that holds a
//	                      key, for Tx.Buckets
//	{P}:a                 never written; WATCHed first by a client other
//	                      than a Client, ClusterClient or Ring, so that it
//	                      picks the store's node
//
// A bucket's keys exist exactly while it holds a key: Redis drops an empty
// sorted set by itself, and a commit that empties a bucket deletes its
// version key and registry entry in the same MULTI/EXEC (a small Lua script
// decides, because only the server knows at EXEC time whether the index is
// empty). Deleting the version key, like incrementing it, fails every
// transaction that WATCHed it.
//
// The length prefix keeps bucket names apart: "a" with key "b:c" and "a:b"
// with key "c" map to {P}:v:1:a:b:c and {P}:v:3:a:b:c. The one-letter
// kinds keep the families of keys apart. Keys and bucket names are
// binary; Redis compares sorted-set members bytewise, as bytes.Compare does.
//
// Every key under {P} belongs to the store. Changing them by other means is
// not supported: a concurrent store notices only writes that INCR the
// bucket's version, and a key of the wrong type makes a commit fail halfway
// (Redis does not roll back a MULTI/EXEC whose command fails at run time).
//
// Why string keys and a sorted set rather than one hash per bucket: WATCH
// works on whole keys, so one key per value lets transactions that read
// different keys of one bucket commit concurrently; the sorted set gives
// ordered, batched iteration without scanning the keyspace (no KEYS or
// SCAN); and the version key lets a scan be protected by one WATCH instead
// of one per key it passed.
//
// Reading a key WATCHes its value key. Scanning a bucket WATCHes the
// bucket's version and index instead of every key, so a transaction that
// scanned a bucket conflicts with any concurrent write to that bucket (the
// contract in package backends allows this; domain packages choose small
// buckets for it).
//
// # Hash tag and Redis Cluster
//
// The braces make P the hash tag of every key: Redis Cluster puts all keys
// of one store in one hash slot, which is what allows a WATCH, a script
// and a MULTI/EXEC over several of them. The trade-off is that one store
// lives on one shard: a cluster spreads different stores (different
// prefixes), not the data of one store. The prefix must not contain
// braces, which would change the tag.
//
// With a *redis.ClusterClient (or a *redis.Ring) every transaction runs on
// the connection of the node that owns the store's slot, as the client's
// slot table names it. A transaction that meets a MOVED reply while the
// slot migrates fails with that error; it is not retried.
package redisstore
