package machine_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// now is the clock of every test.
var now = time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC)

// ago returns now minus d.
func ago(d time.Duration) time.Time { return now.Add(-d) }

// problems returns the problems joined in err by errors.Join, nested joins
// flattened, or err alone if it is no join.
func problems(err error) []error {
	if err == nil {
		return nil
	}
	if reflect.TypeOf(err).String() != "*errors.joinError" {
		return []error{err}
	}
	var out []error
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		out = append(out, problems(e)...)
	}
	return out
}

// requireProblems checks that err joins exactly len(want) problems, each
// matching kind, and that for each of want some problem's message contains
// it.
func requireProblems(t *testing.T, err error, kind error, want ...string) {
	t.Helper()
	require.Error(t, err)
	ps := problems(err)
	require.Len(t, ps, len(want), "problems:\n%v", err)
	for _, p := range ps {
		assert.True(t, errors.Is(p, kind), "problem %q does not match %v", p, kind)
	}
	for _, w := range want {
		found := false
		for _, p := range ps {
			found = found || strings.Contains(p.Error(), w)
		}
		assert.True(t, found, "no problem mentions %q in:\n%v", w, err)
	}
}
