package redistest

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Wire is a go-redis hook that counts what a client exchanges with its
// servers: round trips (a command or a pipeline each) and bytes in both
// directions. Add it with client.AddHook before the client dials.
type Wire struct {
	roundTrips atomic.Int64
	bytes      atomic.Int64
}

// WireCount is a reading of a Wire.
type WireCount struct {
	RoundTrips int64
	Bytes      int64
}

// Sub returns the difference c - o.
func (c WireCount) Sub(o WireCount) WireCount {
	return WireCount{RoundTrips: c.RoundTrips - o.RoundTrips, Bytes: c.Bytes - o.Bytes}
}

// Count returns the counters so far.
func (w *Wire) Count() WireCount {
	return WireCount{RoundTrips: w.roundTrips.Load(), Bytes: w.bytes.Load()}
}

// DialHook implements redis.Hook: connections count their bytes.
func (w *Wire) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, n: &w.bytes}, nil
	}
}

// ProcessHook implements redis.Hook: a command is one round trip.
func (w *Wire) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		w.roundTrips.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook: a pipeline (or a MULTI/EXEC)
// is one round trip.
func (w *Wire) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		w.roundTrips.Add(1)
		return next(ctx, cmds)
	}
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}
