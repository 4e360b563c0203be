package composer

// segment is a run of static HTML followed by at most one include.
type segment struct {
	text []byte
	inc  *includeRef // nil for the last run
}

// includeRef is one include found in HTML, resolved against the registry
// when the HTML was parsed.
type includeRef struct {
	fragment string
	params   Params
	key      string
	// pageIndex is the page include's index (layout output only), else -1.
	pageIndex int
	// err is why the include cannot run (malformed, unknown, invalid).
	err error
}
