package errdefs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/metalkit/metalkit/errdefs"
)

var errLocal = errdefs.Sentinel(errdefs.ErrNotFound, "pkg: not found")

func TestSentinelMatchesItsClassOnly(t *testing.T) {
	assert.ErrorIs(t, errLocal, errdefs.ErrNotFound)
	assert.NotErrorIs(t, errLocal, errdefs.ErrConflict)
	wrapped := fmt.Errorf("context: %w", errLocal)
	assert.ErrorIs(t, wrapped, errLocal)
	assert.ErrorIs(t, wrapped, errdefs.ErrNotFound)
	assert.Equal(t, errdefs.ErrNotFound, errdefs.Class(wrapped))
}

func TestErrorfKeepsMessageAndMatchesKindAndCauses(t *testing.T) {
	cause := errdefs.Sentinel(errdefs.ErrExhausted, "lower: exhausted")
	err := errdefs.Errorf(errLocal, "pkg: network %q: %w", "n1", cause)
	assert.Equal(t, `pkg: network "n1": lower: exhausted`, err.Error())
	assert.ErrorIs(t, err, errLocal)
	assert.ErrorIs(t, err, errdefs.ErrNotFound)
	assert.ErrorIs(t, err, cause)
	assert.ErrorIs(t, err, errdefs.ErrExhausted)

	joined := errdefs.Errorf(errLocal, "pkg: %w", errors.Join(cause, errdefs.ErrUnavailable))
	assert.ErrorIs(t, joined, errdefs.ErrUnavailable)
	assert.Equal(t, errdefs.ErrUnavailable, errdefs.Class(joined), "unavailable wins")

	plain := errdefs.Errorf(nil, "x %d", 1)
	assert.Equal(t, "x 1", plain.Error())
	assert.Nil(t, errdefs.Class(plain))
	assert.Nil(t, errdefs.Class(nil))
}

func TestQuoteBoundsLongInput(t *testing.T) {
	assert.Equal(t, `"a\x00b"`, errdefs.Quote("a\x00b"))
	long := strings.Repeat("é", 100_000)
	q := errdefs.Quote(long)
	assert.Less(t, len(q), 3*errdefs.MaxQuote)
	assert.True(t, strings.HasSuffix(q, "(200000 bytes)"), q)
}

func ExampleErrorf() {
	var ErrNotFound = errdefs.Sentinel(errdefs.ErrNotFound, "network: not found")
	err := errdefs.Errorf(ErrNotFound, "network: network %s does not exist", errdefs.Quote("internet"))
	fmt.Println(err)
	fmt.Println(errors.Is(err, ErrNotFound), errors.Is(err, errdefs.ErrNotFound), errors.Is(err, errdefs.ErrConflict))
	// Output:
	// network: network "internet" does not exist
	// true true false
}

func TestWithAddsKinds(t *testing.T) {
	errReserved := errdefs.Sentinel(errdefs.ErrConflict, "pkg: reserved")
	err := errdefs.With(errdefs.Errorf(errLocal, "pkg: address 10.0.0.0 is reserved"), errReserved)
	assert.Equal(t, "pkg: address 10.0.0.0 is reserved", err.Error())
	assert.ErrorIs(t, err, errLocal)
	assert.ErrorIs(t, err, errReserved)
	assert.ErrorIs(t, err, errdefs.ErrConflict)
	assert.Nil(t, errdefs.With(nil, errReserved))
}
