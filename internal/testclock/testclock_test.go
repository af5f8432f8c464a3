package testclock_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/metalkit/metalkit/internal/testclock"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := testclock.New(t0)
	assert.Equal(t, t0, c.Now())
	assert.Equal(t, t0, c.Now(), "a clock without a step stands still")
	c.Add(time.Minute)
	assert.Equal(t, t0.Add(time.Minute), c.Now())
	c.Set(t0)
	assert.Equal(t, t0, c.Now())

	s := testclock.NewStepping(t0, time.Second)
	assert.Equal(t, t0, s.Now())
	assert.Equal(t, t0.Add(time.Second), s.Now(), "each reading moves it on by the step")
}
