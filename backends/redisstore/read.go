package redisstore

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// opKind is the kind of one read of a step.
type opKind byte

const (
	opGet   opKind = 'g' // the value of one key
	opScan  opKind = 's' // a batch of keys of a bucket, with their values
	opNames opKind = 'b' // bucket names from the registry
)

// maxStepKeys bounds the keys one step reads: a Prefetch or a replay with
// more is split into several steps, and a single scan batch is capped.
const maxStepKeys = 1 << 16

// readOp is one read of a step and, once the step ran, its result.
type readOp struct {
	kind opKind
	b    *bucket
	// key is the key of a Get; for a scan, where the batch starts: the
	// smallest key it may return (empty: the first key) or, descending,
	// the bound every key it returns is below (ignored when inf).
	key   []byte
	inf   bool // a descending scan from the last key
	desc  bool
	limit int
	from  string // opNames: the first name

	val     []byte   // opGet
	found   bool     // opGet
	kvs     []entry  // opScan
	members int      // opScan: keys the batch went through
	last    []byte   // opScan: the last of them
	card    int64    // opScan: the bucket's number of keys
	names   []string // opNames
}

// newScanOp returns the read of the first limit keys of an Ascend (or
// Descend) of b from from, with the meaning of from in backends.Tx.
func newScanOp(b *bucket, from []byte, desc bool, limit int) *readOp {
	op := &readOp{kind: opScan, b: b, desc: desc, limit: limit}
	switch {
	case !desc:
		op.key = bytes.Clone(from)
	case from == nil:
		op.inf = true
	default:
		// The keys <= from are the keys < from+"\x00".
		op.key = append(bytes.Clone(from), 0)
	}
	return op
}

func (op *readOp) size() int {
	if op.kind == opScan {
		return op.limit
	}
	return 1
}

// lexBounds returns the ZRANGEBYLEX (or ZREVRANGEBYLEX) bounds of a scan
// batch, in the order the command takes them.
func (op *readOp) lexBounds() (string, string) {
	if op.desc {
		if op.inf {
			return "+", "-"
		}
		return "(" + string(op.key), "-"
	}
	if len(op.key) == 0 {
		return "-", "+"
	}
	return "[" + string(op.key), "+"
}

// readScript runs the reads of one step atomically. KEYS[1] is the
// store's registry (it routes the call to the store's node). ARGV holds the
// reads one after another:
//
//	g <value key>                                       -> {} or {value}
//	s <index> <value prefix> <bound> <bound> <n> <rev>  -> {card, k1, v1, k2, v2, ...}
//	b <min>                                             -> {name, ...}
//
// A scan returns the bucket's number of keys, then up to n keys from
// ZRANGEBYLEX (ZREVRANGEBYLEX when rev is 1), each with its value, or with
// an empty array for a key without one (which only a store changed by other
// means holds).
var readScript = redis.NewScript(readScriptSource)

const readScriptSource = `
local out, i = {}, 1
while i <= #ARGV do
  local kind = ARGV[i]
  if kind == 'g' then
    local v = redis.call('GET', ARGV[i+1])
    if v then out[#out+1] = {v} else out[#out+1] = {} end
    i = i + 2
  elseif kind == 's' then
    local idx, vp = ARGV[i+1], ARGV[i+2]
    local ks
    if ARGV[i+6] == '1' then
      ks = redis.call('ZREVRANGEBYLEX', idx, ARGV[i+3], ARGV[i+4], 'LIMIT', 0, ARGV[i+5])
    else
      ks = redis.call('ZRANGEBYLEX', idx, ARGV[i+3], ARGV[i+4], 'LIMIT', 0, ARGV[i+5])
    end
    local r = {redis.call('ZCARD', idx)}
    for _, k in ipairs(ks) do
      local v = redis.call('GET', vp .. k)
      r[#r+1] = k
      if v then r[#r+1] = v else r[#r+1] = {} end
    end
    out[#out+1] = r
    i = i + 7
  else
    out[#out+1] = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[i+1], '+')
    i = i + 2
  end
end
return out`

