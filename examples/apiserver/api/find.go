package api

import (
	"errors"
	"fmt"
	"net/http"
)

// decodeFind decodes the body of a find request. A member the request type
// does not know is a filter the server does not support: it is refused
// with its name rather than ignored.
func decodeFind(r *http.Request, v any) error {
	err := decodeJSON(r, v, true)
	if errors.Is(err, errUnknownMember) {
		return invalid("the filter %s is not supported", err.Error())
	}
	return err
}

// filters collects the problems of a find request: filters that were
// given but cannot be applied, and values that do not parse. Each problem
// names the field.
type filters struct {
	// kind names what is searched, e.g. "networks".
	kind string
	// supported lists the filters that work, for the message.
	supported string
	errs      []error
}

// refuse records that field was given although the server cannot filter
// by it; why says what is missing.
func (f *filters) refuse(field, why string) {
	f.errs = append(f.errs, invalid("the filter %s is not supported: %s", field, why))
}

// bad records a filter value that does not parse.
func (f *filters) bad(err error) {
	if err != nil {
		f.errs = append(f.errs, err)
	}
}

// err returns every problem joined, followed by the filters that are
// supported, or nil when there is none.
func (f *filters) err() error {
	if len(f.errs) == 0 {
		return nil
	}
	return joinInvalid(append(f.errs, fmt.Errorf("%s can be found by %s", f.kind, f.supported)))
}

// givenString reports whether a string filter was given: present, not
// null and not empty (an empty filter matches everything, as in the
// library).
func givenString(p *string) bool { return p != nil && *p != "" }

// givenEq reports whether a string filter matches got: not given (nil),
// or equal.
func givenEq(want *string, got string) bool { return want == nil || *want == got }
