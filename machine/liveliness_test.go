package machine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/metalkit/metalkit/machine"
)

// Scenario 6, the pure part.
func TestEvaluateLiveliness(t *testing.T) {
	at := func(d time.Duration) *machine.EventContainer {
		return &machine.EventContainer{Liveliness: machine.Alive, LastEventTime: ago(d)}
	}
	assert.Equal(t, machine.Dead, machine.EvaluateLiveliness(false, at(6*time.Minute), now))
	assert.Equal(t, machine.Unknown, machine.EvaluateLiveliness(true, at(6*time.Minute), now))
	assert.Equal(t, machine.Alive, machine.EvaluateLiveliness(false, at(time.Minute), now))
	assert.Equal(t, machine.Alive, machine.EvaluateLiveliness(true, at(time.Minute), now))
	assert.Equal(t, machine.Alive, machine.EvaluateLiveliness(false, at(5*time.Minute), now), "exactly five minutes is not more")

	assert.Equal(t, machine.Unknown, machine.EvaluateLiveliness(false, nil, now), "no container")
	unset := &machine.EventContainer{Liveliness: machine.Dead}
	assert.Equal(t, machine.Dead, machine.EvaluateLiveliness(false, unset, now), "no last_event_time: unchanged")
	unset.Liveliness = machine.Alive
	assert.Equal(t, machine.Alive, machine.EvaluateLiveliness(true, unset, now))
}

func TestShouldResurrect(t *testing.T) {
	dead := &machine.EventContainer{Liveliness: machine.Dead, LastEventTime: ago(2 * time.Hour)}
	assert.True(t, machine.ShouldResurrect(false, dead, now), "dead, free, last event 2 h ago")
	assert.False(t, machine.ShouldResurrect(true, dead, now), "allocated machines are never resurrected")

	stale := &machine.EventContainer{Liveliness: machine.Alive, LastEventTime: ago(2 * time.Hour)}
	assert.True(t, machine.ShouldResurrect(false, stale, now), "dead by now, even before the liveliness pass stored it")

	recent := &machine.EventContainer{Liveliness: machine.Dead, LastEventTime: ago(30 * time.Minute)}
	assert.False(t, machine.ShouldResurrect(false, recent, now), "dead for less than an hour")
	edge := &machine.EventContainer{Liveliness: machine.Dead, LastEventTime: ago(time.Hour)}
	assert.False(t, machine.ShouldResurrect(false, edge, now), "exactly an hour is not more")

	failed := &machine.EventContainer{Liveliness: machine.Alive, LastEventTime: ago(time.Minute), FailedMachineReclaim: true}
	assert.True(t, machine.ShouldResurrect(false, failed, now), "failed reclaim")
	assert.False(t, machine.ShouldResurrect(true, failed, now))

	assert.False(t, machine.ShouldResurrect(false, nil, now), "no container")
	assert.False(t, machine.ShouldResurrect(false, &machine.EventContainer{Liveliness: machine.Dead}, now), "no last event")
}