// read runs ops as steps (one, unless they are very many) and records what
// they returned in the attempt's knowledge.
func (t *tx) read(ops ...*readOp) error {
	for len(ops) > 0 {
		n, keys := 0, 0
		for n < len(ops) && (n == 0 || keys+ops[n].size() <= maxStepKeys) {
			keys += ops[n].size()
			n++
		}
		if err := t.step(ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// step runs ops in one round trip: the WATCHes they need and one atomic
// read, a GET or a call of readScript.
func (t *tx) step(ops []*readOp) error {
	if t.failed != nil {
		return t.failed
	}
	if t.mode == modeSnapshot && t.steps > 0 {
		t.tainted = true // beyond what the snapshot read
	}
	watching := t.mode == modeWatch || t.mode == modeProbe && !(len(ops) == 1 && ops[0].kind == opGet)
	var pr *probe
	if watching && t.probe != nil {
		pr, t.probe = t.probe, nil
		ops = append(ops[:len(ops):len(ops)], pr.op)
	}
	var watch []any
	if watching {
		watch = t.watchKeys(ops)
	}
	if err := t.send(ops, watch); err != nil {
		return err
	}
	if len(watch) > 0 {
		t.armed = true
		t.markWatched(ops)
	}
	for _, op := range ops {
		if op.b != nil {
			op.b.learn(op)
		}
	}
	switch {
	case pr != nil:
		// Everything fn read is now as of this step.
		if pr.op.found != pr.found || !bytes.Equal(pr.op.val, pr.val) {
			t.tainted = true
		}
	case t.mode == modeProbe && !watching:
		t.probe = &probe{op: &readOp{kind: opGet, b: ops[0].b, key: ops[0].key}, val: ops[0].val, found: ops[0].found}
		t.steps++
	default:
		t.steps++
	}
	if t.mode == modeProbe {
		t.mode = modeWatch
	}
	return nil
}

// probe is the unwatched first Get of a View and what it returned.
type probe struct {
	op    *readOp
	val   []byte
	found bool
}

// watchKeys returns the keys ops need WATCHed that are not watched yet: a
// value key for a Get, the version and index for a scan (which then cover
// every value of the bucket), the registry for names.
func (t *tx) watchKeys(ops []*readOp) []any {
	var keys []any
	seen := map[string]bool{}
	add := func(k string) {
		if _, done := t.watched[k]; !done && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, op := range ops {
		switch {
		case op.kind == opNames:
			add(t.s.registry)
		case op.b.watched:
		case op.kind == opScan:
			add(op.b.version)
			add(op.b.index)
		default:
			add(op.b.value + string(op.key))
		}
	}
	return keys
}

func (t *tx) markWatched(ops []*readOp) {
	if t.watched == nil {
		t.watched = make(map[string]struct{})
	}
	for _, op := range ops {
		switch op.kind {
		case opNames:
			t.watched[t.s.registry] = struct{}{}
		case opScan:
			op.b.watched = true
		default:
			t.watched[op.b.value+string(op.key)] = struct{}{}
		}
	}
}

// send runs the step on the server and fills in the results of ops.
func (t *tx) send(ops []*readOp, watch []any) error {
	ctx := t.ctx
	if len(ops) == 1 && ops[0].kind == opGet {
		op := ops[0]
		get := redis.NewStringCmd(ctx, "get", op.b.value+string(op.key))
		if err := t.run(watch, get); err != nil {
			return err
		}
		c, err := result(get)
		if err != nil {
			return t.fail(fmt.Sprintf("get bucket %q key %x", op.b.name, op.key), err)
		}
		op.val, op.found = c.val, c.found
		return nil
	}
	if onlyGets(ops) {
		// MGET is atomic too, and smaller than a script call.
		keys := make([]string, len(ops))
		for i, op := range ops {
			keys[i] = op.b.value + string(op.key)
		}
		mget := redis.NewSliceCmd(ctx, append([]any{"mget"}, anys(keys)...)...)
		if err := t.run(watch, mget); err != nil {
			return err
		}
		vals, err := mget.Result()
		if err == nil && len(vals) != len(ops) {
			err = errReply
		}
		if err != nil {
			return t.fail(describe(ops), err)
		}
		for i, op := range ops {
			v, ok := vals[i].(string)
			op.val, op.found = []byte(v), ok
			if !ok {
				op.val = nil
			}
		}
		return nil
	}
	args := append([]any{"evalsha", readScript.Hash(), 1, t.s.registry}, scriptArgs(ops)...)
	script := redis.NewCmd(ctx, args...)
	if err := t.run(watch, script); err != nil {
		return err
	}
	if redis.HasErrorPrefix(script.Err(), "NOSCRIPT") {
		// The server lost its script cache (a restart): send the script
		// itself, which caches it again.
		args[0], args[1] = "eval", readScriptSource
		script = redis.NewCmd(ctx, args...)
		if err := t.run(watch, script); err != nil {
			return err
		}
	}
	if err := script.Err(); err != nil {
		return t.fail(describe(ops), err)
	}
	if err := decodeResults(ops, script.Val()); err != nil {
		return t.fail(describe(ops), err)
	}
	return nil
}

// run sends the WATCH of keys (if any) and cmd in one round trip. It
// returns the failure of the WATCH; cmd's own error is left in cmd.
func (t *tx) run(watch []any, cmd redis.Cmder) error {
	ctx := t.ctx
	if len(watch) == 0 {
		_ = t.rtx.Process(ctx, cmd)
		return nil
	}
	p := t.rtx.Pipeline()
	w := redis.NewStatusCmd(ctx, append([]any{"watch"}, watch...)...)
	_ = p.Process(ctx, w)
	_ = p.Process(ctx, cmd)
	_, _ = p.Exec(ctx)
	if err := w.Err(); err != nil {
		return t.fail("watch and read", err)
	}
	return nil
}

func onlyGets(ops []*readOp) bool {
	for _, op := range ops {
		if op.kind != opGet {
			return false
		}
	}
	return true
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func scriptArgs(ops []*readOp) []any {
	var args []any
	for _, op := range ops {
		switch op.kind {
		case opGet:
			args = append(args, "g", op.b.value+string(op.key))
		case opScan:
			a, b := op.lexBounds()
			rev := "0"
			if op.desc {
				rev = "1"
			}
			args = append(args, "s", op.b.index, op.b.value, a, b, op.limit, rev)
		case opNames:
			lo := "-"
			if op.from != "" {
				lo = "[" + op.from
			}
			args = append(args, "b", lo)
		}
	}
	return args
}

var errReply = errors.New("unexpected reply of the read script")

func decodeResults(ops []*readOp, reply any) error {
	all, ok := reply.([]any)
	if !ok || len(all) != len(ops) {
		return errReply
	}
	for i, op := range ops {
		r, ok := all[i].([]any)
		if !ok {
			return errReply
		}
		switch op.kind {
		case opGet:
			switch len(r) {
			case 0:
				op.val, op.found = nil, false
			case 1:
				s, ok := r[0].(string)
				if !ok {
					return errReply
				}
				op.val, op.found = []byte(s), true
			default:
				return errReply
			}
		case opScan:
			if len(r) == 0 || len(r)%2 != 1 {
				return errReply
			}
			card, ok := r[0].(int64)
			if !ok {
				return errReply
			}
			op.card, op.members, op.last = card, len(r)/2, nil
			op.kvs = make([]entry, 0, len(r)/2)
			for j := 1; j < len(r); j += 2 {
				k, ok := r[j].(string)
				if !ok {
					return errReply
				}
				op.last = []byte(k)
				switch v := r[j+1].(type) {
				case string:
					op.kvs = append(op.kvs, entry{key: op.last, val: []byte(v)})
				case []any: // a key without a value: not there
				default:
					return errReply
				}
			}
		case opNames:
			op.names = make([]string, len(r))
			for j, x := range r {
				s, ok := x.(string)
				if !ok {
					return errReply
				}
				op.names[j] = s
			}
		}
	}
	return nil
}

func describe(ops []*readOp) string {
	if len(ops) == 1 && ops[0].kind == opScan {
		return fmt.Sprintf("scan bucket %q", ops[0].b.name)
	}
	return fmt.Sprintf("read %d keys and ranges", len(ops))
}

// cached is a value read with GET, or its absence.
type cached struct {
	val   []byte
	found bool
}

// result converts the reply of a GET.
func result(get *redis.StringCmd) (cached, error) {
	v, err := get.Bytes()
	switch {
	case err == nil:
		return cached{val: v, found: true}, nil
	case errors.Is(err, redis.Nil):
		return cached{}, nil
	default:
		return cached{}, err
	}
}
