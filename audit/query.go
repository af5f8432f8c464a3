package audit

import (
	"slices"
	"strings"
	"unicode"
)

// bodyQuery is a parsed Filter.Body: a query over an entry's body, path and
// error.
//
// It matches a text when either every unquoted word of the query is a word
// of the text and every quoted phrase appears in the text as consecutive
// words in that order, or the whole query, as typed, is a substring of the
// text. Words are maximal runs of letters and digits; all comparisons fold
// case. A lone double quote is ignored. A query without any word or phrase
// matches by substring only.
type bodyQuery struct {
	raw     string     // the query as typed, case-folded
	words   []string   // unquoted words, case-folded
	phrases [][]string // quoted phrases as words, case-folded
}

// parseBodyQuery parses a body query. It never fails: every string is a
// query.
func parseBodyQuery(s string) *bodyQuery {
	q := &bodyQuery{raw: fold(s)}
	parts := strings.Split(s, `"`)
	pairs := (len(parts) - 1) / 2
	for i, p := range parts {
		// Odd parts lie between a pair of quotes, unless their opening
		// quote is the lone last one.
		if i%2 == 1 && i < 2*pairs {
			if ws := words(p); len(ws) > 0 {
				q.phrases = append(q.phrases, ws)
			}
			continue
		}
		q.words = append(q.words, words(p)...)
	}
	return q
}

// match reports whether the query matches one of texts.
func (q *bodyQuery) match(texts ...string) bool {
	for _, t := range texts {
		if q.matchText(t) {
			return true
		}
	}
	return false
}

func (q *bodyQuery) matchText(text string) bool {
	if text == "" {
		return q.raw == ""
	}
	if strings.Contains(fold(text), q.raw) {
		return true
	}
	if len(q.words) == 0 && len(q.phrases) == 0 {
		return false
	}
	tw := words(text)
	for _, w := range q.words {
		if !slices.Contains(tw, w) {
			return false
		}
	}
	for _, p := range q.phrases {
		if !containsRun(tw, p) {
			return false
		}
	}
	return true
}

// containsRun reports whether run appears in ws as consecutive elements.
func containsRun(ws, run []string) bool {
	for i := 0; i+len(run) <= len(ws); i++ {
		if slices.Equal(ws[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

// words splits s into its maximal runs of letters and digits, case-folded.
func words(s string) []string {
	return strings.FieldsFunc(fold(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// fold maps s to the form in which comparisons ignore case.
func fold(s string) string { return strings.ToLower(s) }
