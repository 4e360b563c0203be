package fragments

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments/feed"
)

func init() {
	register(composer.Spec{
		Name:   "market",
		Render: Market,
		Doc:    "A ticker of market indices, commodities and currencies with their move since the open.",
		Defaults: composer.Settings{
			Timeout:  80 * time.Millisecond,
			Fresh:    10 * time.Second,
			Stale:    5 * time.Minute,
			Fallback: `<p class="bs-fallback">Market data is delayed.</p>`,
		},
	})
}

// Market renders the latest quotes.
func Market(ctx context.Context, _ composer.Params) (templ.Component, error) {
	qs, err := feed.Default.Markets(ctx)
	if err != nil {
		return nil, err
	}
	return marketView(qs), nil
}

// quoteValue formats a quote's price with its decimals.
func quoteValue(q feed.Quote) string {
	return strconv.FormatFloat(q.Value, 'f', q.Decimals, 64)
}

// quoteChange formats a quote's move as an unsigned percentage; the
// direction is given separately, in words and by colour.
func quoteChange(q feed.Quote) string {
	return strconv.FormatFloat(math.Abs(q.Change), 'f', 2, 64) + "%"
}
