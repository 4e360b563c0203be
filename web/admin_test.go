package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/config"
	"github.com/broadsheet/broadsheet/internal/redistest"
	"github.com/broadsheet/broadsheet/internal/wait"
	"github.com/broadsheet/broadsheet/metrics"
	"github.com/broadsheet/broadsheet/templates"
	"github.com/broadsheet/broadsheet/tuning"
	"github.com/broadsheet/broadsheet/web"
	"github.com/broadsheet/broadsheet/web/session"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientmodel "github.com/prometheus/client_model/go"
)

const token = "s3cret-token"

// slowLatency is how long the slow fragment takes; its default timeout is
// well above it, and the tests lower the timeout well below it.
const slowLatency = 300 * time.Millisecond

// tuneSpecs are the fragments of the tuning tests: slow, which sleeps
// (honouring its context), and echo, which validates a param.
func tuneSpecs() []*composer.Spec {
	return []*composer.Spec{
		{
			Name: "slow", Doc: "Sleeps, then says so.", Version: "1",
			Render: func(ctx context.Context, _ composer.Params) (templ.Component, error) {
				select {
				case <-time.After(slowLatency):
					return templ.Raw(`<p class="slow-done">slow done</p>`), nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			},
			Defaults: composer.Settings{Timeout: 5 * time.Second, Fallback: `<p class="slow-fallback">fallback</p>`},
		},
		{
			Name: "echo", Doc: "Echoes a word.", Version: "1",
			Params: []composer.ParamSpec{{Name: "word", Required: true, Pattern: "[a-z]{1,10}"}},
			Render: func(_ context.Context, p composer.Params) (templ.Component, error) {
				return templ.Raw(`<p class="echo">` + p.Get("word") + `</p>`), nil
			},
			Defaults: composer.Settings{Timeout: 5 * time.Second, Fresh: time.Minute},
			Example:  map[string]string{"word": "hello"},
		},
	}
}

const tuneYAML = `
site:
  budget: 10s
  explorer: public
fragments:
  slow:
    timeout: 4s
pages:
  - name: slow
    path: /slow
    layout: plain
    includes:
      - {fragment: slow, slot: main}
  - name: echo
    path: /echo/{word}
    layout: plain
    includes:
      - {fragment: echo, slot: main, params: {word: "{route.word}"}}
`

// instance is one composer with its web server, as package server wires it.
type instance struct {
	ts     *httptest.Server // public handler
	admin  *httptest.Server // AdminHandler, when separate
	srv    *web.Server
	comp   *composer.Composer
	obs    *metrics.Observer
	tuner  *tuning.Manager
	client redis.UniversalClient
}

type instanceOpts struct {
	token      string
	redis      *redistest.Server // nil: memory store, no shared tier
	separate   bool
	log        *slog.Logger // nil: discarded
	events     http.Handler // Options.Events
	now        func() time.Time
	ipHeader   string    // Options.ClientIPHeader
	readerKeys [2]string // Options.ReaderSecret, ReaderPrevious
	yaml       string    // the site; "": tuneYAML
	extra      []*composer.Spec
	clientRate float64 // Options.ClientRate, with a burst of as many
}

func newInstance(t *testing.T, o instanceOpts) *instance {
	t.Helper()
	reg := config.Registry{Specs: append(tuneSpecs(), o.extra...), Layouts: templates.Layouts(), Slots: templates.LayoutSlots()}
	if o.yaml == "" {
		o.yaml = tuneYAML
	}
	site, err := config.Parse("site.yaml", []byte(o.yaml), reg)
	if err != nil {
		t.Fatal(err)
	}
	log := o.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &instance{obs: metrics.New(site, metrics.Options{})}
	copts := composer.Options{Layouts: reg.Layouts, ErrorPage: templates.ErrorPage, Overlay: templates.DebugOverlay, Observer: in.obs, Logger: log}
	var store tuning.Store = &tuning.Memory{}
	var rs *redisstore.Store
	if o.redis != nil {
		in.client, err = redisstore.NewClient("redis://" + o.redis.Addr())
		if err != nil {
			t.Fatal(err)
		}
		rs = redisstore.New(in.client, redisstore.Options{Timeout: time.Second})
		copts.Store = rs
		store = tuning.NewRedis(in.client, log)
	}
	in.comp = composer.New(site, copts)
	wopts := web.Options{Logger: log, Stats: in.obs, AdminToken: o.token, SeparateAdmin: o.separate, Shared: rs != nil, Events: o.events,
		Now: o.now, ClientIPHeader: o.ipHeader, ClientRate: o.clientRate, ClientBurst: int(o.clientRate), ReaderSecret: []byte(o.readerKeys[0]), ReaderPrevious: []byte(o.readerKeys[1])}
	if rs != nil {
		wopts.Sessions = session.NewRedis(in.client)
	}
	var ss metrics.StoreStats
	if rs != nil {
		ss, wopts.Redis = rs, rs
	}
	mreg := newRegistry(t, in.obs, in.comp, ss)
	wopts.Metrics = promhttp.HandlerFor(mreg, promhttp.HandlerOpts{})
	in.tuner = tuning.NewManager(site, store, func(s *composer.Site) { in.srv.Reload(s) }, log)
	wopts.Tuner = in.tuner
	in.srv = web.NewWithOptions(in.comp, wopts)
	stop := in.tuner.Start(context.Background())
	in.srv.SetReady(true)
	in.ts = httptest.NewServer(in.srv)
	if o.separate {
		in.admin = httptest.NewServer(in.srv.AdminHandler())
	}
	t.Cleanup(func() {
		in.ts.Close()
		if in.admin != nil {
			in.admin.Close()
		}
		stop()
		in.comp.Close()
		if in.client != nil {
			in.client.Close()
		}
	})
	return in
}

// noRedirect is a client that returns redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func post(t *testing.T, target string, form url.Values, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func bearer() map[string]string { return map[string]string{"Authorization": "Bearer " + token} }

// settingOf reads one setting's value and origin from an explorer page.
func settingOf(t *testing.T, base, fragment, setting string) (value, origin string) {
	t.Helper()
	_, body := get(t, base+"/_/fragments/"+fragment)
	d := doc(t, body)
	d.Find(".bs-table--settings tbody tr").Each(func(_ int, s *goquery.Selection) {
		if s.Find("th").Text() == setting {
			value = s.Find("td").Eq(0).Text()
			origin = s.Find("td").Eq(1).Text()
		}
	})
	return value, origin
}

// TestTuningReachesOtherInstance changes a timeout on instance A's admin
// page; instance B, sharing A's Redis, must apply it within a second (and
// serve the slow fragment's fallback), then return to site.yaml on reset.
func TestTuningReachesOtherInstance(t *testing.T) {
	rs := redistest.Start(t)
	a := newInstance(t, instanceOpts{token: token, redis: rs})
	b := newInstance(t, instanceOpts{token: token, redis: rs})

	if v, o := settingOf(t, b.ts.URL, "slow", "timeout"); v != "4s" || o != "site.yaml" {
		t.Fatalf("before: B's slow timeout is %q from %q, want 4s from site.yaml", v, o)
	}
	res, body := post(t, a.ts.URL+"/_/admin/fragments/slow", url.Values{"timeout": {"20ms"}},
		map[string]string{"Authorization": "Bearer " + token, "X-Admin-User": "alice"})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST timeout on A: %d\n%s", res.StatusCode, body)
	}
	wait.For(t, "B to apply timeout 20ms", func() bool {
		v, o := settingOf(t, b.ts.URL, "slow", "timeout")
		return v == "20ms" && o == "live"
	})
	// Only the timeout changed: the fallback is still site.yaml's (code's).
	if v, o := settingOf(t, b.ts.URL, "slow", "fallback"); !strings.Contains(v, "slow-fallback") || o != "code" {
		t.Errorf("B's fallback changed: %q from %q", v, o)
	}
	_, page := get(t, b.ts.URL+"/slow")
	if d := doc(t, page); d.Find(".slow-fallback").Length() != 1 || d.Find(".slow-done").Length() != 0 {
		t.Errorf("B did not serve the fallback under a 20ms timeout:\n%s", page)
	}

	// The change log names who did what, on both instances.
	_, adminB := getWith(t, b.ts.URL+"/_/admin", bearer())
	row := doc(t, adminB).Find(".bs-table--changes tbody tr").First().Text()
	for _, want := range []string{"alice", "slow", "timeout", "4s", "20ms"} {
		if !strings.Contains(row, want) {
			t.Errorf("B's change log row %q lacks %q", row, want)
		}
	}

	res, body = post(t, b.ts.URL+"/_/admin/fragments/slow/reset", nil, bearer())
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST reset on B: %d\n%s", res.StatusCode, body)
	}
	wait.For(t, "A to return to site.yaml", func() bool {
		v, o := settingOf(t, a.ts.URL, "slow", "timeout")
		return v == "4s" && o == "site.yaml"
	})
	_, page = get(t, a.ts.URL+"/slow")
	if d := doc(t, page); d.Find(".slow-done").Length() != 1 {
		t.Errorf("A did not call the fragment after reset:\n%s", page)
	}
}

