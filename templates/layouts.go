package templates

import (
	"strings"

	"github.com/broadsheet/broadsheet/composer"
)

// Layouts returns the page layouts by name, for the site configuration to
// refer to. Each is a complete HTML document that places these slots (a slot
// with no includes renders nothing, not even its wrapper):
//
//	front:  nav, ticker, lead, top, list, weather, scores, mostread, footer
//	scores: nav, board, footer
//	city:   nav, weather, forecast, cities, footer
//	single: nav, main, footer
//	plain:  nav, main, footer
//
// The single layout's h1 is the page's title, and the fragments of its main
// slot start at h2. The plain layout has no h1 of its own: the first
// include of its main slot provides it (the article fragment does).
func Layouts() map[string]composer.Layout {
	return map[string]composer.Layout{
		"front":  frontLayout,
		"scores": scoresLayout,
		"city":   cityLayout,
		"single": singleLayout,
		"plain":  plainLayout,
	}
}

// LayoutSlots returns the slots each layout places, for the configuration
// loader to check pages against.
func LayoutSlots() map[string][]string {
	return map[string][]string{
		"front":  {"nav", "ticker", "lead", "top", "list", "weather", "scores", "mostread", "footer"},
		"scores": {"nav", "board", "footer"},
		"city":   {"nav", "weather", "forecast", "cities", "footer"},
		"single": {"nav", "main", "footer"},
		"plain":  {"nav", "main", "footer"},
	}
}

// placeName turns a route slug such as "new-york" into a heading, "New
// York", without looking it up: the layout only sees request values.
func placeName(slug string) string {
	words := strings.Split(slug, "-")
	for i, w := range words {
		switch {
		case w == "":
		case i > 0 && (w == "de" || w == "upon" || w == "on" || w == "la"):
		default:
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.TrimSpace(strings.Join(words, " "))
}
