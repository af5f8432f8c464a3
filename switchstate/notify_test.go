package switchstate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/internal/storetest"
)

// Scenario 9, on every store.
func TestNotifyStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		f := newFixture(t, s, nil)
		f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0)))

		res, err := f.svc.Notify(ctx, "leaf01", NotifyRequest{SyncDuration: 10 * time.Second})
		require.NoError(t, err)
		assert.Equal(t, "leaf01", res.ID)
		require.NotNil(t, res.LastSync)
		assert.Equal(t, 10*time.Second, res.LastSync.Duration)
		assert.True(t, res.LastSync.Time.Equal(t0))
		assert.Nil(t, res.LastSync.Error)
		assert.Nil(t, res.LastSyncError, "last_sync_error unchanged")

		f.clock.Add(10 * time.Second)
		res, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{SyncDuration: 2 * time.Second, Error: ptr("failed to apply config")})
		require.NoError(t, err)
		require.NotNil(t, res.LastSyncError)
		assert.Equal(t, "failed to apply config", *res.LastSyncError.Error)
		assert.Equal(t, 2*time.Second, res.LastSyncError.Duration)
		assert.True(t, res.LastSyncError.Time.Equal(t0.Add(10*time.Second)))
		assert.True(t, res.LastSync.Time.Equal(t0), "last_sync unchanged")
		sw := f.get("leaf01")
		assert.Equal(t, res.LastSync, sw.LastSync)
		assert.Equal(t, res.LastSyncError, sw.LastSyncError)

		_, err = f.svc.Notify(ctx, "leaf09", NotifyRequest{SyncDuration: time.Second})
		assert.ErrorIs(t, err, ErrNotFound)
		assert.ErrorContains(t, err, "leaf09")
		assert.NotContains(t, dumpStore(t, s, bucketStatus), bucketStatus+"|leaf09", "no status record")

		before := dumpStore(t, s, bucketSwitch, bucketStatus)
		_, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{PortStates: map[string]PortState{"Ethernet0": "HALF"}})
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.ErrorContains(t, err, "HALF")
		assert.Equal(t, before, dumpStore(t, s, bucketSwitch, bucketStatus), "nothing written")
	})
}

func TestNotifyJSON(t *testing.T) {
	var req NotifyRequest
	require.NoError(t, json.Unmarshal([]byte(`{"sync_duration":10000000000,"error":null,"port_states":{"Ethernet0":"up"},"bgp_port_states":{}}`), &req))
	assert.Equal(t, 10*time.Second, req.SyncDuration)
	assert.Nil(t, req.Error)
	assert.NotNil(t, req.BGPPortStates, "{} is a report of no sessions")
	require.NoError(t, json.Unmarshal([]byte(`{"sync_duration":1}`), &req))
	var absent NotifyRequest
	require.NoError(t, json.Unmarshal([]byte(`{"sync_duration":1,"bgp_port_states":null}`), &absent))
	assert.Nil(t, absent.BGPPortStates)

	f := newFixture(t, nil, nil)
	f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0)))
	var lower NotifyRequest
	require.NoError(t, json.Unmarshal([]byte(`{"port_states":{"Ethernet0":"up"}}`), &lower))
	_, err := f.svc.Notify(ctx, "leaf01", lower)
	require.NoError(t, err)
	assert.Equal(t, PortUp, f.get("leaf01").Nics[0].Actual, "states are read case-insensitively")
}