// TestKillSwitchAndPurge turns the kill switch on and off and purges,
// without Redis (overrides apply to the one instance).
func TestKillSwitchAndPurge(t *testing.T) {
	in := newInstance(t, instanceOpts{token: token})
	res, body := post(t, in.ts.URL+"/_/admin/fragments/slow", url.Values{"disabled": {"off", "on"}}, bearer())
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("kill switch: %d\n%s", res.StatusCode, body)
	}
	_, page := get(t, in.ts.URL+"/slow?debug=1")
	if o := doc(t, page).Find(`bs-frag[data-fragment="slow"]`).AttrOr("data-outcome", ""); o != "fallback" {
		t.Errorf("kill switch on: outcome %q, want fallback", o)
	}
	res, body = post(t, in.ts.URL+"/_/admin/fragments/slow/purge", nil, bearer())
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("purge: %d\n%s", res.StatusCode, body)
	}
	res, body = post(t, in.ts.URL+"/_/admin/fragments/slow", url.Values{"timeout": {"soon"}}, bearer())
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "is not a duration") {
		t.Errorf("bad duration: %d, want 400 naming the problem", res.StatusCode)
	}
	res, _ = post(t, in.ts.URL+"/_/admin/fragments/slow", url.Values{"timeout": {"-1s"}}, bearer())
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("negative timeout: %d, want 400", res.StatusCode)
	}
	_, admin := getWith(t, in.ts.URL+"/_/admin", bearer())
	log := doc(t, admin).Find(".bs-table--changes").Text()
	if !strings.Contains(log, "disabled") || !strings.Contains(log, "purge") {
		t.Errorf("change log lacks the kill switch or the purge:\n%s", log)
	}
}

