package server

import (
	"flag"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/cdn"
	"github.com/broadsheet/broadsheet/composer/httpcache"
)

// cdnOptions are the flags of a CDN in front of the composers (README,
// "Behind a CDN").
type cdnOptions struct {
	purgeURL      string
	surrogateKeys int
}

func addCDNFlags(fs *flag.FlagSet, o *cdnOptions) {
	fs.StringVar(&o.purgeURL, "purge-url", "", "a CDN to purge by surrogate key when an event or a purge changes an include: PURGE to this URL with an xkey header, as deploy/varnish/broadsheet.vcl expects, e.g. http://varnish:6081/ (empty: no purges)")
	fs.IntVar(&o.surrogateKeys, "surrogate-keys", httpcache.DefaultKeyCap, "the most include keys a page's Surrogate-Key lists beside its fragments' names; past it, \"fragment?*\" (0: none)")
}

// keyCap is -surrogate-keys as composer.Options.SurrogateKeys, where 0 is
// the default and negative none.
func (o *cdnOptions) keyCap() int {
	if o.surrogateKeys == 0 {
		return -1
	}
	return o.surrogateKeys
}

// purger returns the Purger of -purge-url, or nil without one. With client
// (-redis) the deployment's instances share the purges: one sends each.
func (o *cdnOptions) purger(log *slog.Logger, client redis.UniversalClient) (*cdn.Purger, error) {
	if o.surrogateKeys < 0 {
		return nil, fmt.Errorf("-surrogate-keys: %d is negative", o.surrogateKeys)
	}
	if o.purgeURL == "" {
		return nil, nil
	}
	p, err := cdn.New(o.purgeURL, cdn.Options{Logger: log, Redis: client})
	if err != nil {
		return nil, fmt.Errorf("-purge-url: %w", err)
	}
	log.Info("cdn: purging by surrogate key", "url", o.purgeURL)
	return p, nil
}
