// Package storeflag opens the store that an example program's -store flag
// names, so that every example reads the flag the same way.
//
// A spec is one of:
//
//	memory                  an in-memory store, gone when the program ends
//	bolt                    a new bbolt file in a new temporary folder, removed at the end
//	bolt:<path>             the bbolt file at path (created when absent)
//	<path>                  the same, for a path without a scheme (e.g. metalkit.db)
//	redis://host:port/db    a Redis server (any URL that go-redis' ParseURL takes;
//	rediss:// for TLS)
package storeflag

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/boltstore"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/backends/redisstore"
)

// Usage describes the accepted specs, for a flag's help text.
const Usage = `where to keep the state: "memory", "bolt" (a new file in a temporary folder), "bolt:<path>" or a file path, or "redis://host:port/db"`

// Options configure Open. A nil *Options means all defaults.
type Options struct {
	// KeyPrefix is the Redis key prefix of the store; empty means
	// redisstore's default.
	KeyPrefix string
	// TempPattern names the temporary folder of the "bolt" spec (see
	// os.MkdirTemp); empty means "metalkit-".
	TempPattern string
	// Bolt configures a bbolt store; nil means boltstore's defaults.
	Bolt *boltstore.Options
}

// Opened is an open store and what Open made for it.
type Opened struct {
	// Store is the open store. Closing it is the caller's job (metalkit.Kit
	// does it), before Cleanup.
	Store backends.Store
	// Kind is "memory", "bolt" or "redis".
	Kind string
	// Path is the bbolt file of a bolt store, else empty.
	Path string
	// Cleanup releases what Open made besides the store: the Redis client
	// and the temporary folder of the "bolt" spec. It is never nil and may
	// be called once the store is closed.
	Cleanup func()
}

// Open opens the store spec names. A spec with a scheme other than
// bolt:, redis:// and rediss:// is refused with an error that quotes it.
func Open(spec string, opts *Options) (*Opened, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case spec == "memory":
		return &Opened{Store: memstore.New(), Kind: "memory", Cleanup: func() {}}, nil
	case spec == "bolt":
		pattern := o.TempPattern
		if pattern == "" {
			pattern = "metalkit-"
		}
		dir, err := os.MkdirTemp("", pattern)
		if err != nil {
			return nil, fmt.Errorf("-store %q: %w", spec, err)
		}
		path := filepath.Join(dir, "metalkit.db")
		s, err := boltstore.Open(path, o.Bolt)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("-store %q: %w", spec, err)
		}
		return &Opened{Store: s, Kind: "bolt", Path: path, Cleanup: func() { _ = os.RemoveAll(dir) }}, nil
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		ropts, err := redis.ParseURL(spec)
		if err != nil {
			return nil, fmt.Errorf("-store %q: %w", spec, err)
		}
		client := redis.NewClient(ropts)
		s, err := redisstore.New(client, &redisstore.Options{KeyPrefix: o.KeyPrefix})
		if err != nil {
			_ = client.Close()
			return nil, fmt.Errorf("-store %q: %w", spec, err)
		}
		return &Opened{Store: s, Kind: "redis", Cleanup: func() { _ = client.Close() }}, nil
	}
	path, isBolt := BoltPath(spec)
	if !isBolt || spec == "" {
		return nil, fmt.Errorf(`-store %q: want "memory", "bolt", "bolt:<path>", a file path or "redis://host:port/db"`, spec)
	}
	if path == "" {
		return nil, fmt.Errorf("-store %q: the bbolt file path is empty", spec)
	}
	s, err := boltstore.Open(path, o.Bolt)
	if err != nil {
		return nil, fmt.Errorf("-store %q: %w", spec, err)
	}
	return &Opened{Store: s, Kind: "bolt", Path: path, Cleanup: func() {}}, nil
}

// BoltPath returns the bbolt file a spec names: the path after "bolt:", or
// the spec itself when it is none of "memory", "bolt" (a new temporary
// file) and a URL; ok is false for those.
func BoltPath(spec string) (path string, ok bool) {
	if p, ok := strings.CutPrefix(spec, "bolt:"); ok {
		return p, true
	}
	if spec == "memory" || spec == "bolt" || strings.Contains(spec, "://") {
		return "", false
	}
	return spec, true
}

// OpenKit opens a kit with opts over the opened store; when that fails it
// closes the store. Closing the kit closes the store too.
func (o *Opened) OpenKit(opts *metalkit.Options) (*metalkit.Kit, error) {
	kit, err := metalkit.Open(o.Store, opts)
	if err != nil {
		_ = o.Store.Close()
		return nil, err
	}
	return kit, nil
}
