package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/remote"
)

// TestRemoteCollector exports a real remote.Client's figures: two
// fragments declared at one host, one request of the first that succeeded
// and one that got a 500, each counted under its host and its fragment by
// kind, the host's breaker closed, both fragments named with their host.
func TestRemoteCollector(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("id") == "bad" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("<p>ok</p>"))
	}))
	defer srv.Close()
	c := remote.New(remote.Options{})
	defer c.Close()
	params := []composer.ParamSpec{{Name: "id", Pattern: `[a-z]+`, MaxLen: 8}}
	var specs []*composer.Spec
	for _, name := range []string{"alpha", "beta"} {
		s, err := c.Spec(remote.Config{Name: name, URL: srv.URL + "/" + name + "?id={id}", Params: params})
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, s)
	}
	for _, id := range []string{"good", "bad"} {
		p, err := composer.NewParams(specs[0], map[string]string{"id": id})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = specs[0].Render(context.Background(), p)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(RemoteCollector(c))
	host := srv.URL
	want := `
# HELP broadsheet_remote_fragment_host Always 1: the remote fragment is served by the host (as last configured), whose breaker it shares: join on host for a fragment's breaker state.
# TYPE broadsheet_remote_fragment_host gauge
broadsheet_remote_fragment_host{fragment="alpha",host="HOST"} 1
broadsheet_remote_fragment_host{fragment="beta",host="HOST"} 1
# HELP broadsheet_remote_fragment_requests_total Requests of each remote fragment, wherever it was fetched from.
# TYPE broadsheet_remote_fragment_requests_total counter
broadsheet_remote_fragment_requests_total{fragment="alpha"} 2
broadsheet_remote_fragment_requests_total{fragment="beta"} 0
# HELP broadsheet_remote_host_breaker_state A remote host's circuit breaker: 0 closed, 1 half-open, 2 open.
# TYPE broadsheet_remote_host_breaker_state gauge
broadsheet_remote_host_breaker_state{host="HOST"} 0
# HELP broadsheet_remote_host_in_flight Remote fragment requests in flight by host.
# TYPE broadsheet_remote_host_in_flight gauge
broadsheet_remote_host_in_flight{host="HOST"} 0
# HELP broadsheet_remote_host_requests_total Remote fragment requests by host (scheme://host:port from site.yaml), batched or not.
# TYPE broadsheet_remote_host_requests_total counter
broadsheet_remote_host_requests_total{host="HOST"} 2
`
	want = strings.ReplaceAll(want, "HOST", host)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "broadsheet_remote_fragment_host", "broadsheet_remote_fragment_requests_total",
		"broadsheet_remote_host_breaker_state", "broadsheet_remote_host_in_flight", "broadsheet_remote_host_requests_total"); err != nil {
		t.Error(err)
	}
	if got := counterValue(t, reg, "broadsheet_remote_fragment_errors_total", `kind="status"`); got != 1 {
		t.Errorf("alpha's errors of kind status: %v, want 1", got)
	}
	if got := counterValue(t, reg, "broadsheet_remote_host_errors_total", `kind="status"`); got != 1 {
		t.Errorf("errors of kind status: %v, want 1", got)
	}
	if n := testutil.CollectAndCount(RemoteCollector(c), "broadsheet_remote_host_errors_total"); n != len(remote.Kinds()) {
		t.Errorf("%d error series, want one per kind (%d)", n, len(remote.Kinds()))
	}
}

// counterValue is the value of the counter name whose labels include
// label.
func counterValue(t *testing.T, g prometheus.Gatherer, name, label string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName()+`="`+l.GetValue()+`"` == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return 0
}
