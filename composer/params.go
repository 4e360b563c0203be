package composer

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/broadsheet/broadsheet/composer/internal/include"
)

// Params are the validated values of a fragment's declared params. The zero
// value has no params. Params are immutable and safe to share.
type Params struct {
	kv []string // name, value, name, value… sorted by name
}

// Get returns the value of the named param ("" when absent).
func (p Params) Get(name string) string {
	for i := 0; i+1 < len(p.kv); i += 2 {
		if p.kv[i] == name {
			return p.kv[i+1]
		}
	}
	return ""
}

// Len returns the number of params.
func (p Params) Len() int { return len(p.kv) / 2 }

// All calls f for each param in name order.
func (p Params) All(f func(name, value string)) {
	for i := 0; i+1 < len(p.kv); i += 2 {
		f(p.kv[i], p.kv[i+1])
	}
}

// Map returns the params as a new map.
func (p Params) Map() map[string]string {
	m := make(map[string]string, p.Len())
	p.All(func(k, v string) { m[k] = v })
	return m
}

// ParamError says which param of which fragment was refused and why. Its text
// is safe to show to a reader: it never repeats the offending value.
type ParamError struct {
	Fragment, Param, Reason string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("composer: fragment %q: param %q %s", e.Fragment, e.Param, e.Reason)
}

var patterns sync.Map // pattern string → *regexp.Regexp

// CompilePattern compiles and caches an anchored param pattern.
func CompilePattern(pattern string) (*regexp.Regexp, error) {
	if re, ok := patterns.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, err
	}
	patterns.Store(pattern, re)
	return re, nil
}