// TestTuningAndCachedEntries: a change applies from the next call — a
// cached entry is served on, as the admin page and the explorer say — and
// "apply to cached entries" (purge=on) applies it to them in the same step.
func TestTuningAndCachedEntries(t *testing.T) {
	in := newInstance(t, instanceOpts{token: token})
	outcome := func() (string, string) {
		_, page := get(t, in.ts.URL+"/slow?debug=1")
		d := doc(t, page)
		return d.Find(`bs-frag[data-fragment="slow"]`).AttrOr("data-outcome", ""), d.Find(".slow-done, .slow-fallback").AttrOr("class", "")
	}
	change := func(form url.Values) {
		t.Helper()
		if res, body := post(t, in.ts.URL+"/_/admin/fragments/slow", form, bearer()); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %v: %d\n%s", form, res.StatusCode, body)
		}
	}

	change(url.Values{"fresh": {"1m"}})
	outcome() // a call, cached
	if o, got := outcome(); o != "hit" || got != "slow-done" {
		t.Fatalf("after one call: %s %s, want a hit", o, got)
	}
	for _, page := range []string{"/_/admin", "/_/fragments/slow"} {
		_, body := getWith(t, in.ts.URL+page, bearer())
		if note := doc(t, body).Find(".bs-cache-note").Text(); !strings.Contains(note, "up to 1m0s") || !strings.Contains(note, "keep their times") {
			t.Errorf("%s does not say what happens to cached entries: %q", page, note)
		}
	}

	// A timeout far below the fragment's latency: the cached entry is
	// still served.
	change(url.Values{"timeout": {"20ms"}})
	if o, got := outcome(); o != "hit" || got != "slow-done" {
		t.Errorf("after lowering the timeout alone: %s %s, want the cached entry (a hit)", o, got)
	}

	// The same step with purge=on: the change reaches the cached entry.
	change(url.Values{"timeout": {"10ms"}, "purge": {"on"}})
	if o, got := outcome(); got != "slow-fallback" {
		t.Errorf("after lowering the timeout with purge=on: %s %s, want the fallback", o, got)
	}
	_, admin := getWith(t, in.ts.URL+"/_/admin?changed=slow", bearer())
	if f := doc(t, admin).Find(".bs-flash").Text(); !strings.Contains(f, "timeout 20ms → 10ms") || !strings.Contains(f, "cache purged") {
		t.Errorf("feedback %q, want the timeout change and the purge as one action", f)
	}
}

