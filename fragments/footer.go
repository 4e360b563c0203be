package fragments

import (
	"context"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
)

func init() {
	register(composer.Spec{
		Name:   "footer",
		Render: Footer,
		Doc:    "The site footer: links to the explorer and the debug overlay, and a note that everything is simulated.",
		Defaults: composer.Settings{
			Timeout:  40 * time.Millisecond,
			Fresh:    60 * time.Second,
			Stale:    24 * time.Hour,
			Fallback: `<p class="bs-footer__note">Broadsheet — a demonstration of page composition.</p>`,
		},
	})
}

// Footer renders the site footer.
func Footer(ctx context.Context, _ composer.Params) (templ.Component, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return footerView(), nil
}