// Scenario 10.
func TestSetState(t *testing.T) {
	cases := []struct {
		name     string
		stored   Nic
		reported PortState
		want     Nic
		changed  bool
	}{
		{"none+UP", Nic{}, PortUp, Nic{Actual: PortUp}, true},
		{"DOWN,desired UP+UP", Nic{Actual: PortDown, Desired: PortUp}, PortUp, Nic{Actual: PortUp}, true},
		{"UP,desired DOWN+UP", Nic{Actual: PortUp, Desired: PortDown}, PortUp, Nic{Actual: PortUp, Desired: PortDown}, false},
		{"UP+DOWN", Nic{Actual: PortUp}, PortDown, Nic{Actual: PortDown}, true},
		{"UP+UP", Nic{Actual: PortUp}, PortUp, Nic{Actual: PortUp}, false},
		{"UP,desired DOWN+DOWN", Nic{Actual: PortUp, Desired: PortDown}, PortDown, Nic{Actual: PortDown}, true},
		{"DOWN,desired DOWN+DOWN", Nic{Actual: PortDown, Desired: PortDown}, PortDown, Nic{Actual: PortDown}, true},
		{"UNKNOWN,desired UP+DOWN", Nic{Actual: PortUnknown, Desired: PortUp}, PortDown, Nic{Actual: PortDown, Desired: PortUp}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := c.stored
			assert.Equal(t, c.changed, n.SetState(c.reported))
			assert.Equal(t, c.want, n)
		})
	}

	// {UP} + DOWN through notify: the output shows actual DOWN, no desired.
	f := newFixture(t, nil, nil)
	f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0, 4)))
	_, err := f.svc.Notify(ctx, "leaf01", NotifyRequest{PortStates: map[string]PortState{"Ethernet0": PortUp, "Ethernet99": PortUp}})
	require.NoError(t, err)
	_, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{PortStates: map[string]PortState{"Ethernet0": PortDown}})
	require.NoError(t, err)
	sw := f.get("leaf01")
	raw, err := json.Marshal(nicOf(t, sw, "Ethernet0"))
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"actual":"DOWN"`)
	assert.NotContains(t, string(raw), `"desired"`)
	assert.Equal(t, PortUnknown, nicOf(t, sw, "Ethernet4").Actual, "ports not named keep their state")
}

func TestWantState(t *testing.T) {
	cases := []struct {
		name    string
		stored  Nic
		want    PortState
		result  Nic
		changed bool
	}{
		{"none", Nic{}, PortDown, Nic{Actual: PortUnknown, Desired: PortDown}, true},
		{"actual=s", Nic{Actual: PortUp}, PortUp, Nic{Actual: PortUp}, false},
		{"actual=s,desired set", Nic{Actual: PortUp, Desired: PortDown}, PortUp, Nic{Actual: PortUp}, true},
		{"actual!=s", Nic{Actual: PortUp}, PortDown, Nic{Actual: PortUp, Desired: PortDown}, true},
		{"actual!=s,same desired", Nic{Actual: PortUp, Desired: PortDown}, PortDown, Nic{Actual: PortUp, Desired: PortDown}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := c.stored
			assert.Equal(t, c.changed, n.WantState(c.want))
			assert.Equal(t, c.result, n)
		})
	}
}

// Scenario 11, on every store.
func TestToggle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		f := newFixture(t, s, nil)
		f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0, 4)))

		_, err := f.svc.Toggle(ctx, "leaf01", "wrongname", PortDown)
		assert.ErrorIs(t, err, ErrNotFound)
		assert.ErrorContains(t, err, "wrongname")
		_, err = f.svc.Toggle(ctx, "leaf01", "Ethernet0", PortUnknown)
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.ErrorContains(t, err, `the status "UNKNOWN" must be concrete`)
		_, err = f.svc.Toggle(ctx, "leaf09", "Ethernet0", PortDown)
		assert.ErrorIs(t, err, ErrNotFound)

		// An unconnected port, named in another case.
		sw, err := f.svc.Toggle(ctx, "leaf01", "ethernet4", PortDown)
		require.NoError(t, err)
		n := nicOf(t, sw, "Ethernet4")
		assert.Equal(t, PortDown, n.Desired)
		assert.Equal(t, PortUnknown, n.Actual)

		_, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{PortStates: map[string]PortState{"Ethernet4": PortDown}})
		require.NoError(t, err)
		n = nicOf(t, f.get("leaf01"), "Ethernet4")
		assert.Equal(t, PortDown, n.Actual)
		assert.Empty(t, n.Desired, "the report met the wish")

		// Toggling to the actual state changes nothing and writes nothing.
		before := rawGet(t, s, bucketSwitch, "leaf01")
		_, err = f.svc.Toggle(ctx, "leaf01", "Ethernet4", "down")
		require.NoError(t, err)
		assert.Equal(t, before, rawGet(t, s, bucketSwitch, "leaf01"))
	})
}

// Scenario 12, on every store.
func TestNotifyBGP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		rec := &recordingStore{Store: s}
		f := newFixture(t, rec, nil)
		f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0, 4)))
		e0 := BGPPortState{Neighbor: "m1", PeerGroup: "MACHINE", VrfName: "vrf20", BgpState: BGPEstablished, BgpTimerUpEstablished: t0.Unix() - 60, SentPrefixCounter: 3, AcceptedPrefixCounter: 1}
		e4 := BGPPortState{Neighbor: "m2", PeerGroup: "MACHINE", VrfName: "vrf20", BgpState: BGPIdle}
		_, err := f.svc.Notify(ctx, "leaf01", NotifyRequest{BGPPortStates: map[string]BGPPortState{"Ethernet0": e0, "10.0.0.1": e0}})
		require.NoError(t, err)
		got := nicOf(t, f.get("leaf01"), "Ethernet0").BGPPortState
		require.NotNil(t, got)
		assert.Equal(t, e0, got.stored())
		assert.True(t, got.Reported.Equal(t0))
		assert.False(t, got.Stale)
		assert.Len(t, dumpStore(t, s, bgpBucket("leaf01")), 1, "names that are not ports are ignored")

		f.clock.Add(10 * time.Second)
		_, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{BGPPortStates: map[string]BGPPortState{"Ethernet4": e4}})
		require.NoError(t, err)
		sw := f.get("leaf01")
		assert.Nil(t, nicOf(t, sw, "Ethernet0").BGPPortState, "absent from the map: cleared")
		require.NotNil(t, nicOf(t, sw, "Ethernet4").BGPPortState)
		assert.Equal(t, BGPIdle, nicOf(t, sw, "Ethernet4").BGPPortState.BgpState)

		// Without the map: unchanged, and last_bgp_report stays.
		f.clock.Add(10 * time.Second)
		_, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{})
		require.NoError(t, err)
		b := nicOf(t, f.get("leaf01"), "Ethernet4").BGPPortState
		require.NotNil(t, b)
		assert.True(t, b.Reported.Equal(t0.Add(10*time.Second)))

		// The same map again: no switch write, no BGP write, only the status.
		rec.reset()
		_, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{BGPPortStates: map[string]BGPPortState{"Ethernet4": e4}})
		require.NoError(t, err)
		assert.Equal(t, []string{bucketStatus + "|leaf01"}, rec.puts)
		assert.Empty(t, rec.deletes)

		// {}: all cleared.
		_, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{BGPPortStates: map[string]BGPPortState{}})
		require.NoError(t, err)
		for _, n := range f.get("leaf01").Nics {
			assert.Nil(t, n.BGPPortState, n.Name)
		}
		assert.Empty(t, dumpStore(t, s, bgpBucket("leaf01")))
	})
}

// A report whose only news are BGP counters rewrites the port's BGP key and
// the status record, never the switch record.
func TestNotifyCountersOnlyLeavesSwitchRecord(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		rec := &recordingStore{Store: s}
		f := newFixture(t, rec, nil)
		f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0, 4, 8)))
		report := func(sent int64) NotifyRequest {
			return NotifyRequest{
				PortStates: map[string]PortState{"Ethernet0": PortUp, "Ethernet4": PortUp, "Ethernet8": PortDown},
				BGPPortStates: map[string]BGPPortState{
					"Ethernet0": {Neighbor: "spine01", PeerGroup: "FABRIC", VrfName: "default", BgpState: BGPEstablished, BgpTimerUpEstablished: 1773056572, SentPrefixCounter: sent, AcceptedPrefixCounter: 95},
					"Ethernet4": {Neighbor: "spine02", PeerGroup: "FABRIC", VrfName: "default", BgpState: BGPEstablished, BgpTimerUpEstablished: 1773056570, SentPrefixCounter: sent, AcceptedPrefixCounter: 95},
				},
			}
		}
		_, err := f.svc.Notify(ctx, "leaf01", report(59))
		require.NoError(t, err)
		before := rawGet(t, s, bucketSwitch, "leaf01")
		hist := dumpStore(t, s, historyBucket("leaf01"))

		rec.reset()
		f.clock.Add(10 * time.Second)
		_, err = f.svc.Notify(ctx, "leaf01", report(60))
		require.NoError(t, err)
		assert.Equal(t, before, rawGet(t, s, bucketSwitch, "leaf01"), "switch record bytes unchanged")
		puts := slices.Clone(rec.puts)
		slices.Sort(puts)
		assert.Equal(t, []string{bgpBucket("leaf01") + "|Ethernet0", bgpBucket("leaf01") + "|Ethernet4", bucketStatus + "|leaf01"}, puts)
		for _, p := range rec.puts {
			assert.False(t, strings.HasPrefix(p, bucketSwitch+"|"), "switch record written: %s", p)
		}
		assert.Equal(t, hist, dumpStore(t, s, historyBucket("leaf01")), "counters are no transition")
		assert.Equal(t, int64(60), nicOf(t, f.get("leaf01"), "Ethernet0").BGPPortState.SentPrefixCounter)
	})
}

// Scenario 13.
func TestBGPStale(t *testing.T) {
	f := newFixture(t, nil, &Options{SyncInterval: 10 * time.Second, StaleAfter: 3})
	f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0)))
	_, err := f.svc.Notify(ctx, "leaf01", NotifyRequest{BGPPortStates: map[string]BGPPortState{"Ethernet0": {BgpState: BGPEstablished}}})
	require.NoError(t, err)
	f.clock.Add(30 * time.Second)
	assert.False(t, f.get("leaf01").Nics[0].BGPPortState.Stale, "30 s ago")
	// Reports without a map do not refresh the BGP states.
	_, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{})
	require.NoError(t, err)
	f.clock.Add(time.Second)
	b := f.get("leaf01").Nics[0].BGPPortState
	require.NotNil(t, b, "stale states are still returned")
	assert.True(t, b.Stale, "31 s ago")
	assert.True(t, b.Reported.Equal(t0))
}

// Scenario 14.
func TestBGPHistoryAndFlaps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		f := newFixture(t, s, nil)
		f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0)))
		send := func(st BGPPortState) {
			f.clock.Add(10 * time.Second)
			_, err := f.svc.Notify(ctx, "leaf01", NotifyRequest{BGPPortStates: map[string]BGPPortState{"Ethernet0": st}})
			require.NoError(t, err)
		}
		send(BGPPortState{BgpState: BGPEstablished, BgpTimerUpEstablished: 1000})
		send(BGPPortState{BgpState: BGPIdle})
		since := f.clock.Now().Add(time.Nanosecond) // just after the drop to Idle
		send(BGPPortState{BgpState: BGPEstablished, BgpTimerUpEstablished: 2000})
		send(BGPPortState{BgpState: BGPEstablished, BgpTimerUpEstablished: 2000, SentPrefixCounter: 9})
		send(BGPPortState{BgpState: BGPEstablished, BgpTimerUpEstablished: 3000})

		h, err := f.svc.History(ctx, "leaf01", "Ethernet0")
		require.NoError(t, err)
		require.Len(t, h, 4)
		want := [][2]BGPState{{BGPEstablished, BGPEstablished}, {BGPIdle, BGPEstablished}, {BGPEstablished, BGPIdle}, {"", BGPEstablished}}
		for i, tr := range h {
			assert.Equal(t, want[i], [2]BGPState{tr.From, tr.To}, "newest first, #%d", i)
		}
		assert.True(t, h[0].Time.After(h[1].Time))
		n, err := f.svc.Flaps(ctx, "leaf01", "Ethernet0", time.Time{})
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		n, err = f.svc.Flaps(ctx, "leaf01", "Ethernet0", since)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "only the re-establishment is at or after since")

		_, err = f.svc.Notify(ctx, "leaf01", NotifyRequest{BGPPortStates: map[string]BGPPortState{}})
		require.NoError(t, err)
		h, err = f.svc.History(ctx, "leaf01", "Ethernet0")
		require.NoError(t, err)
		assert.Equal(t, [2]BGPState{BGPEstablished, ""}, [2]BGPState{h[0].From, h[0].To}, "clearing is a transition")

		_, err = f.svc.History(ctx, "leaf09", "Ethernet0")
		assert.ErrorIs(t, err, ErrNotFound)
		h, err = f.svc.History(ctx, "leaf01", "Ethernet99")
		require.NoError(t, err)
		assert.Empty(t, h)
	})
}

func TestBGPHistoryIsBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s backends.Store) {
		f := newFixture(t, s, &Options{BGPHistory: 64})
		f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 0, 4)))
		for i := range 70 {
			f.clock.Add(time.Second)
			// Ethernet4 keeps one session so that its history stays apart.
			_, err := f.svc.Notify(ctx, "leaf01", NotifyRequest{BGPPortStates: map[string]BGPPortState{
				"Ethernet0": {BgpState: BGPEstablished, BgpTimerUpEstablished: int64(i + 1)},
				"Ethernet4": {BgpState: BGPActive},
			}})
			require.NoError(t, err)
		}
		h, err := f.svc.History(ctx, "leaf01", "Ethernet0")
		require.NoError(t, err)
		require.Len(t, h, 64)
		assert.True(t, h[0].Time.Equal(t0.Add(70*time.Second)), "newest kept")
		assert.True(t, h[63].Time.Equal(t0.Add(7*time.Second)), "the oldest six dropped")
		h4, err := f.svc.History(ctx, "leaf01", "Ethernet4")
		require.NoError(t, err)
		assert.Len(t, h4, 1)
		assert.Len(t, dumpStore(t, s, historyBucket("leaf01")), 65, "dropped in the same transactions")
	})
}

func TestNotifyRenamedPortsAreDistinct(t *testing.T) {
	// Port names that are prefixes of each other keep separate histories.
	f := newFixture(t, nil, nil)
	f.register(switchReq("leaf01", "SONiC", "rack01", sonicPorts("leaf01", 1, 10, 100)))
	for i := range 3 {
		f.clock.Add(time.Second)
		_, err := f.svc.Notify(ctx, "leaf01", NotifyRequest{BGPPortStates: map[string]BGPPortState{
			"Ethernet1": {BgpState: BGPState(fmt.Sprint("S", i))}, "Ethernet10": {BgpState: BGPIdle},
		}})
		require.NoError(t, err)
	}
	h1, err := f.svc.History(ctx, "leaf01", "Ethernet1")
	require.NoError(t, err)
	h10, err := f.svc.History(ctx, "leaf01", "Ethernet10")
	require.NoError(t, err)
	assert.Len(t, h1, 3)
	assert.Len(t, h10, 1)
}
