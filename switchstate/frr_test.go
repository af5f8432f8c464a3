package switchstate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return data
}

// Scenario 15.
func TestParseFRRNeighborsSONiC(t *testing.T) {
	got, err := ParseFRRNeighbors(readFixture(t, "frr-sonic.json"))
	require.NoError(t, err)
	assert.Len(t, got, 6)
	assert.Equal(t, BGPPortState{
		Neighbor: "fra-equ01-spine02", PeerGroup: "FABRIC", VrfName: "default", BgpState: BGPEstablished,
		BgpTimerUpEstablished: 1773056572, SentPrefixCounter: 59, AcceptedPrefixCounter: 95,
	}, got["Ethernet120"], "EVPN counters are not counted")
	assert.Equal(t, int64(60), got["Ethernet20"].SentPrefixCounter, "ipv4Unicast 59 + ipv6Unicast 1")
	assert.Equal(t, int64(4), got["Ethernet20"].AcceptedPrefixCounter)
	assert.Equal(t, BGPPortState{PeerGroup: "MACHINE", VrfName: "vrf20", BgpState: BGPIdle}, got["Ethernet4"], "idle peer without hostname")
	assert.Equal(t, "vrf20", got["Ethernet0"].VrfName)
	assert.Equal(t, int64(22), got["Ethernet0"].SentPrefixCounter)
	assert.Equal(t, BGPPortState{Neighbor: "gw-internet", VrfName: "vrf104009", BgpState: BGPActive}, got["10.1.0.2"], "numbered peer keyed by address")
}

func TestParseFRRNeighborsCumulusGivesTheSameSums(t *testing.T) {
	sonic, err := ParseFRRNeighbors(readFixture(t, "frr-sonic.json"))
	require.NoError(t, err)
	cumulus, err := ParseFRRNeighbors(readFixture(t, "frr-cumulus.json"))
	require.NoError(t, err)
	names, err := TranslatePortNames([]string{"Ethernet0", "Ethernet4", "Ethernet20", "Ethernet120", "Ethernet124"}, VendorSONiC, VendorCumulus)
	require.NoError(t, err)
	// Ethernet0 and Ethernet4 are breakout lanes on the Cumulus switch.
	names["Ethernet0"], names["Ethernet4"], names["Ethernet20"] = "swp1s0", "swp2s0", "swp6s0"
	for s, c := range names {
		assert.Equal(t, sonic[s], cumulus[c], "%s / %s", s, c)
	}
	assert.Equal(t, int64(59), cumulus["swp31"].SentPrefixCounter)
	assert.Equal(t, int64(60), cumulus["swp6s0"].SentPrefixCounter)
}

