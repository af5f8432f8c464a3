// Package errdefs holds the error classes every metalkit package shares.
//
// Each package keeps its own sentinels in its errors.go (network.ErrNotFound,
// ipam.ErrExhausted, machine.ErrLocked, ...), and each of them belongs to one
// class here: errors.Is(err, errdefs.ErrNotFound) is true for a not-found
// error of any package, and errors.Is(err, network.ErrNotFound) stays true for
// the network package's own. Callers that only care about the kind of failure
// (an HTTP server mapping errors to status codes, a controller deciding
// whether to retry) test the class and need not import the package that
// returned the error.
//
// Messages name the package once, then what failed and why, quoting the
// offending input (at most MaxQuote bytes of it, see Quote):
//
//	network: prefixes[0]: 10.0.0.1/16 has host bits set; use 10.0.0.0/16
//
// The sentinel's own text is not repeated inside such a message.
package errdefs

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The error classes. Every error a metalkit package returns for a condition
// a caller may branch on matches exactly one of them.
var (
	// ErrNotFound: the thing asked for does not exist (a network, an IP, a
	// machine, a key of the store).
	ErrNotFound = errors.New("not found")

	// ErrInvalidArgument: the request itself is malformed, whatever the
	// stored state: a missing field, a value out of range, a string beyond
	// its limit.
	ErrInvalidArgument = errors.New("invalid argument")

	// ErrConflict: the request is well-formed but contradicts the stored
	// state (an id or address already taken, a network that still holds
	// IPs, a locked machine), or concurrent transactions kept colliding.
	ErrConflict = errors.New("conflict")

	// ErrForbidden: the caller may not do this to this entity (another
	// project's IP, a machine-bound IP freed directly).
	ErrForbidden = errors.New("forbidden")

	// ErrExhausted: a pool has nothing left to give (no free address, child
	// block, VRF, ASN or machine, a quota reached).
	ErrExhausted = errors.New("exhausted")

	// ErrUnavailable: the store (or another dependency) could not be
	// reached or did not answer in time; the outcome of a write may be
	// unknown. Retrying later may succeed.
	ErrUnavailable = errors.New("unavailable")

	// ErrCorrupt: stored data does not decode or contradicts itself.
	ErrCorrupt = errors.New("corrupt")
)

// Classes lists every class, in the order Class tests them.
var Classes = []error{
	ErrUnavailable, ErrCorrupt, ErrNotFound, ErrInvalidArgument,
	ErrForbidden, ErrExhausted, ErrConflict,
}

// Class returns the class err belongs to, or nil when it belongs to none.
// An error that matches several (errors.Join of different failures) gives
// the first in the order of Classes: unavailable and corrupt win over the
// others, because they say the answer itself cannot be trusted.
func Class(err error) error {
	if err == nil {
		return nil
	}
	for _, c := range Classes {
		if errors.Is(err, c) {
			return c
		}
	}
	return nil
}

// sentinel is a package's own sentinel error: its text, and the class it
// belongs to.
type sentinel struct {
	text  string
	class error
}

func (s *sentinel) Error() string { return s.text }

// Is makes the sentinel match its class.
func (s *sentinel) Is(target error) bool { return target == s.class }

// Sentinel returns a new sentinel error with the given text that matches
// class under errors.Is. Packages declare their sentinels with it:
//
//	var ErrNotFound = errdefs.Sentinel(errdefs.ErrNotFound, "network: not found")
func Sentinel(class error, text string) error {
	return &sentinel{text: text, class: class}
}

// detailed is an error with its own message that matches a sentinel (and so
// its class) and every error wrapped in the message.
type detailed struct {
	msg  string
	errs []error
}

func (e *detailed) Error() string   { return e.msg }
func (e *detailed) Unwrap() []error { return e.errs }

// Errorf formats an error like fmt.Errorf, %w included, that also matches
// kind (a sentinel or a class) without repeating kind's text in the
// message. A nil kind gives the same as fmt.Errorf.
func Errorf(kind error, format string, args ...any) error {
	w := fmt.Errorf(format, args...)
	if kind == nil {
		return w
	}
	errs := []error{kind}
	switch u := w.(type) {
	case interface{ Unwrap() error }:
		if c := u.Unwrap(); c != nil {
			errs = append(errs, c)
		}
	case interface{ Unwrap() []error }:
		errs = append(errs, u.Unwrap()...)
	}
	return &detailed{msg: w.Error(), errs: errs}
}

// MaxQuote is the most bytes of an input that Quote shows.
const MaxQuote = 64

// Quote returns s quoted as by %q. An input longer than MaxQuote bytes is
// cut at a character boundary and followed by how long it was, so that an
// error never repeats a huge bad input:
//
//	"aaaaaaaa…"… (100000 bytes)
func Quote(s string) string {
	if len(s) <= MaxQuote {
		return strconv.Quote(s)
	}
	cut := MaxQuote
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// With returns an error with err's message that also matches every one of
// kinds, for a condition that two sentinels describe (an address that is
// both taken and reserved).
func With(err error, kinds ...error) error {
	if err == nil || len(kinds) == 0 {
		return err
	}
	return &detailed{msg: err.Error(), errs: append([]error{err}, kinds...)}
}
