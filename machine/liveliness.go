package machine

import "time"

// EvaluateLiveliness returns a machine's liveliness at now from its event
// container c (nil when it has none): Unknown without a container; c's own
// liveliness while LastEventTime is unset; when the last event is more
// than DeadAfter ago, Unknown for an allocated machine (its image may not
// phone home) and Dead for a free one; otherwise Alive. The service runs it
// over all machines and writes only the containers whose liveliness
// changes.
func EvaluateLiveliness(allocated bool, c *EventContainer, now time.Time) Liveliness {
	switch {
	case c == nil:
		return Unknown
	case c.LastEventTime.IsZero():
		return c.Liveliness
	case now.Sub(c.LastEventTime) <= DeadAfter:
		return Alive
	case allocated:
		return Unknown
	}
	return Dead
}

// ShouldResurrect reports whether a machine is to be freed again (see
// Free) by the resurrection pass: only a free machine with a container
// qualifies, when it is Dead (as EvaluateLiveliness gives it at now, so the
// answer does not depend on whether the liveliness pass ran first) with
// the last event more than ResurrectAfter ago, or when its container has
// FailedMachineReclaim set.
func ShouldResurrect(allocated bool, c *EventContainer, now time.Time) bool {
	if allocated || c == nil {
		return false
	}
	if c.FailedMachineReclaim {
		return true
	}
	return EvaluateLiveliness(false, c, now) == Dead && !c.LastEventTime.IsZero() && now.Sub(c.LastEventTime) > ResurrectAfter
}
