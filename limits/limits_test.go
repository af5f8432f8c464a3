package limits_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
)

func TestChecks(t *testing.T) {
	manyLabels := map[string]string{}
	for i := range limits.MaxLabels + 1 {
		manyLabels[fmt.Sprint(i)] = "v"
	}
	cases := []struct {
		name string
		err  error
		ok   bool
	}{
		{"id ok", limits.ID("id", "n1"), true},
		{"id max", limits.ID("id", strings.Repeat("a", limits.MaxID)), true},
		{"id empty", limits.ID("id", ""), false},
		{"id too long", limits.ID("id", strings.Repeat("a", limits.MaxID+1)), false},
		{"id NUL", limits.ID("id", "a\x00b"), false},
		{"id newline", limits.ID("id", "a\nb"), false},
		{"id invalid utf8", limits.ID("id", "a\xffb"), false},
		{"optional id empty", limits.OptionalID("id", ""), true},
		{"optional id NUL", limits.OptionalID("id", "\x00"), false},
		{"name unicode", limits.Name("name", "Straße"), true},
		{"name tab", limits.Name("name", "a\tb"), false},
		{"name too long", limits.Name("name", strings.Repeat("a", limits.MaxName+1)), false},
		{"description newline", limits.Description("description", "a\nb\tc"), true},
		{"description bell", limits.Description("description", "a\ab"), false},
		{"labels ok", limits.Labels("labels", map[string]string{"k": "v"}), true},
		{"labels empty key", limits.Labels("labels", map[string]string{"": "v"}), false},
		{"labels too many", limits.Labels("labels", manyLabels), false},
		{"labels value NUL", limits.Labels("labels", map[string]string{"k": "\x00"}), false},
		{"tags ok", limits.Tags("tags", []string{"a=b"}), true},
		{"tags empty tag", limits.Tags("tags", []string{""}), false},
		{"tags too many", limits.Tags("tags", make([]string, limits.MaxTags+1)), false},
		{"tag too long", limits.Tags("tags", []string{strings.Repeat("t", limits.MaxTag+1)}), false},
		{"count", limits.Count("prefixes", limits.MaxListItems+1), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.ok {
				assert.NoError(t, c.err)
				return
			}
			assert.ErrorIs(t, c.err, errdefs.ErrInvalidArgument)
			assert.Less(t, len(c.err.Error()), 300, "the message quotes a bounded prefix: %s", c.err)
		})
	}
}

func ExampleID() {
	fmt.Println(limits.ID("id", "fra-equ01"))
	fmt.Println(limits.ID("id", "a\x00b"))
	// Output:
	// <nil>
	// id "a\x00b" contains the control character U+0000
}