func TestParseFRRNeighborsEdges(t *testing.T) {
	for _, empty := range []string{"", "  \n", "{}", "null", `{"default":{"vrfId":0,"vrfName":"default"}}`} {
		got, err := ParseFRRNeighbors([]byte(empty))
		require.NoError(t, err, empty)
		assert.Empty(t, got, empty)
		assert.NotNil(t, got, empty)
	}
	_, err := ParseFRRNeighbors([]byte(`{"default":{"vrfName":"default","futureMember":1,"swp1":{"bgpState":"Established","unknown":[1],"addressFamilyInfo":{"ipv4Unicast":{"sentPrefixCounter":1},"IPv4 Unicast":{"sentPrefixCounter":2},"l2VpnEvpn":{"sentPrefixCounter":"x"}}}}}`))
	assert.ErrorIs(t, err, ErrInvalidArgument, `"futureMember": 1 is a neighbour that is no object`)
	assert.ErrorContains(t, err, `"futureMember"`)
	got, err := ParseFRRNeighbors([]byte(`{"default":{"vrfName":"default","swp1":{"bgpState":"Established","unknown":[1],"addressFamilyInfo":{"ipv4Unicast":{"sentPrefixCounter":1},"IPv4 Unicast":{"sentPrefixCounter":2},"l2VpnEvpn":{"sentPrefixCounter":"x"}}}}}`))
	require.NoError(t, err)
	assert.Equal(t, int64(3), got["swp1"].SentPrefixCounter, "all four keys are summed; other families ignored")

	bad := map[string]string{
		"invalid JSON":           `{"default":`,
		"top level array":        `[]`,
		"vrf no object":          `{"default":1}`,
		"no vrfName":             `{"default":{"vrfId":0}}`,
		"vrfName number":         `{"default":{"vrfName":7}}`,
		"vrfId string":           `{"default":{"vrfName":"default","vrfId":"0"}}`,
		"neighbour no object":    `{"default":{"vrfName":"default","swp1":"up"}}`,
		"hostname number":        `{"default":{"vrfName":"default","swp1":{"hostname":1}}}`,
		"bgpState null":          `{"default":{"vrfName":"default","swp1":{"bgpState":null}}}`,
		"timer string":           `{"default":{"vrfName":"default","swp1":{"bgpTimerUpEstablishedEpoch":"1"}}}`,
		"afi array":              `{"default":{"vrfName":"default","swp1":{"addressFamilyInfo":[]}}}`,
		"family no object":       `{"default":{"vrfName":"default","swp1":{"addressFamilyInfo":{"ipv4Unicast":3}}}}`,
		"negative counter":       `{"default":{"vrfName":"default","swp1":{"addressFamilyInfo":{"ipv4Unicast":{"acceptedPrefixCounter":-1}}}}}`,
		"fractional counter":     `{"default":{"vrfName":"default","swp1":{"addressFamilyInfo":{"ipv4Unicast":{"sentPrefixCounter":1.5}}}}}`,
		"overflowing sum":        `{"default":{"vrfName":"default","swp1":{"addressFamilyInfo":{"ipv4Unicast":{"sentPrefixCounter":9223372036854775807},"ipv6Unicast":{"sentPrefixCounter":1}}}}}`,
		"key in two VRFs":        `{"default":{"vrfName":"default","swp1":{}},"vrf20":{"vrfName":"vrf20","swp1":{}}}`,
		"trailing data":          `{} {}`,
		"counter string":         `{"default":{"vrfName":"default","swp1":{"addressFamilyInfo":{"IPv6 Unicast":{"sentPrefixCounter":"5"}}}}}`,
		"peerGroup object":       `{"default":{"vrfName":"default","swp1":{"peerGroup":{}}}}`,
		"neighbour null":         `{"default":{"vrfName":"default","swp1":null}}`,
		"vrf null":               `{"default":null}`,
		"counter too large":      `{"default":{"vrfName":"default","swp1":{"addressFamilyInfo":{"ipv4Unicast":{"sentPrefixCounter":99999999999999999999}}}}}`,
		"timer negative":         `{"default":{"vrfName":"default","swp1":{"bgpTimerUpEstablishedEpoch":-5}}}`,
		"vrfId fraction":         `{"default":{"vrfName":"default","vrfId":0.5}}`,
		"duplicate across cases": `{"a":{"vrfName":"a","10.0.0.1":{}},"b":{"vrfName":"b","10.0.0.1":{"bgpState":"Idle"}}}`,
	}
	for name, in := range bad {
		_, err := ParseFRRNeighbors([]byte(in))
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
	}
	_, err = ParseFRRNeighbors([]byte(bad["key in two VRFs"]))
	assert.ErrorContains(t, err, `"swp1"`)
	assert.ErrorContains(t, err, `"default"`)
	assert.ErrorContains(t, err, `"vrf20"`)
	_, err = ParseFRRNeighbors([]byte(bad["negative counter"]))
	assert.ErrorContains(t, err, `VRF "default" neighbour "swp1"`)
	assert.ErrorContains(t, err, "acceptedPrefixCounter")
}

func TestReadFRRFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bgp.json")
	require.NoError(t, os.WriteFile(path, readFixture(t, "frr-sonic.json"), 0o600))
	now := time.Now()
	require.NoError(t, os.Chtimes(path, now, now.Add(-30*time.Minute)))
	got, err := ReadFRRFile(path, 0, now)
	require.NoError(t, err)
	assert.Len(t, got, 6)

	require.NoError(t, os.Chtimes(path, now, now.Add(-2*time.Hour)))
	_, err = ReadFRRFile(path, 0, now)
	assert.ErrorIs(t, err, ErrStale, "2 h old")
	_, err = ReadFRRFile(path, 3*time.Hour, now)
	require.NoError(t, err)

	_, err = ReadFRRFile(filepath.Join(t.TempDir(), "missing.json"), 0, now)
	assert.ErrorIs(t, err, os.ErrNotExist)

	require.NoError(t, os.WriteFile(path, []byte(`{"default":{}}`), 0o600))
	_, err = ReadFRRFile(path, 0, time.Now())
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

func FuzzParseFRRNeighbors(f *testing.F) {
	f.Add(compactFixture(f, "frr-sonic.json"))
	f.Add(compactFixture(f, "frr-cumulus.json"))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"default":{"vrfName":"default","swp1":{"bgpState":"Idle","addressFamilyInfo":{"ipv4Unicast":{"sentPrefixCounter":1}}}}}`))
	f.Add([]byte(`{"a":{"vrfName":"a","x":{}},"b":{"vrfName":"b","x":{}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseFRRNeighbors(data)
		if err != nil {
			if got != nil {
				t.Fatalf("result %v with error %v", got, err)
			}
			return
		}
		for k, st := range got {
			if st.SentPrefixCounter < 0 || st.AcceptedPrefixCounter < 0 || st.BgpTimerUpEstablished < 0 {
				t.Fatalf("negative value for %q: %+v", k, st)
			}
			if k == "vrfName" || k == "vrfId" {
				t.Fatalf("VRF member %q taken for a neighbour", k)
			}
		}
		again, err := ParseFRRNeighbors(data)
		if err != nil || len(again) != len(got) {
			t.Fatalf("not deterministic: %v", err)
		}
		for k, v := range got {
			if again[k] != v {
				t.Fatalf("not deterministic for %q", k)
			}
		}
	})
}

func FuzzPortNames(f *testing.F) {
	for _, s := range []string{"swp1", "swp1s3", "swp10s0", "Ethernet0", "Ethernet124", "swp0", "swp1s4", "swp1-2", "swp1s", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, v := range []Vendor{VendorSONiC, VendorCumulus} {
			line, err := PortLine(name, v)
			if err != nil {
				continue
			}
			if line < 0 {
				t.Fatalf("negative line %d for %q", line, name)
			}
			for _, to := range []Vendor{VendorSONiC, VendorCumulus} {
				tr, err := TranslatePortNames([]string{name}, v, to)
				if err != nil {
					t.Fatalf("%q parses as %s but does not translate to %s: %v", name, v, to, err)
				}
				back, err := PortLine(tr[name], to)
				if err != nil || back != line {
					t.Fatalf("%q (%s, line %d) -> %q (%s): line %d, %v", name, v, line, tr[name], to, back, err)
				}
			}
		}
	})
}

// compactFixture returns a fixture with only the members the parser reads,
// a small seed on which the fuzzer's mutations stay fast.
func compactFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	var vrfs map[string]map[string]any
	require.NoError(tb, json.Unmarshal(readFixture(tb, name), &vrfs))
	for _, vrf := range vrfs {
		for k, v := range vrf {
			n, ok := v.(map[string]any)
			if !ok {
				continue
			}
			for field := range n {
				switch field {
				case "hostname", "peerGroup", "bgpState", "bgpTimerUpEstablishedEpoch", "addressFamilyInfo":
				default:
					delete(n, field)
				}
			}
			vrf[k] = n
		}
	}
	out, err := json.Marshal(vrfs)
	require.NoError(tb, err)
	return out
}
