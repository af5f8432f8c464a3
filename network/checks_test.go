package network_test

import (
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/ipam"
	"github.com/metalkit/metalkit/network"
)

// Every store a test of this package leaves behind must be consistent.
func init() {
	storetest.RegisterCheck(ipam.Check)
	storetest.RegisterCheck(network.Check)
}
