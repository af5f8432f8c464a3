package redisstore

import (
	"bytes"
	"strconv"
)

// readLog is what fn read in one attempt: the keys it got, the scans with
// how many keys each went through, the registry listings. The next attempt
// after a conflict reads all of it in its first step.
type readLog struct {
	gets     []logGet
	scans    []logScan
	seen     map[string]int // get or scan -> its index in gets or scans
	listings []string       // registry listings, by their first name
}

type logGet struct {
	bucket string
	key    []byte
}

type logScan struct {
	bucket string
	from   []byte
	desc   bool
	pulled int
}

func (l *readLog) empty() bool { return len(l.gets)+len(l.scans)+len(l.listings) == 0 }

func logKey(kind byte, bucket string, key []byte, desc bool) string {
	d := "a"
	if desc {
		d = "d"
	}
	return string(kind) + d + strconv.Itoa(len(bucket)) + ":" + bucket + string(key)
}

// index returns the index seen holds for k, or records n for it and
// returns false.
func (l *readLog) index(k string, n int) (int, bool) {
	if i, ok := l.seen[k]; ok {
		return i, true
	}
	if l.seen == nil {
		l.seen = make(map[string]int)
	}
	l.seen[k] = n
	return n, false
}

func (l *readLog) get(bucket string, key []byte) {
	if _, seen := l.index(logKey('g', bucket, key, false), len(l.gets)); seen {
		return
	}
	l.gets = append(l.gets, logGet{bucket: bucket, key: bytes.Clone(key)})
}

func (l *readLog) scan(bucket string, from []byte, desc bool, pulled int) {
	k := logKey('s', bucket, from, desc)
	if from == nil {
		k += "\xffnil" // from the end, not from a key
	}
	if i, seen := l.index(k, len(l.scans)); seen {
		l.scans[i].pulled = max(l.scans[i].pulled, pulled)
		return
	}
	l.scans = append(l.scans, logScan{bucket: bucket, from: bytes.Clone(from), desc: desc, pulled: pulled})
}

func (l *readLog) names(from string) {
	for _, n := range l.listings {
		if n == from {
			return
		}
	}
	l.listings = append(l.listings, from)
}

// replayLimit is how far the replay of a scan that went through pulled
// keys reads: as far again as before, plus room for keys added meanwhile.
func replayLimit(pulled int) int {
	return min(pulled+max(firstScanBatch, pulled/4)+1, maxStepKeys)
}

// replay reads, in one step, everything the previous attempt read (see
// readLog). An Update's step WATCHes what it reads, as every read does. A
// View's step is unwatched: it is consistent by itself, and the View needs
// neither validation nor UNWATCH unless fn reads beyond it, which taints the
// attempt (modeSnapshot). A log too large for one step is not replayed.
func (t *tx) replay(l *readLog) {
	var ops []*readOp
	for _, g := range l.gets {
		ops = append(ops, &readOp{kind: opGet, b: t.bucket(g.bucket), key: g.key})
	}
	for _, s := range l.scans {
		ops = append(ops, newScanOp(t.bucket(s.bucket), s.from, s.desc, replayLimit(s.pulled)))
	}
	for _, n := range l.listings {
		ops = append(ops, &readOp{kind: opNames, from: n})
	}
	keys := 0
	for _, op := range ops {
		keys += op.size()
	}
	if keys > maxStepKeys {
		return
	}
	if t.readOnly {
		t.mode = modeSnapshot
	}
	if err := t.step(ops); err != nil {
		return // t.failed is set: the attempt fails with it
	}
	for _, op := range ops {
		if op.kind == opNames {
			if r := t.registry; r == nil || op.from < r.from {
				t.registry = &registryRead{from: op.from, names: op.names}
			}
		}
	}
}
