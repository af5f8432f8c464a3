// Package limits holds the bounds on input that every metalkit package
// enforces, in one place, and the checks that apply them.
//
// A value beyond its limit is refused with an error that matches
// errdefs.ErrInvalidArgument, names the field and quotes (a bounded prefix
// of) the value; the package that calls the check wraps it in its own
// ErrInvalidArgument, and nothing is stored.
package limits

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/metalkit/metalkit/errdefs"
)

// The limits, in bytes of UTF-8 unless a count.
const (
	// MaxID bounds every id: of a network, IP allocation, machine, switch,
	// size, partition, project, image, reservation.
	MaxID = 128
	// MaxName bounds names and hostnames.
	MaxName = 256
	// MaxDescription bounds descriptions and free-text messages.
	MaxDescription = 2048
	// MaxLabels bounds the number of labels of one entity.
	MaxLabels = 64
	// MaxLabelKey and MaxLabelValue bound one label.
	MaxLabelKey   = 256
	MaxLabelValue = 1024
	// MaxTags bounds the number of tags of one entity.
	MaxTags = 128
	// MaxTag bounds one tag (a key=value tag counts whole).
	MaxTag = 512
	// MaxListItems bounds the other lists of a request (prefixes,
	// destination prefixes, networks, IPs, SSH keys, NICs, ...).
	MaxListItems = 1024
)

func invalid(format string, args ...any) error {
	return errdefs.Errorf(errdefs.ErrInvalidArgument, format, args...)
}

// text checks that s is valid UTF-8 without control characters (with
// multiline, newlines and tabs are allowed) and at most max bytes.
func text(field, s string, max int, multiline bool) error {
	if len(s) > max {
		return invalid("%s %s is %d bytes long; at most %d are allowed", field, errdefs.Quote(s), len(s), max)
	}
	if !utf8.ValidString(s) {
		return invalid("%s %s is not valid UTF-8", field, errdefs.Quote(s))
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			return invalid("%s %s contains the control character %U", field, errdefs.Quote(s), r)
		}
	}
	return nil
}

// ID checks a required id: non-empty, valid UTF-8, no control characters
// (NUL included), at most MaxID bytes.
func ID(field, id string) error {
	if id == "" {
		return invalid("%s is required", field)
	}
	return text(field, id, MaxID, false)
}

// OptionalID checks an id that may be empty; a non-empty one follows ID.
func OptionalID(field, id string) error {
	if id == "" {
		return nil
	}
	return ID(field, id)
}

// Name checks a name or hostname: at most MaxName bytes of UTF-8 without
// control characters; empty is fine.
func Name(field, name string) error { return text(field, name, MaxName, false) }

// Description checks a description: at most MaxDescription bytes of UTF-8;
// newlines and tabs are allowed, other control characters are not.
func Description(field, s string) error { return text(field, s, MaxDescription, true) }

// Labels checks a label map: at most MaxLabels entries, non-empty keys of at
// most MaxLabelKey bytes, values of at most MaxLabelValue bytes, all UTF-8
// without control characters.
func Labels(field string, labels map[string]string) error {
	if len(labels) > MaxLabels {
		return tooMany(field, len(labels), MaxLabels)
	}
	for k, v := range labels {
		if k == "" {
			return invalid("%s has an empty key", field)
		}
		if err := text(field+" key", k, MaxLabelKey, false); err != nil {
			return err
		}
		if err := text(fmt.Sprintf("%s[%s]", field, errdefs.Quote(k)), v, MaxLabelValue, false); err != nil {
			return err
		}
	}
	return nil
}

// Tags checks a tag list: at most MaxTags entries, each non-empty, at most
// MaxTag bytes of UTF-8 without control characters.
func Tags(field string, tags []string) error {
	if len(tags) > MaxTags {
		return tooMany(field, len(tags), MaxTags)
	}
	for i, t := range tags {
		f := fmt.Sprintf("%s[%d]", field, i)
		if t == "" {
			return invalid("%s is empty", f)
		}
		if err := text(f, t, MaxTag, false); err != nil {
			return err
		}
	}
	return nil
}

// Count checks the length of a list against MaxListItems.
func Count(field string, n int) error {
	if n > MaxListItems {
		return tooMany(field, n, MaxListItems)
	}
	return nil
}

func tooMany(field string, n, max int) error {
	return invalid("%s has %d entries; at most %d are allowed", field, n, max)
}
