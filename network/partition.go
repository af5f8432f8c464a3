package network

import (
	"errors"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/errdefs"
)

// UnderlayTx returns the underlay network of a partition, or an error
// wrapping ErrNotFound.
func UnderlayTx(tx backends.Tx, partition string) (*Network, error) {
	b, err := tx.Get(bucketUnderlay, idKey(partition))
	if errors.Is(err, backends.ErrNotFound) {
		return nil, errdefs.Errorf(ErrNotFound, "network: partition %s has no underlay network", errdefs.Quote(partition))
	}
	if err != nil {
		return nil, err
	}
	return GetTx(tx, string(b))
}