func getWith(t *testing.T, target string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestAdminAuth(t *testing.T) {
	off := newInstance(t, instanceOpts{})
	on := newInstance(t, instanceOpts{token: token})
	sameOrigin := func(u string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + token, "Origin": u, "Sec-Fetch-Site": "same-origin"}
	}
	form := url.Values{"timeout": {"3s"}}
	for _, tc := range []struct {
		name   string
		base   string
		method string
		path   string
		hdr    map[string]string
		status int
	}{
		{"off GET", off.ts.URL, "GET", "/_/admin", bearer(), 404},
		{"off POST", off.ts.URL, "POST", "/_/admin/fragments/slow", bearer(), 404},
		{"no token GET", on.ts.URL, "GET", "/_/admin", nil, 401},
		{"no token POST", on.ts.URL, "POST", "/_/admin/fragments/slow", nil, 401},
		{"wrong token", on.ts.URL, "POST", "/_/admin/fragments/slow", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"wrong scheme", on.ts.URL, "GET", "/_/admin", map[string]string{"Authorization": "Basic " + token}, 401},
		{"cross-site POST", on.ts.URL, "POST", "/_/admin/fragments/slow", map[string]string{"Authorization": "Bearer " + token, "Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign Origin POST", on.ts.URL, "POST", "/_/admin/fragments/slow", map[string]string{"Authorization": "Bearer " + token, "Origin": "https://evil.example"}, 403},
		{"same-origin POST", on.ts.URL, "POST", "/_/admin/fragments/slow", sameOrigin(on.ts.URL), 303},
		{"token GET", on.ts.URL, "GET", "/_/admin", bearer(), 200},
		{"no pprof on public", on.ts.URL, "GET", "/debug/pprof/", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res *http.Response
			var body string
			if tc.method == "POST" {
				res, body = post(t, tc.base+tc.path, form, tc.hdr)
			} else {
				res, body = getWith(t, tc.base+tc.path, tc.hdr)
			}
			if res.StatusCode != tc.status {
				t.Fatalf("%s %s: %d, want %d\n%s", tc.method, tc.path, res.StatusCode, tc.status, body)
			}
		})
	}
}

