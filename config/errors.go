package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem found in a configuration file. Its text reads like a
// compiler's, so that editors can jump to it:
//
//	site.yaml:12:19: pages[0].includes[3].fragment: unknown fragment "scor"
type Error struct {
	File string
	// Line and Column are 1-based. Line is 0 for a problem that no line of
	// the file holds, such as a cycle among the fragments' own includes.
	Line, Column int
	// Field is the path of the field at fault, like pages[0].budget.
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// List holds every error found in one configuration, sorted by line. Parse
// returns a List rather than stopping at the first problem; errors.As finds
// its first *Error.
type List []*Error

func (l List) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns the errors of the list, for errors.Is and errors.As.
func (l List) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

func (l List) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Column < l[j].Column
	})
}

// suggest returns ` (did you mean "x"?)` when one of known is a likely
// correction of s, and "" otherwise.
func suggest(s string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := distance(s, k); d < bestDist && d < len(k) {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance of a and b, in bytes. Names here are
// short ASCII identifiers; anything long is never a typo of one.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
