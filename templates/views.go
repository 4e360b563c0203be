// Package templates holds Broadsheet's page layouts and the standalone pages
// of the web surface (errors, the page list and the fragment explorer), as
// templ components with the view types they render.
//
// Layouts see a page only through *composer.View and place its includes with
// v.Slot; they never fetch anything themselves.
package templates

// PageLink is one configured page in the page list.
type PageLink struct {
	Name string
	// Path is the route pattern, e.g. /weather/{city}.
	Path  string
	Title string
	// Example is a URL that opens the page, with route values filled in,
	// e.g. /weather/london.
	Example string
}

// FragmentRow is one fragment in the explorer, with its effective settings
// already formatted.
type FragmentRow struct {
	Name, Doc, Source string
	// SourceURL links to the source file ("" when it cannot be shown).
	SourceURL             string
	Params                []ParamRow
	Timeout, Fresh, Stale string
	// FailHold is the effective fail_hold (tuning.Value), "0s" when off.
	FailHold          string
	Fallback          string // shown as text, never rendered as HTML
	Primary, Disabled bool
	// MaxBytes is the effective cap of one call's HTML, in bytes.
	MaxBytes string
	// Origin maps a setting name (timeout, fresh, stale, fail_hold,
	// fallback, primary, disabled, max_bytes) to where its value came
	// from: "code", "site.yaml" or "live".
	Origin   map[string]string
	Includes []string
	// Live holds the fragment's figures over the rolling window; nil when
	// the server has no observer.
	Live *LiveStats
}

// ParamRow is one declared param of a fragment.
type ParamRow struct {
	Name, Pattern, Default, Doc string
	Required                    bool
	Values                      []string
}

// origin returns where a setting of r came from, "code" when unrecorded.
func (r FragmentRow) origin(setting string) string {
	if o := r.Origin[setting]; o != "" {
		return o
	}
	return "code"
}
