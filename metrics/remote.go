package metrics

import (
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/broadsheet/broadsheet/remote"
)

// RemoteStats is what the metrics read from the remote fragments' client;
// *remote.Client satisfies it.
type RemoteStats interface {
	Stats() []remote.HostStats
	FragmentStats() []remote.FragmentStats
}

var (
	remoteRequestsDesc = prometheus.NewDesc("broadsheet_remote_host_requests_total",
		"Remote fragment requests by host (scheme://host:port from site.yaml), batched or not.", []string{"host"}, nil)
	remoteBatchesDesc = prometheus.NewDesc("broadsheet_remote_host_batches_total",
		"Batch requests by remote host (each of many fragment requests).", []string{"host"}, nil)
	remoteErrorsDesc = prometheus.NewDesc("broadsheet_remote_host_errors_total",
		"Failed remote fragment requests by host and kind (network, timeout, status, redirect, oversized, invalid_utf8, breaker_open, bad_params, queued, encoded, not_html).", []string{"host", "kind"}, nil)
	remoteInFlightDesc = prometheus.NewDesc("broadsheet_remote_host_in_flight",
		"Remote fragment requests in flight by host.", []string{"host"}, nil)
	remoteBreakerDesc = prometheus.NewDesc("broadsheet_remote_host_breaker_state",
		"A remote host's circuit breaker: 0 closed, 1 half-open, 2 open.", []string{"host"}, nil)
	remoteFragmentRequestsDesc = prometheus.NewDesc("broadsheet_remote_fragment_requests_total",
		"Requests of each remote fragment, wherever it was fetched from.", []string{"fragment"}, nil)
	remoteFragmentErrorsDesc = prometheus.NewDesc("broadsheet_remote_fragment_errors_total",
		"Failed requests of each remote fragment by kind: a fragment's timeouts are its own, and move no host's breaker.", []string{"fragment", "kind"}, nil)
	remoteFragmentInFlightDesc = prometheus.NewDesc("broadsheet_remote_fragment_in_flight",
		"Requests of each remote fragment in flight.", []string{"fragment"}, nil)
	remoteFragmentHostDesc = prometheus.NewDesc("broadsheet_remote_fragment_host",
		"Always 1: the remote fragment is served by the host (as last configured), whose breaker it shares: join on host for a fragment's breaker state.", []string{"fragment", "host"}, nil)
)

// RemoteCollector returns a collector that reads rs at scrape time: per
// remote host its requests, batches, errors by kind, requests in flight
// and breaker state; per remote fragment its requests, errors by kind,
// requests in flight and its host. Label values are hosts and fragment
// names from the configuration only.
func RemoteCollector(rs RemoteStats) prometheus.Collector { return remoteCollector{rs} }

type remoteCollector struct{ rs RemoteStats }

func (c remoteCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{remoteRequestsDesc, remoteBatchesDesc, remoteErrorsDesc, remoteInFlightDesc, remoteBreakerDesc,
		remoteFragmentRequestsDesc, remoteFragmentErrorsDesc, remoteFragmentInFlightDesc, remoteFragmentHostDesc} {
		ch <- d
	}
}

func (c remoteCollector) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.rs.Stats() {
		ch <- prometheus.MustNewConstMetric(remoteRequestsDesc, prometheus.CounterValue, float64(h.Requests), h.Host)
		ch <- prometheus.MustNewConstMetric(remoteBatchesDesc, prometheus.CounterValue, float64(h.Batches), h.Host)
		for kind, n := range h.Errors {
			ch <- prometheus.MustNewConstMetric(remoteErrorsDesc, prometheus.CounterValue, float64(n), h.Host, kind)
		}
		ch <- prometheus.MustNewConstMetric(remoteInFlightDesc, prometheus.GaugeValue, float64(h.InFlight), h.Host)
		ch <- prometheus.MustNewConstMetric(remoteBreakerDesc, prometheus.GaugeValue, breakerValue(h.Breaker), h.Host)
	}
	for _, f := range c.rs.FragmentStats() {
		ch <- prometheus.MustNewConstMetric(remoteFragmentRequestsDesc, prometheus.CounterValue, float64(f.Requests), f.Fragment)
		for kind, n := range f.Errors {
			ch <- prometheus.MustNewConstMetric(remoteFragmentErrorsDesc, prometheus.CounterValue, float64(n), f.Fragment, kind)
		}
		ch <- prometheus.MustNewConstMetric(remoteFragmentInFlightDesc, prometheus.GaugeValue, float64(f.InFlight), f.Fragment)
		if h := templateHost(f.URL); h != "" {
			ch <- prometheus.MustNewConstMetric(remoteFragmentHostDesc, prometheus.GaugeValue, 1, f.Fragment, h)
		}
	}
}

// templateHost is the scheme://host:port of a remote fragment's URL
// template, as remote.HostStats names it: they are literal in a template
// (remote.ParseTemplate refuses placeholders there).
func templateHost(tmpl string) string {
	scheme, rest, ok := strings.Cut(tmpl, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
