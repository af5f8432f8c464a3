package network

import (
	"math/big"

	"github.com/metalkit/metalkit/ipam"
)

// ConsumptionCap is the highest figure the compatible consumption reports;
// every value at or above it reports the cap.
const ConsumptionCap = ipam.ConsumptionCap

// Consumption is a network's usage per family; a family the network lacks
// is nil.
type Consumption struct {
	IPv4 *FamilyConsumption `json:"ipv4"`
	IPv6 *FamilyConsumption `json:"ipv6"`
}

// FamilyConsumption sums the usage of a network's prefixes of one family:
// metal-api's four figures, each summed exactly over the prefixes and then
// capped at ConsumptionCap (ipam.Capped), and beside them the exact,
// uncapped figures as decimal strings.
type FamilyConsumption struct {
	// AvailableIPs is the capacity of the prefixes, 2^(W-L) each (not the
	// free count).
	AvailableIPs uint64 `json:"available_ips"`
	// UsedIPs counts the addresses taken, reserved ones included.
	UsedIPs uint64 `json:"used_ips"`
	// AvailablePrefixes counts the free blocks of the smallest child size
	// (/30 for IPv4, /126 for IPv6) in the space not taken by children;
	// allocated IPs are not subtracted.
	AvailablePrefixes uint64 `json:"available_prefixes"`
	// UsedPrefixes counts the child prefixes taken.
	UsedPrefixes uint64 `json:"used_prefixes"`

	// ExactCapacity is the number of addresses of the prefixes.
	ExactCapacity string `json:"exact_capacity"`
	// ExactUsedIPs is the number of addresses taken, reserved included.
	ExactUsedIPs string `json:"exact_used_ips"`
	// ExactFreeIPs is ExactCapacity minus ExactUsedIPs.
	ExactFreeIPs string `json:"exact_free_ips"`
	// ExactAvailablePrefixes is the uncapped available_prefixes.
	ExactAvailablePrefixes string `json:"exact_available_prefixes"`
}

func familyConsumption(us []ipam.Usage) *FamilyConsumption {
	var capacity, used, free, blocks, children big.Int
	for _, u := range us {
		capacity.Add(&capacity, u.Capacity)
		used.Add(&used, u.UsedIPs)
		free.Add(&free, u.FreeIPs)
		blocks.Add(&blocks, u.FreeSmallestChildren)
		children.Add(&children, u.UsedChildren)
	}
	return &FamilyConsumption{
		AvailableIPs:           ipam.Capped(&capacity),
		UsedIPs:                ipam.Capped(&used),
		AvailablePrefixes:      ipam.Capped(&blocks),
		UsedPrefixes:           ipam.Capped(&children),
		ExactCapacity:          capacity.String(),
		ExactUsedIPs:           used.String(),
		ExactFreeIPs:           free.String(),
		ExactAvailablePrefixes: blocks.String(),
	}
}
