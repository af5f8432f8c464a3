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
// metal-api's four figures (available_ips, used_ips, available_prefixes,
// used_prefixes), capped at ConsumptionCap after summing, and beside them
// the exact, uncapped figures as decimal strings.
type FamilyConsumption struct {
	ipam.Consumption

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
	var capacity, used, free, blocks big.Int
	for _, u := range us {
		capacity.Add(&capacity, u.Capacity)
		used.Add(&used, u.UsedIPs)
		free.Add(&free, u.FreeIPs)
		blocks.Add(&blocks, u.FreeSmallestChildren)
	}
	return &FamilyConsumption{
		Consumption:            ipam.SumCompatible(us...),
		ExactCapacity:          capacity.String(),
		ExactUsedIPs:           used.String(),
		ExactFreeIPs:           free.String(),
		ExactAvailablePrefixes: blocks.String(),
	}
}