// ValidateSpec checks a Spec's own declarations: name, params, patterns and
// settings. Registration calls it so that a bad Spec fails at start.
func ValidateSpec(s *Spec) error {
	if !validName(s.Name) {
		return fmt.Errorf("composer: fragment name %q: want lowercase letters, digits, '-' or '_', starting with a letter", s.Name)
	}
	if s.Render == nil {
		return fmt.Errorf("composer: fragment %q: nil Render", s.Name)
	}
	seen := map[string]bool{}
	defer func() {
		list := make([]string, 0, len(s.Params))
		for _, p := range s.Params {
			list = append(list, p.Name)
		}
		include.AddNames(list...)
	}()
	for i, p := range s.Params {
		if !validName(p.Name) {
			return fmt.Errorf("composer: fragment %q: param name %q is invalid", s.Name, p.Name)
		}
		if seen[p.Name] {
			return fmt.Errorf("composer: fragment %q: param %q declared twice", s.Name, p.Name)
		}
		seen[p.Name] = true
		if p.Pattern != "" {
			if _, err := CompilePattern(p.Pattern); err != nil {
				return fmt.Errorf("composer: fragment %q: param %q: %w", s.Name, p.Name, err)
			}
		}
		if p.Int && (p.Pattern != "" || len(p.Values) > 0 || p.Min < 0 || p.Max < p.Min) {
			return fmt.Errorf("composer: fragment %q: param %q: an int param has 0 ≤ min ≤ max and no pattern or values", s.Name, p.Name)
		}
		if p.Default != "" {
			if _, err := checkValue(s, &s.Params[i], p.Default); err != nil {
				return fmt.Errorf("composer: fragment %q: default: %w", s.Name, err)
			}
		}
	}
	if s.Defaults.Timeout <= 0 {
		return fmt.Errorf("composer: fragment %q: timeout must be positive", s.Name)
	}
	if s.Defaults.Fresh < 0 || s.Defaults.Stale < 0 {
		return fmt.Errorf("composer: fragment %q: negative TTL", s.Name)
	}
	if m := s.Defaults.MaxBytes; m != 0 && (m < MinFragmentBytes || m > MaxFragmentBytes) {
		return fmt.Errorf("composer: fragment %q: MaxBytes %d out of range %d..%d (0: the site's)", s.Name, m, MinFragmentBytes, MaxFragmentBytes)
	}
	if s.Example != nil {
		if _, err := NewParams(s, s.Example); err != nil {
			return fmt.Errorf("composer: fragment %q: example params: %w", s.Name, err)
		}
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NewParams validates raw values against s's declarations. Values for
// undeclared names are dropped: they never reach the fragment or its key.
// Absent params take their defaults; a missing required param, an invalid
// value or one over its length cap is a *ParamError.
func NewParams(s *Spec, raw map[string]string) (Params, error) {
	return newParams(s, func(name string) (string, bool) {
		v, ok := raw[name]
		return v, ok
	})
}

func newParams(s *Spec, lookup func(string) (string, bool)) (Params, error) {
	if len(s.Params) == 0 {
		return Params{}, nil
	}
	kv := make([]string, 0, 2*len(s.Params))
	for i := range s.Params {
		ps := &s.Params[i]
		v, ok := lookup(ps.Name)
		if !ok || v == "" {
			if ps.Required && ps.Default == "" {
				return Params{}, &ParamError{s.Name, ps.Name, "is required"}
			}
			v = ps.Default
			if v == "" {
				continue
			}
		}
		v, err := checkValue(s, ps, v)
		if err != nil {
			return Params{}, err
		}
		kv = append(kv, ps.Name, v)
	}
	sortPairs(kv)
	return Params{kv: kv}, nil
}

// checkValue validates v against ps and returns its canonical form: v
// itself, but for an Int param (see canonicalInt).
func checkValue(s *Spec, ps *ParamSpec, v string) (string, error) {
	max := ps.MaxLen
	if max == 0 {
		max = DefaultMaxParamLen
	}
	if len(v) > max {
		return "", &ParamError{s.Name, ps.Name, fmt.Sprintf("is longer than %d bytes", max)}
	}
	if ps.Int {
		return canonicalInt(s, ps, v)
	}
	if !utf8.ValidString(v) {
		return "", &ParamError{s.Name, ps.Name, "is not valid UTF-8"}
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return "", &ParamError{s.Name, ps.Name, "contains a control character"}
		}
	}
	if len(ps.Values) > 0 && !slices.Contains(ps.Values, v) {
		return "", &ParamError{s.Name, ps.Name, "is not one of the allowed values"}
	}
	if ps.Pattern != "" {
		re, err := CompilePattern(ps.Pattern)
		if err != nil || !re.MatchString(v) {
			return "", &ParamError{s.Name, ps.Name, "does not match its pattern"}
		}
	}
	return v, nil
}

// canonicalInt checks that v is decimal digits naming a number from
// ps.Min to ps.Max (or, with ps.Clamp, the nearest of them), and returns
// that number without leading zeros: the one spelling a key may hold.
func canonicalInt(s *Spec, ps *ParamSpec, v string) (string, error) {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return "", &ParamError{s.Name, ps.Name, "is not a whole number"}
		}
	}
	digits := strings.TrimLeft(v, "0")
	if digits == "" {
		digits = "0"
	}
	n, err := strconv.Atoi(digits)
	switch {
	case err == nil && n >= ps.Min && n <= ps.Max:
		return digits, nil
	case !ps.Clamp:
		return "", &ParamError{s.Name, ps.Name, fmt.Sprintf("is not a whole number from %d to %d", ps.Min, ps.Max)}
	case err == nil && n < ps.Min:
		return strconv.Itoa(ps.Min), nil
	}
	return strconv.Itoa(ps.Max), nil // above Max, or too many digits for an int
}

// sortPairs sorts name/value pairs by name (insertion sort: there are few).
func sortPairs(kv []string) {
	for i := 2; i < len(kv); i += 2 {
		for j := i; j >= 2 && kv[j] < kv[j-2]; j -= 2 {
			kv[j], kv[j-2] = kv[j-2], kv[j]
			kv[j+1], kv[j-1] = kv[j-1], kv[j+1]
		}
	}
}

// Key returns the canonical cache identity of fragment name with params p:
// "name?k=v&k=v", names sorted, values query-escaped. It contains only
// declared, validated params and no version; the cache tiers add namespace
// and version.
func Key(name string, p Params) string {
	var b strings.Builder
	n := len(name) + 1
	for _, s := range p.kv {
		n += len(s) + 1
	}
	b.Grow(n + 8)
	b.WriteString(name)
	b.WriteByte('?')
	for i := 0; i+1 < len(p.kv); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.kv[i])
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.kv[i+1]))
	}
	return b.String()
}
