package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/metalkit/metalkit/check"
	"github.com/metalkit/metalkit/examples/internal/storeflag"
)

// runCheck opens the store spec names, runs the kit's consistency check
// (repairing with repair) and prints the report on w: one line per
// finding, then a summary. After repairs it checks again and prints what
// remains. The error says how many findings remain, nil when none does.
// A bbolt file that does not exist is an error (opening it would create
// an empty store).
func runCheck(ctx context.Context, spec string, repair bool, w io.Writer) (err error) {
	if path, ok := storeflag.BoltPath(spec); ok {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("-store %q: there is no store file to check", spec)
		}
	}
	opened, err := storeflag.Open(spec, nil)
	if err != nil {
		return err
	}
	defer opened.Cleanup()
	kit, err := opened.OpenKit(nil)
	if err != nil {
		return err
	}
	defer closeKit(kit, &err)
	where := opened.Kind + " store"
	if opened.Path != "" {
		where += " " + opened.Path
	}
	rep, err := kit.Check(ctx, &check.Options{Repair: repair})
	if err != nil {
		return fmt.Errorf("checking the %s: %w", where, err)
	}
	printFindings(w, rep.Findings)
	remaining := len(rep.Findings)
	if !repair {
		repairable := 0
		for _, f := range rep.Findings {
			if f.Repairable() {
				repairable++
			}
		}
		fmt.Fprintf(w, "%s: %d findings, %d repairable (dry run; -repair repairs them)\n", where, remaining, repairable)
	} else {
		fmt.Fprintf(w, "%s: %d findings, %d repaired\n", where, len(rep.Findings), rep.Repaired)
		if rep.Repaired > 0 {
			after, err := kit.Check(ctx, nil)
			if err != nil {
				return fmt.Errorf("checking the %s again: %w", where, err)
			}
			printFindings(w, after.Findings)
			remaining = len(after.Findings)
			fmt.Fprintf(w, "%s after the repairs: %d findings\n", where, remaining)
		}
	}
	if remaining > 0 {
		return fmt.Errorf("%d findings remain in the %s", remaining, where)
	}
	return nil
}

// printFindings prints one line per finding with its keys.
func printFindings(w io.Writer, fs []check.Finding) {
	for _, f := range fs {
		line := f.String()
		if f.Repairable() {
			line += " [repairable]"
		}
		if len(f.Keys) > 0 {
			keys := make([]string, len(f.Keys))
			for i, k := range f.Keys {
				keys[i] = k.String()
			}
			line += " (keys " + strings.Join(keys, ", ") + ")"
		}
		fmt.Fprintln(w, line)
	}
}
