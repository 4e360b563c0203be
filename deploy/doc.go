// Package deploy holds what runs Broadsheet beside other services — the
// Kubernetes base (kubernetes/), Prometheus alert rules and the compose
// profile's configuration (prometheus/), the Grafana dashboard (grafana/),
// nginx for the scale-out profile — and the tests that keep them true to
// the binaries: deploy_test.go builds the composer, checks the manifests'
// flags and probes, and runs a real Prometheus scraping a composer under
// load, requiring every dashboard query and alert expression to return
// series.
package deploy
