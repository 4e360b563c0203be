package remote

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/a-h/templ"

	"github.com/broadsheet/broadsheet/composer"
)

// DefaultTimeout is the timeout of a remote fragment that replaces no local
// one, unless the configuration sets it.
const DefaultTimeout = 100 * time.Millisecond

// Config declares one remote fragment.
type Config struct {
	Name string
	// URL is the template of the fragment's address (see Template).
	URL string
	// Params are the fragment's params; nil means Local's.
	Params []composer.ParamSpec
	// Includes names the fragments its HTML may include; nil means Local's.
	Includes []string
	// Local is the registered fragment of the same name that the remote
	// one replaces, or nil. Its doc, defaults, version, assets, example,
	// concurrency bound and per-user flag carry over.
	Local *composer.Spec
	// Batch sends the fragment's requests in batches per host (POST
	// {base}_batch; see batch.go), which only remote.Handler (fragmentd)
	// answers. The URL's path must be literal and end in the fragment's
	// name, as /fragments/NAME.
	Batch bool
	// Sanitize passes the fragment's HTML through an allowlist sanitizer
	// (see sanitize.go) before the composer sees it: scripts, event
	// handlers and javascript: URLs are dropped, and include tags kept if
	// the fragment declares includes. For services trusted to be up, not
	// to be careful.
	Sanitize bool
	// H2C says the service speaks HTTP/2 over cleartext with prior
	// knowledge (as Go's servers with Protocols.SetUnencryptedHTTP2,
	// Envoy's and gRPC's do): its requests go as streams of one
	// connection rather than one connection each. The URL must be
	// http://; not with Batch (a batch is already one request).
	H2C bool
	// AssetOrigins are origins ("https://cdn.example"), besides the
	// service's own, from which its responses' Link headers may name
	// assets (composer.Spec.AssetOrigins): a Tailor-style service whose
	// assets are on a CDN.
	AssetOrigins []string
}

// Spec returns a fragment that fetches cfg.URL, expanded with the
// include's params, through c. Its Render honours the call's deadline and
// returns a *composer.Raw: the composer applies the response's freshness
// unless the configuration sets the fragment's fresh or stale time, and
// places the response's assets.
func (c *Client) Spec(cfg Config) (*composer.Spec, error) {
	s := baseSpec(cfg)
	t, err := ParseTemplate(cfg.URL, s.Params)
	if err != nil {
		return nil, err
	}
	// The host's requests in flight are bounded in the composer, which
	// queues a call for one of the host's slots before the call's timeout
	// starts: a page of a thousand includes of one service waits for its
	// turn within the page's budget instead of timing out in a queue.
	if u, err := url.Parse(cfg.URL); err == nil {
		s.Group = "remote " + u.Scheme + "://" + u.Host
		s.GroupLimit = c.opts.MaxInFlightPerHost
	}
	rt := c.rt
	if cfg.H2C {
		if t.scheme() != "http" || cfg.Batch {
			return nil, fmt.Errorf("remote: url %q: h2c is HTTP/2 over cleartext: for an http:// URL, and not with batch", cfg.URL)
		}
		rt = c.h2cTransport()
	}
	var bt *batcher
	if cfg.Batch {
		base, endpoint, err := batchBase(t)
		if err != nil {
			return nil, err
		}
		if bt, err = c.batcher(base, endpoint); err != nil {
			return nil, fmt.Errorf("remote: url %q: batch: %w", cfg.URL, err)
		}
	}
	s.Source = "remote: " + cfg.URL
	if cfg.Sanitize {
		s.Source += " (sanitized)"
	}
	// An h2c service's requests share a connection or two.
	shared := cfg.H2C || c.sharesConns()
	s.Render = c.render(t, rt, shared, bt, &c.fragment(cfg.Name, cfg.URL).stats, cfg.Sanitize, len(s.Includes) > 0)
	if err := composer.ValidateSpec(s); err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	return s, nil
}

// baseSpec returns the Spec of cfg before its Render: what it takes from
// the local fragment it replaces, if any, and from cfg.
func baseSpec(cfg Config) *composer.Spec {
	s := &composer.Spec{Name: cfg.Name, Version: "1", Defaults: composer.Settings{Timeout: DefaultTimeout}}
	if l := cfg.Local; l != nil {
		s.Doc = l.Doc
		s.Params = l.Params
		s.Defaults = l.Defaults
		s.Version = l.Version
		s.Includes = l.Includes
		s.MaxConcurrent = l.MaxConcurrent
		s.PerUser = l.PerUser
		s.Assets = l.Assets
		s.Example = l.Example
	}
	if cfg.Params != nil {
		s.Params = cfg.Params
	}
	if cfg.Includes != nil {
		s.Includes = cfg.Includes
	}
	s.Params = slices.Clone(s.Params)
	s.Includes = slices.Clone(s.Includes)
	// Its responses bring their lifetimes and assets: from the service's
	// own origin (and the site's paths, and the declared assets).
	s.OwnLifetime = true
	s.AssetOrigins = append([]string{composer.Origin(cfg.URL)}, cfg.AssetOrigins...)
	if s.Example != nil {
		if _, err := composer.NewParams(s, s.Example); err != nil {
			s.Example = nil
		}
	}
	if s.Doc == "" {
		s.Doc = "Remote fragment."
	}
	return s
}

// render returns the Render of a remote fragment: t expanded with the
// include's params, fetched through rt (shared: its requests may wait for
// each other's connections; in bt's batches when bt is not nil) and
// sanitized when clean is set (keeping include tags when includes is
// set), counted in fc.
func (c *Client) render(t *Template, rt http.RoundTripper, shared bool, bt *batcher, fc *counters, clean, includes bool) func(context.Context, composer.Params) (templ.Component, error) {
	return func(ctx context.Context, p composer.Params) (templ.Component, error) {
		fc.requests.Add(1)
		u, err := t.Expand(p)
		if err != nil {
			err = &Error{Host: "?", Kind: KindBadParams, Err: err}
			fc.count(err)
			return nil, err
		}
		fc.inFlight.Add(1)
		var raw *composer.Raw
		if bt != nil {
			raw, err = c.fetchBatched(ctx, bt, u)
		} else {
			raw, err = c.get(ctx, rt, shared, u)
		}
		fc.inFlight.Add(-1)
		if err != nil {
			fc.count(err)
			return nil, err
		}
		fc.ok.Add(1)
		if clean {
			raw.HTML = sanitize(raw.HTML, includes)
		}
		return raw, nil
	}
}
