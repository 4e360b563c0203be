// Command composer serves Broadsheet's demo site: its fragments
// (fragments/), its layouts (templates/) and its site.yaml, with the demo
// feed's flags, through package server as any site's own binary does.
//
//	go run ./cmd/composer [-addr 127.0.0.1:8080] [-config site.yaml] [-redis …]
//
// See package server for the flags every site's binary takes; the demo adds
// -feed-latency, -feed-slow-every, -feed-slow-latency, -feed-hang-every and
// -demo-league (each also BROADSHEET_<FLAG>).
package main

import (
	"context"
	"flag"
	"time"

	"github.com/broadsheet/broadsheet"
	"github.com/broadsheet/broadsheet/fragments"
	"github.com/broadsheet/broadsheet/fragments/feed"
	"github.com/broadsheet/broadsheet/server"
	"github.com/broadsheet/broadsheet/templates"
)

func main() { server.Main(demo()) }

// demo is the demo site, with the feed's flags and its league.
func demo() server.Site {
	var f feed.Options
	var league int
	return server.Site{
		Name:       "composer",
		Fragments:  fragments.All(),
		Layouts:    templates.Layouts(),
		Slots:      templates.LayoutSlots(),
		Config:     broadsheet.DefaultSite,
		ConfigName: "site.yaml (built in)",
		Flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&f.Latency, "feed-latency", 2*time.Millisecond, "demo feed: latency of every call")
			fs.IntVar(&f.SlowEvery, "feed-slow-every", 50, "demo feed: one call in N is slow (0: never)")
			fs.DurationVar(&f.SlowLatency, "feed-slow-latency", 120*time.Millisecond, "demo feed: extra latency of a slow call")
			fs.IntVar(&f.HangEvery, "feed-hang-every", 0, "demo feed: one call in N hangs until its timeout (0: never)")
			fs.IntVar(&league, "demo-league", 2000, "demo: publish match.updated for goals in the first N matches (0: off)")
		},
		Start: func(ctx context.Context, env server.Env) {
			feed.Configure(f)
			if league > 0 {
				go runLeague(ctx, env.Events, league, env.Logger)
			}
		},
	}
}
