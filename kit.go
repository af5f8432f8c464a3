package metalkit

import (
	"errors"

	"github.com/metalkit/metalkit/backends"
)

// Options configures Open. A nil *Options means the defaults of every
// service.
type Options struct{}

// Kit composes every metalkit service over one backends.Store.
type Kit struct {
	// Store is the store every service reads and writes.
	Store backends.Store
}

// Open composes the services over store. The Kit owns the store from then
// on: Kit.Close closes it.
func Open(store backends.Store, opts *Options) (*Kit, error) {
	if store == nil {
		return nil, errors.New("metalkit: Open: store is nil")
	}
	if opts == nil {
		opts = &Options{}
	}
	return &Kit{Store: store}, nil
}

// Close closes the store.
func (k *Kit) Close() error {
	return k.Store.Close()
}