// TestAdminLoginCookie signs in with the form: the cookie is HttpOnly,
// SameSite=Strict, never the token, and opens the admin page.
func TestAdminLoginCookie(t *testing.T) {
	in := newInstance(t, instanceOpts{token: token})
	res, _ := post(t, in.ts.URL+"/_/admin/login", url.Values{"token": {"wrong"}}, nil)
	if res.StatusCode != 401 || len(res.Cookies()) != 0 {
		t.Fatalf("wrong token login: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	res, _ = post(t, in.ts.URL+"/_/admin/login", url.Values{"token": {token}}, nil)
	if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) != 1 {
		t.Fatalf("login: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	c := res.Cookies()[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || strings.Contains(c.Value, token) {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, not the token", c)
	}
	res, body := getWith(t, in.ts.URL+"/_/admin", map[string]string{"Cookie": c.Name + "=" + c.Value})
	if res.StatusCode != 200 || doc(t, body).Find(".bs-admin__fragment").Length() != 2 {
		t.Errorf("admin page with the cookie: %d", res.StatusCode)
	}
}

// TestSeparateAdminListener: with an admin listener, the admin page,
// /metrics and pprof are there and not on the public handler.
func TestSeparateAdminListener(t *testing.T) {
	in := newInstance(t, instanceOpts{token: token, separate: true})
	for _, p := range []string{"/_/admin", "/metrics"} {
		if res, _ := getWith(t, in.ts.URL+p, bearer()); res.StatusCode != 404 {
			t.Errorf("public %s: %d, want 404", p, res.StatusCode)
		}
	}
	for _, p := range []string{"/_/admin", "/metrics", "/debug/pprof/"} {
		if res, _ := getWith(t, in.admin.URL+p, bearer()); res.StatusCode != 200 {
			t.Errorf("admin listener %s: %d, want 200", p, res.StatusCode)
		}
	}
}

func scrape(t *testing.T, u string) map[string]*dto {
	t.Helper()
	res, body := get(t, u+"/metrics")
	if res.StatusCode != 200 {
		t.Fatalf("/metrics: %d", res.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	_ = res
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// total sums a family's counter, gauge or histogram-count values whose
// labels include want.
func total(fams map[string]*dto, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	var sum float64
metric:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == k && l.GetValue() == v)
			}
			if !found {
				continue metric
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

func TestMetrics(t *testing.T) {
	rs := redistest.Start(t)
	in := newInstance(t, instanceOpts{redis: rs})
	before := scrape(t, in.ts.URL)
	for _, name := range []string{
		"broadsheet_include_duration_seconds", "broadsheet_page_duration_seconds", "broadsheet_cache_lookups_total",
		"broadsheet_redis_errors_total", "broadsheet_redis_breaker_state", "broadsheet_budget_overruns_total",
		"broadsheet_fragment_calls_in_flight", "broadsheet_fragment_panics_total", "go_goroutines",
	} {
		if before[name] == nil && !strings.HasSuffix(name, "_seconds") {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	for range 3 {
		get(t, in.ts.URL+"/echo/hello")
	}
	get(t, in.ts.URL+"/no/such/path/a1b2c3")
	after := scrape(t, in.ts.URL)
	for _, name := range []string{"broadsheet_include_duration_seconds", "broadsheet_page_duration_seconds"} {
		if after[name] == nil {
			t.Errorf("/metrics lacks %s after pages", name)
		}
	}
	if n := total(after, "broadsheet_page_duration_seconds", map[string]string{"page": "echo", "status": "200"}); n != 3 {
		t.Errorf("page echo 200 count %v, want 3", n)
	}
	if n := total(after, "broadsheet_include_duration_seconds", map[string]string{"fragment": "echo", "outcome": "miss"}); n != 1 {
		t.Errorf("echo misses %v, want 1", n)
	}
	if n := total(after, "broadsheet_include_duration_seconds", map[string]string{"fragment": "echo", "outcome": "hit"}); n != 2 {
		t.Errorf("echo hits %v, want 2", n)
	}
	if d := total(after, "broadsheet_cache_lookups_total", map[string]string{"tier": "l1", "result": "hit"}) -
		total(before, "broadsheet_cache_lookups_total", map[string]string{"tier": "l1", "result": "hit"}); d != 2 {
		t.Errorf("l1 hits moved by %v, want 2", d)
	}
	if d := total(after, "broadsheet_cache_lookups_total", map[string]string{"tier": "redis", "result": "miss"}) -
		total(before, "broadsheet_cache_lookups_total", map[string]string{"tier": "redis", "result": "miss"}); d < 1 {
		t.Errorf("redis misses moved by %v, want ≥ 1", d)
	}
	if v := total(after, "broadsheet_redis_breaker_state", nil); v != 0 {
		t.Errorf("breaker state %v, want 0 (closed)", v)
	}
	if total(after, "go_goroutines", nil) <= 0 {
		t.Errorf("go_goroutines missing")
	}
	// Raw paths are never label values.
	res, body := get(t, in.ts.URL+"/metrics")
	if res.StatusCode != 200 || strings.Contains(body, "a1b2c3") || strings.Contains(body, "hello") {
		t.Errorf("/metrics holds a raw path or param value")
	}
}

func TestRenderAlone(t *testing.T) {
	in := newInstance(t, instanceOpts{})
	for _, tc := range []struct {
		query  string
		status int
		want   string // selector that must match
		text   string
	}{
		{"", 400, ".bs-alert--invalid", `"word" is required`},
		{"?word=NOT-VALID", 400, ".bs-alert--invalid", `"word"`},
		{"?word=" + strings.Repeat("a", 500), 400, ".bs-alert--invalid", `"word"`},
		{"?word=hello&extra=1", 200, ".bs-render__source", `<p class="echo">hello</p>`},
	} {
		res, body := get(t, in.ts.URL+"/_/fragments/echo/render"+tc.query)
		if res.StatusCode != tc.status {
			t.Errorf("render%s: %d, want %d", tc.query, res.StatusCode, tc.status)
			continue
		}
		s := doc(t, body).Find(tc.want)
		if s.Length() != 1 || !strings.Contains(s.Text(), tc.text) {
			t.Errorf("render%s: %s is %q, want it to hold %q", tc.query, tc.want, s.Text(), tc.text)
		}
	}
	if res, _ := get(t, in.ts.URL+"/_/fragments/nope"); res.StatusCode != 404 {
		t.Errorf("unknown fragment: %d, want 404", res.StatusCode)
	}
	// After a page, the explorer shows figures and a suggested timeout.
	get(t, in.ts.URL+"/echo/word")
	_, body := get(t, in.ts.URL+"/_/fragments/echo")
	// The echo's call takes microseconds, so the suggestion is the 10ms
	// floor — unless a busy machine made it slower: any duration at or
	// above the floor will do.
	if s := doc(t, body).Find(".bs-suggested"); s.Length() != 1 || func() bool { d, err := time.ParseDuration(s.Text()); return err != nil || d < 10*time.Millisecond }() {
		t.Errorf("suggested timeout %q, want 10ms (the floor) or more", s.Text())
	}
	_, body = get(t, in.ts.URL+"/_/fragments")
	if st := doc(t, body).Find("#f-echo .bs-bar__fill").AttrOr("style", ""); !strings.HasPrefix(st, "width: ") || !strings.Contains(st, "%") {
		t.Errorf("index: p99 bar of echo has style %q, want a width in %%", st)
	}
}

type dto = clientmodel.MetricFamily

func newRegistry(t *testing.T, obs *metrics.Observer, comp *composer.Composer, ss metrics.StoreStats) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := obs.Register(reg, comp, ss); err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestAdminFailHold sets fail_hold from the admin form: 0s turns the hold
// off in the live site (as in site.yaml), a value is put in force as such,
// and bad values are a 400 that says what is wrong, changing nothing.
func TestAdminFailHold(t *testing.T) {
	in := newInstance(t, instanceOpts{token: token})
	// The form shows the effective hold, the default's (off) while unset,
	// with a hint.
	_, admin := getWith(t, in.ts.URL+"/_/admin", bearer())
	field := doc(t, admin).Find(`#f-slow input[name=fail_hold]`)
	if v := field.AttrOr("value", "(none)"); v != "0s" || !strings.Contains(field.Parent().Text(), "0s: off") {
		t.Errorf("fail_hold field before: value %q, text %q; want 0s and the hint 0s: off", v, field.Parent().Text())
	}
	hold := func() (time.Duration, string) {
		f := in.comp.Site().Fragments["slow"]
		return f.Settings.FailHold, f.Origin["fail_hold"]
	}
	for _, tc := range []struct {
		value, logNew string
		want          time.Duration
		origin        string
	}{
		{" 2s ", "2s", 2 * time.Second, "live"},
		// Back to the default (off): the override goes, the change is logged.
		{"0s", "0s", 0, ""},
		{"3s", "3s", 3 * time.Second, "live"},
	} {
		res, body := post(t, in.ts.URL+"/_/admin/fragments/slow", url.Values{"fail_hold": {tc.value}}, bearer())
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("fail_hold %q: %d\n%s", tc.value, res.StatusCode, body)
		}
		if h, o := hold(); h != tc.want || o != tc.origin {
			t.Errorf("fail_hold %q: live FailHold %v from %q, want %v from %q", tc.value, h, o, tc.want, tc.origin)
		}
		_, admin := getWith(t, in.ts.URL+"/_/admin", bearer())
		d := doc(t, admin)
		row := d.Find(".bs-table--changes tbody tr").First().Find("td")
		if row.Eq(3).Text() != "fail_hold" || row.Eq(5).Text() != tc.logNew {
			t.Errorf("fail_hold %q: change log row %q", tc.value, row.Text())
		}
		if v := d.Find(`#f-slow input[name=fail_hold]`).AttrOr("value", "(none)"); v != tc.logNew {
			t.Errorf("fail_hold %q: the input shows %q", tc.value, v)
		}
		// The explorer shows the hold in force and where it came from.
		wantOrigin := tc.origin
		if wantOrigin == "" {
			wantOrigin = "code"
		}
		if v, o := settingOf(t, in.ts.URL, "slow", "fail_hold"); v != tc.logNew || o != wantOrigin {
			t.Errorf("fail_hold %q: the explorer shows %q from %q, want %q from %q", tc.value, v, o, tc.logNew, wantOrigin)
		}
	}
	for _, tc := range []struct{ value, want string }{
		{"soon", `fail_hold: "soon" is not a duration`},
		{"-1s", "fail_hold: -1s is negative (0s turns the hold off)"},
		{"6m", "fail_hold must be at most 5m0s, got 6m0s"},
	} {
		res, body := post(t, in.ts.URL+"/_/admin/fragments/slow", url.Values{"fail_hold": {tc.value}}, bearer())
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("fail_hold %q: %d, want 400", tc.value, res.StatusCode)
		}
		if msg := doc(t, body).Find(".bs-alert[role=alert]").Text(); !strings.Contains(msg, tc.want) {
			t.Errorf("fail_hold %q: message %q, want it to contain %q", tc.value, msg, tc.want)
		}
		if h, _ := hold(); h != 3*time.Second {
			t.Errorf("fail_hold %q changed the live hold to %v", tc.value, h)
		}
	}
}
