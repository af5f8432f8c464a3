package ipam

import "github.com/metalkit/metalkit/internal/storetest"

// Every store a test of this package leaves behind must be consistent.
func init() { storetest.RegisterCheck(Check) }
