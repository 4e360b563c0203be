package fragments

import (
	"context"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/fragments/feed"
)

func init() {
	register(composer.Spec{
		Name:   "my-teams",
		Render: MyTeams,
		Doc:    "The teams the signed-in reader follows. The one demo fragment that receives the reader's identity: it is rendered per reader and never cached or shared.",
		// Only this fragment is told who reads (composer.ReaderFrom); every
		// other fragment, and every remote fragment service, never is.
		NeedsReader: true,
		Defaults: composer.Settings{
			Timeout:  80 * time.Millisecond,
			Fallback: `<p class="bs-fallback">Your teams will be back in a moment.</p>`,
		},
	})
}

// MyTeams renders the teams the reader follows, or an invitation to sign in.
func MyTeams(ctx context.Context, _ composer.Params) (templ.Component, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	reader := composer.ReaderFrom(ctx)
	if reader == "" {
		return myTeamsView("", nil), nil
	}
	teams, err := feed.Default.FollowedTeams(ctx, reader)
	if err != nil {
		return nil, err
	}
	return myTeamsView(reader, teams), nil
}
