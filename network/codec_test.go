package network

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleNetworks() []*Network {
	created := time.Date(2024, 5, 10, 12, 0, 0, 123456789, time.UTC)
	return []*Network{
		{ID: "n"},
		{
			ID: "super-fra", Name: "super", Description: "the super network", PartitionID: "fra",
			ProjectID:           "3f0f4a52-6d1e-4a7e-9a53-0c2f6f7e1b2a",
			Prefixes:            []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("2001:db8:0:10::/64")},
			DestinationPrefixes: []netip.Prefix{}, DefaultChildPrefixLength: ChildLengths{IPv4: 22, IPv6: 96},
			PrivateSuper: true, VRF: 131072, Labels: map[string]string{"a": "1", "b": ""},
			AdditionalAnnouncableCIDRs: []netip.Prefix{netip.MustParsePrefix("10.240.0.0/12")},
			NetworkType:                KindSuper, Created: created, Changed: created.Add(time.Hour),
		},
		{
			ID: "c", ParentNetworkID: "3F0F4A52-6D1E-4A7E-9A53-0C2F6F7E1B2A", Shared: true, NAT: true, Underlay: true,
			Prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
			Labels:   map[string]string{}, DefaultChildPrefixLength: ChildLengths{},
			AdditionalAnnouncableCIDRs: []netip.Prefix{}, NetworkType: KindChildShared,
			Created: created.In(time.FixedZone("", 5*3600+1800)), Changed: created.In(time.FixedZone("", -3600)),
		},
		{ID: "l", Created: created.Local(), Changed: created.Local(), Consumption: &Consumption{}},
	}
}

func sampleIPs() []*IP {
	created := time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC)
	return []*IP{
		{IPAddress: netip.MustParseAddr("10.0.0.1"), Type: IPTypeEphemeral, Tags: []string{}},
		{
			IPAddress: netip.MustParseAddr("2001:db8::1"), AllocationUUID: "6e4f0c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b",
			NetworkID: "internet", ProjectID: "p", Name: "web", Description: "a static one", Type: IPTypeStatic,
			Tags: []string{MachineTagPrefix + "m1", "x"}, Created: created, Changed: created.Add(time.Second),
		},
		{IPAddress: netip.MustParseAddr("192.0.2.7"), Type: "odd", Tags: nil, Created: created.In(time.FixedZone("", 7200)), Changed: created.In(time.FixedZone("", 7200))},
	}
}

// jsonRoundTrip is what the records used to return: the value through its
// JSON.
func jsonRoundTrip[T any](t *testing.T, v *T) *T {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out T
	require.NoError(t, json.Unmarshal(b, &out))
	return &out
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// The stored forms give back what JSON gave back, consumption aside (it is
// never stored), and the same Go values as far as JSON can tell them apart.
func TestCodecRoundTrip(t *testing.T) {
	for _, n := range sampleNetworks() {
		got, err := decodeNetwork(n.ID, encodeNetwork(n))
		require.NoError(t, err, n.ID)
		want := jsonRoundTrip(t, n)
		want.Consumption = nil
		assert.Equal(t, jsonOf(t, want), jsonOf(t, got), n.ID)
		assert.Equal(t, want.Labels == nil, got.Labels == nil, "labels of %s", n.ID)
		assert.Equal(t, want.DestinationPrefixes == nil, got.DestinationPrefixes == nil, "destination prefixes of %s", n.ID)
		assert.True(t, want.Created.Equal(got.Created) && want.Changed.Equal(got.Changed), n.ID)
		assert.Equal(t, want.Created.Location().String(), got.Created.Location().String(), n.ID)
	}
	for _, ip := range sampleIPs() {
		got, bits, err := decodeIP(ip.IPAddress, encodeIP(ip, 24))
		require.NoError(t, err, ip.IPAddress)
		assert.Equal(t, 24, bits)
		want := jsonRoundTrip(t, ip)
		assert.Equal(t, jsonOf(t, want), jsonOf(t, got), ip.IPAddress)
		assert.Equal(t, want.Tags == nil, got.Tags == nil, "tags of %s", ip.IPAddress)
	}
}

// A UUID in canonical form takes 16 bytes; anything else is kept as it is.
func TestCodecIDs(t *testing.T) {
	for _, id := range []string{"", "internet", "6e4f0c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b", "6E4F0C1A-2B3D-4E5F-8A9B-0C1D2E3F4A5B", "urn:uuid:6e4f0c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b", "{6e4f0c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b}"} {
		ip := &IP{IPAddress: netip.MustParseAddr("10.0.0.1"), AllocationUUID: id, NetworkID: id, ProjectID: id}
		got, _, err := decodeIP(ip.IPAddress, encodeIP(ip, 24))
		require.NoError(t, err)
		assert.Equal(t, id, got.AllocationUUID)
		assert.Equal(t, id, got.ProjectID)
	}
	short := encodeIP(&IP{AllocationUUID: "6e4f0c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b"}, 0)
	long := encodeIP(&IP{AllocationUUID: "6E4F0C1A-2B3D-4E5F-8A9B-0C1D2E3F4A5B"}, 0)
	assert.Equal(t, len(long)-len(short), 36+1-16, "a canonical UUID takes 16 bytes")
}

// Every truncation and every unknown format is an error, never a panic or
// a partial record.
func TestCodecCorrupt(t *testing.T) {
	for _, n := range sampleNetworks() {
		b := encodeNetwork(n)
		for i := range b {
			_, err := decodeNetwork(n.ID, b[:i])
			require.Error(t, err, "network %s cut at %d", n.ID, i)
		}
		_, err := decodeNetwork(n.ID, append(b, 0))
		require.Error(t, err, "trailing byte")
		_, err = decodeNetwork(n.ID, append([]byte{9}, b[1:]...))
		require.ErrorContains(t, err, "format 9")
	}
	for _, ip := range sampleIPs() {
		b := encodeIP(ip, 24)
		for i := range b {
			_, _, err := decodeIP(ip.IPAddress, b[:i])
			require.Error(t, err, "ip %s cut at %d", ip.IPAddress, i)
		}
	}
}

func FuzzDecodeIP(f *testing.F) {
	for _, ip := range sampleIPs() {
		f.Add(encodeIP(ip, 24))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a := netip.MustParseAddr("10.0.0.1")
		ip, bits, err := decodeIP(a, b)
		if err != nil {
			return
		}
		again, bits2, err := decodeIP(a, encodeIP(ip, bits))
		require.NoError(t, err)
		require.Equal(t, ip, again)
		require.Equal(t, bits, bits2)
	})
}

func FuzzDecodeNetwork(f *testing.F) {
	for _, n := range sampleNetworks() {
		f.Add(encodeNetwork(n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeNetwork("n", b)
		if err != nil {
			return
		}
		again, err := decodeNetwork("n", encodeNetwork(n))
		require.NoError(t, err)
		require.Equal(t, n, again)
	})
}
