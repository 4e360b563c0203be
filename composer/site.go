package composer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer/httpcache"
)

// Site is one immutable, validated configuration: limits, the effective
// settings of every fragment and the pages. The composer swaps whole Sites
// atomically on reload; nothing mutates a Site once it is in use.
type Site struct {
	Limits    Limits
	Fragments map[string]*Fragment
	Pages     []*Page
	// Source names the file the Site came from, for the explorer.
	Source string
	// CSP lists, by fetch directive ("script-src", "img-src", …; see
	// package web/csp), the sources the site's Content-Security-Policy
	// allows besides Broadsheet's own and its fragments' asset origins.
	// Each is a valid CSP source expression; nil adds none.
	CSP map[string][]string
}

// Limits are the site-wide bounds.
type Limits struct {
	// Budget is the default page budget.
	Budget time.Duration
	// MaxDepth caps include nesting (a page's own includes are depth 1).
	MaxDepth int
	// MaxIncludes caps the includes of one page, all levels together.
	MaxIncludes int
	// MaxFragmentBytes caps the HTML one include may produce.
	MaxFragmentBytes int
	// Debug allows ?debug=1 on every page.
	Debug bool
	// PublicExplorer opens the fragment explorer (/_/fragments, and its
	// form that renders a fragment alone) to everyone; false: to the
	// admin token's holders only.
	PublicExplorer bool
}

// The bounds of a fragment's output cap, site-wide
// (Limits.MaxFragmentBytes) or its own (Settings.MaxBytes).
const (
	MinFragmentBytes = 1 << 10
	MaxFragmentBytes = 64 << 20
)

// DefaultLimits are used where the configuration is silent.
var DefaultLimits = Limits{
	Budget:           250 * time.Millisecond,
	MaxDepth:         4,
	MaxIncludes:      12000,
	MaxFragmentBytes: 1 << 20,
	Debug:            true,
}

// Fragment is a registered Spec with its effective settings and where each
// setting came from.
type Fragment struct {
	Spec     *Spec
	Settings Settings
	// Origin maps a setting name ("timeout", "fresh", …) to where its value
	// came from: "code" or "site.yaml".
	Origin map[string]string
}

// Page is a route, a layout and the includes it places.
type Page struct {
	Name   string
	Path   string // chi pattern, e.g. /weather/{city}
	Title  string
	Layout string
	Budget time.Duration
	// Includes in the order the layout's slots place them.
	Includes []*PageInclude
	// Cache is the page's own HTTP caching policy (site.yaml's cache:).
	Cache httpcache.Policy
	// Line is the page's line in the configuration, for errors.
	Line int
}

// PageInclude is one include placed by a page.
type PageInclude struct {
	Fragment string
	Slot     string
	Params   []Binding
	// Primary marks this include primary on this page, whatever the
	// fragment's own setting.
	Primary bool
}

// Binding gives a param its value: a literal, or a route or query value.
type Binding struct {
	Name string
	// From is "" for a literal, "route" or "query".
	From  string
	Value string // the literal, or the route/query key
}

// FragmentNames returns the site's fragment names, sorted.
func (s *Site) FragmentNames() []string {
	names := make([]string, 0, len(s.Fragments))
	for n := range s.Fragments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Layout renders a page around its slots. It must place every slot it is
// given with v.Slot and must not depend on anything but v.
type Layout func(v *View) templ.Component

// View is what a layout sees of the page it renders.
type View struct {
	Page   *Page
	Title  string
	params map[string]string
	slots  map[string][]int
	// Nonce is the Content-Security-Policy nonce for inline scripts.
	Nonce string
	// asked, when set, hears every slot name the layout asks about
	// (CheckLayout).
	asked func(slot string)
}

// Param returns a route or query value of the request (already validated by
// the includes that use it; escape it like any other text).
func (v *View) Param(name string) string { return v.params[name] }

// Slot renders the includes of the named slot. A slot with no includes
// renders nothing.
func (v *View) Slot(name string) templ.Component {
	if v.asked != nil {
		v.asked(name)
	}
	return slotComponent(v.slots[name])
}

// HasSlot reports whether the named slot has includes.
func (v *View) HasSlot(name string) bool {
	if v.asked != nil {
		v.asked(name)
	}
	return len(v.slots[name]) > 0
}

// CheckLayout renders layout with one include in each of slots and reports
// a slot of slots that it does not place and a slot it asks about (with
// Slot or HasSlot) that slots does not list: the list the configuration
// checks pages against (config.Registry.Slots) must be the layout's own.
// It is meant for a layout's tests.
func CheckLayout(layout Layout, slots []string) error {
	v := &View{Page: &Page{Name: "check", Title: "Check"}, Title: "Check", slots: map[string][]int{}}
	for i, s := range slots {
		v.slots[s] = []int{i}
	}
	var unlisted []string
	v.asked = func(s string) {
		if _, ok := v.slots[s]; !ok && !slices.Contains(unlisted, s) {
			unlisted = append(unlisted, s)
		}
	}
	var b bytes.Buffer
	if err := layout(v).Render(context.Background(), &b); err != nil {
		return fmt.Errorf("composer: layout check: %w", err)
	}
	var errs []error
	for i, s := range slots {
		if !bytes.Contains(b.Bytes(), []byte(`page-index="`+strconv.Itoa(i)+`"`)) {
			errs = append(errs, fmt.Errorf("composer: layout does not place listed slot %q", s))
		}
	}
	for _, s := range unlisted {
		errs = append(errs, fmt.Errorf("composer: layout places slot %q, which is not listed", s))
	}
	return errors.Join(errs...)
}
