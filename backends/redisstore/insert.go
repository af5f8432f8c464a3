package redisstore

import (
	"bytes"
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/metalkit/metalkit/backends"
)

var _ backends.Inserter = (*tx)(nil)

// insertion is an Insert whose key the transaction has not seen: the
// commit checks that it is still absent.
type insertion struct {
	bucket string
	key    []byte
}

// Insert implements backends.Inserter. A key the transaction wrote, read or
// scanned is decided at once; any other costs no round trip: the commit
// checks it (see commitChecked).
func (t *tx) Insert(bucket string, key, value []byte) error {
	if err := t.writable(bucket, key); err != nil {
		return err
	}
	e, known := t.written(bucket, key)
	found := known && !e.del
	if !known {
		_, found, known = t.bucket(bucket).lookup(key)
	}
	if found {
		return backends.KeyExistsError(bucket, key)
	}
	if !known {
		t.inserts = append(t.inserts, insertion{bucket: bucket, key: bytes.Clone(key)})
	}
	t.buffer(bucket, key, value, false)
	return nil
}

// commitChecked commits the overlay like commit, as one script inside
// MULTI/EXEC that first checks that no key of an Insert holds a value and
// writes nothing if one does. The script runs atomically, and EXEC still
// fails when a WATCHed key changed.
func (t *tx) commitChecked(ctx context.Context) error {
	args := []any{len(t.inserts)}
	for _, in := range t.inserts {
		args = append(args, t.bucket(in.bucket).value+string(in.key))
	}
	t.eachBucketWrite(func(w bucketWrite) {
		for i := 0; i < len(w.del); i++ {
			args = append(args, "d", w.del[i], w.bk.index, w.zrem[i])
		}
		for i := 0; i < len(w.mset); i += 2 {
			args = append(args, "s", w.mset[i], w.mset[i+1], w.bk.index, w.zadd[i/2].Member)
		}
		switch {
		case len(w.mset) == 0:
			args = append(args, "e", w.bk.index, w.bk.version, w.bk.name)
		case w.bk.exists:
			args = append(args, "i", w.bk.version)
		default:
			args = append(args, "n", w.bk.version, w.bk.name)
		}
	})
	var cmd *redis.Cmd
	cached := t.s.cachedCommit.Load()
	err := t.exec(ctx, "commit (its outcome is unknown)", func(p redis.Pipeliner) {
		if cached {
			cmd = checkedCommit.EvalSha(ctx, p, []string{t.s.registry}, args...)
		} else {
			cmd = checkedCommit.Eval(ctx, p, []string{t.s.registry}, args...)
		}
	})
	if cached && err != nil && cmd != nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		// The server lost its script cache (a restart) and ran nothing of
		// the commit; EXEC released the WATCHes, so the attempt runs again
		// and sends the script itself, which caches it again.
		t.s.cachedCommit.Store(false)
		return errRetry
	}
	if err != nil {
		return err
	}
	t.s.cachedCommit.Store(true)
	i, err := cmd.Int()
	if err != nil {
		return failure("commit (its outcome is unknown)", err)
	}
	if i > 0 && i <= len(t.inserts) {
		in := t.inserts[i-1]
		return backends.KeyExistsError(in.bucket, in.key)
	}
	return nil
}

// checkedCommit is the commit of a transaction with Inserts. KEYS[1] is the
// store's registry. ARGV: the number n of keys to check, the n value keys
// that must hold no value, then the writes:
//
//	d <value key> <index> <member>           delete a key
//	s <value key> <value> <index> <member>   set a key
//	i <version>                              count a write to a bucket
//	n <version> <name>                       count a write to a bucket new in the registry
//	e <index> <version> <name>               settle a bucket only deleted from
//
// It returns 0 after writing, or the position (from 1) of the first key
// that holds a value, having written nothing.
var checkedCommit = redis.NewScript(`
local n = tonumber(ARGV[1])
for j = 1, n do
  if redis.call('EXISTS', ARGV[1 + j]) == 1 then return j end
end
local i = n + 2
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'd' then
    redis.call('DEL', ARGV[i+1])
    redis.call('ZREM', ARGV[i+2], ARGV[i+3])
    i = i + 4
  elseif op == 's' then
    redis.call('SET', ARGV[i+1], ARGV[i+2])
    redis.call('ZADD', ARGV[i+3], 0, ARGV[i+4])
    i = i + 5
  elseif op == 'i' then
    redis.call('INCR', ARGV[i+1])
    i = i + 2
  elseif op == 'n' then
    redis.call('INCR', ARGV[i+1])
    redis.call('ZADD', KEYS[1], 0, ARGV[i+2])
    i = i + 3
  else
    if redis.call('EXISTS', ARGV[i+1]) == 1 then
      redis.call('INCR', ARGV[i+2])
    else
      redis.call('DEL', ARGV[i+2])
      redis.call('ZREM', KEYS[1], ARGV[i+3])
    end
    i = i + 4
  end
end
return 0`)
