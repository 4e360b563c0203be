package templates

// LiveStats are a fragment's figures over the rolling window, formatted for
// the explorer. The zero value means "no figures".
type LiveStats struct {
	// Window is the span the figures cover, e.g. "5m0s".
	Window string
	// Includes settled and fragment calls made.
	Includes, Calls int64
	// Outcomes in composer.Outcomes order.
	Outcomes []OutcomeCount
	// Latencies of every include, and of fragment calls only.
	P50, P95, P99             string
	CallP50, CallP95, CallP99 string
	// L1Ratio and StoreRatio are percentages, "–" when nothing was looked up.
	L1Ratio, StoreRatio string
	LastErr, LastErrAt  string
	// Suggested is the timeout suggested from the call p99 ("" with no
	// calls), and Ceiling the page budget that bounds it.
	Suggested, Ceiling string
	// BarPct is the call p99 as a percentage of the timeout, capped at 100;
	// Over says it reached the timeout.
	BarPct int
	Over   bool
	// BarP50Pct is the call p50 as a percentage of the timeout, capped at
	// 100 (drawn inside the p99 bar).
	BarP50Pct int
}

// OutcomeTotal is the number of includes counted over all outcomes.
func (l *LiveStats) OutcomeTotal() int64 {
	var n int64
	for _, o := range l.Outcomes {
		n += o.N
	}
	return n
}

// OutcomeCount is the number of includes with one outcome.
type OutcomeCount struct {
	Name string
	N    int64
}

// FragmentDetail is the explorer's page of one fragment.
type FragmentDetail struct {
	Row  FragmentRow
	Live *LiveStats
	// Fields are the render form's inputs, one per declared param.
	Fields []FormField
	Render *RenderResult
	// Events are the topics the fragment depends on; LastEvent describes
	// the last one that refreshed it on this instance ("" if none).
	Events    []string
	LastEvent string
	// Cache says how long cached entries are served and when a change of
	// the settings reaches them.
	Cache string
}

// FormField is one param input of the render form.
type FormField struct {
	Name, Value, Pattern, Doc, Default string
	Required                           bool
	Values                             []string
	MaxLen                             int
}

// RenderResult is the outcome of rendering a fragment alone.
type RenderResult struct {
	// Error is a validation or render error to show; HTML is empty then.
	Error string
	// Invalid says Error is about the params (the page is a 400).
	Invalid bool
	HTML    string
	// Took is the render time; Note says what was not done (kill switch,
	// nested includes left as tags).
	Took, Note string
}

// AdminView is the admin page.
type AdminView struct {
	Fragments []AdminFragment
	Changes   []ChangeRow
	// Shared says overrides reach every instance (Redis); Redis is the
	// breaker state of the shared tier, "" without one.
	Shared bool
	Redis  string
	// Flash is a message about the last action; Error one about a failure.
	Flash, Error string
	// Changed names the fragment the last action changed ("" for none): its
	// section repeats the Flash.
	Changed string
}

// AdminFragment is one fragment's form on the admin page.
type AdminFragment struct {
	Name                            string
	Timeout, Fresh, Stale, Fallback string
	Primary, Disabled               bool
	Origin                          map[string]string
	// Base is the site.yaml value of each field, shown beside live ones.
	Base map[string]string
	// FailHold is the effective fail_hold (tuning.Value), "0s" when off.
	FailHold string
	// Suggested is the timeout the explorer suggests, "" without figures.
	Suggested string
	// Stats are the fragment's live figures, nil without them.
	Stats *LiveStats
	// Live says some field is overridden live.
	Live bool
	// Cache says how long cached entries are served and when a change
	// reaches them.
	Cache string
}

// origin returns where a setting of f came from, "code" when unrecorded.
func (f AdminFragment) origin(setting string) string {
	if o := f.Origin[setting]; o != "" {
		return o
	}
	return "code"
}

// ChangeRow is one entry of the change log.
type ChangeRow struct {
	At, Who, Fragment, Field, Old, New string
}
